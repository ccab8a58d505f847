package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/sim"
)

// The endpoints themselves are tested in internal/api with fakes; these tests check what
// Main gives the API: its store, controller, token, loops and AWS adapters.

// t0 is the test clock's time: a Sunday, 02:00 UTC.
var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

const testToken = "s3cret-t0ken"

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "deskpilot.db"), store.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// answer is a response read in full.
type answer struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, srv *httptest.Server, method, path string, header map[string]string, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// wantError checks that a is the JSON error {"error": {"code", "message"}} with the status
// and code, and returns its message.
func wantError(t *testing.T, a answer, status int, code string) string {
	t.Helper()
	if a.code != status {
		t.Errorf("status %d, want %d (body %q)", a.code, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, a.body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("body %q, want {\"error\": {\"code\": %q, \"message\": ...}}", a.body, code)
	}
	return e.Error.Message
}

func bearerHeader(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func pendingRollout(t *testing.T, st *store.Store, image string, fleets ...string) rollout.Rollout {
	t.Helper()
	r := rollout.Rollout{Account: "123456789012", Region: "us-east-1", ImageName: image, ImageARN: "arn:aws:appstream:us-east-1:123456789012:image/" + image,
		FleetTag: strings.Join(fleets, "/"), State: rollout.Pending, Start: t0.Add(time.Hour), Waves: 1, Wave: 1}
	for _, f := range fleets {
		r.Steps = append(r.Steps, rollout.Step{Fleet: f, State: rollout.StepWaiting, WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(2 * time.Hour), NextAt: t0.Add(time.Hour), Wave: 1})
	}
	if err := st.Apply(t.Context(), &rollout.Change{Create: &r}); err != nil {
		t.Fatal(err)
	}
	return r
}

// Main.handler gives the API the daemon's store, controller and token; with rollouts off,
// requests conflict and fleets are not read.
func TestMain_handler(t *testing.T) {
	cfg := config.Default()
	cfg.Server.Token = testToken
	st := openStore(t)
	logger := slog.New(slog.DiscardHandler)
	now := func() time.Time { return t0 }

	t.Run("rollouts off", func(t *testing.T) {
		m := &Main{Config: cfg, Store: st, Now: now, Logger: logger}
		srv := httptest.NewServer(m.handler())
		defer srv.Close()
		for _, path := range []string{"/api/v1/rollouts/1/approve", "/api/v1/plan"} {
			msg := wantError(t, do(t, srv, "POST", path, bearerHeader(testToken), `{"image": "i", "fleets": "f"}`), http.StatusConflict, "conflict")
			if !strings.Contains(msg, "rollouts.enabled") {
				t.Errorf("POST %s: message %q does not name rollouts.enabled", path, msg)
			}
		}
		wantError(t, do(t, srv, "GET", "/api/v1/fleets", nil, ""), http.StatusConflict, "conflict")
	})
	t.Run("no token", func(t *testing.T) {
		cfg := cfg
		cfg.Server.Token = ""
		ctl := rollout.New(rolloutConfig(cfg, nil, nil), nil, nil, st, now, logger)
		m := &Main{Config: cfg, Store: st, Now: now, Logger: logger, Rollouts: ctl}
		srv := httptest.NewServer(m.handler())
		defer srv.Close()
		msg := wantError(t, do(t, srv, "POST", "/api/v1/rollouts/1/cancel", bearerHeader(testToken), ""), http.StatusForbidden, "forbidden")
		if !strings.Contains(msg, "server.token") || !strings.Contains(msg, "DESKPILOT_TOKEN") {
			t.Errorf("message %q does not say how to set a token", msg)
		}
	})
	t.Run("the controller", func(t *testing.T) {
		ctl := rollout.New(rolloutConfig(cfg, nil, nil), nil, nil, st, now, logger)
		m := &Main{Config: cfg, Store: st, Now: now, Logger: logger, Rollouts: ctl}
		srv := httptest.NewServer(m.handler())
		defer srv.Close()
		wantError(t, do(t, srv, "POST", "/api/v1/rollouts/999/approve", nil, ""), http.StatusUnauthorized, "unauthorized")
		wantError(t, do(t, srv, "POST", "/api/v1/rollouts/999/approve", bearerHeader("wrong"), ""), http.StatusUnauthorized, "unauthorized")
		if msg := wantError(t, do(t, srv, "POST", "/api/v1/rollouts/999/approve", bearerHeader(testToken), ""), http.StatusNotFound, "not_found"); msg != "rollout 999 does not exist" {
			t.Errorf("message %q", msg)
		}
		// A rollout without Approval=Manual that has not halted has nothing to approve.
		r := pendingRollout(t, st, "desktop-2026-12", "finance")
		path := fmt.Sprintf("/api/v1/rollouts/%d", r.ID)
		wantError(t, do(t, srv, "POST", path+"/approve", bearerHeader(testToken), ""), http.StatusConflict, "conflict")
		// Cancelling it works once, with the user recorded; a second time it has ended.
		h := bearerHeader(testToken)
		h[api.UserHeader] = "alice"
		a := do(t, srv, "POST", path+"/cancel", h, "")
		var got api.RolloutDetail
		if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.code != http.StatusOK {
			t.Fatalf("cancel: %d %s", a.code, a.body)
		}
		if got.Rollout.State != "cancelled" || len(got.Waves) != 1 || len(got.Events) == 0 || !strings.Contains(got.Rollout.Reason, "api:alice") {
			t.Errorf("cancel answered %+v", got)
		}
		before := do(t, srv, "GET", path, nil, "").body
		msg := wantError(t, do(t, srv, "POST", path+"/cancel", bearerHeader(testToken), ""), http.StatusConflict, "conflict")
		if !strings.Contains(msg, "has ended (cancelled)") || strings.HasPrefix(msg, "conflict") {
			t.Errorf("second cancel: message %q", msg)
		}
		if after := do(t, srv, "GET", path, nil, "").body; after != before {
			t.Errorf("a refused cancel changed the rollout:\n%s\n%s", before, after)
		}
		// The read endpoints need no token.
		for _, p := range []string{"/api/v1/rollouts", path, "/api/v1/saved-capacity", "/api/v1/resets", "/api/v1/resets/pending", "/healthz", "/readyz"} {
			if a := do(t, srv, "GET", p, nil, ""); a.code != http.StatusOK {
				t.Errorf("GET %s: %d (body %q)", p, a.code, a.body)
			}
		}
	})
	t.Run("paths", func(t *testing.T) {
		m := &Main{Config: cfg, Store: st, Now: now, Logger: logger}
		srv := httptest.NewServer(m.handler())
		defer srv.Close()
		wantError(t, do(t, srv, "GET", "/api/v1/nope", nil, ""), http.StatusNotFound, "not_found")
		wantError(t, do(t, srv, "DELETE", "/api/v1/rollouts", nil, ""), http.StatusMethodNotAllowed, "method_not_allowed")
		// Outside the API the mux answers as usual, and a path to clean is still redirected.
		if a := do(t, srv, "GET", "/nope", nil, ""); a.code != http.StatusNotFound || strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET /nope: %d %q", a.code, a.header.Get("Content-Type"))
		}
		if a := do(t, srv, "GET", "/api//v1/rollouts", nil, ""); a.code != http.StatusOK {
			t.Errorf("GET /api//v1/rollouts: %d (body %q), want the redirect followed to 200", a.code, a.body)
		}
	})
}

// simMain is a daemon opened on the emulator (without its own listener or loops running),
// rollouts in the Berlin window, and the emulator.
func simMain(t *testing.T, seed sim.Seed) (*Main, *sim.Sim, *httptest.Server) {
	t.Helper()
	clock := sim.NewManualClock(t0)
	s := sim.New(sim.Options{Clock: clock})
	if err := s.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	awsSrv := httptest.NewServer(s)
	t.Cleanup(awsSrv.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, `
aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: "", token: %q}
rollouts:
  window: "sun:04:00-sun:07:00 Europe/Berlin"
  fleet_windows: {fleet-c: "sat:22:00-sun:01:00 America/New_York"}
  start_margin: 15m
`, awsSrv.URL, filepath.Join(t.TempDir(), "deskpilot.db"), testToken))
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Now: clock.Now,
		AWSOptions: []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))}}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv := httptest.NewServer(m.handler())
	t.Cleanup(srv.Close)
	return m, s, srv
}

var planEstate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}, {Name: "img-new", State: "PENDING"}},
	Fleets: []sim.SeedFleet{
		{Name: "fleet-a", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 6}},
		{Name: "fleet-b", ImageName: "img-1", DesiredInstances: 1, Tags: map[string]string{"MaintenanceWindow": "sun:01:00-sun:03:00 Asia/Tokyo"}},
		{Name: "fleet-c", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}},
		{Name: "web-1", ImageName: "img-1", DesiredInstances: 1},
		{Name: "web-2", ImageName: "img-1", DesiredInstances: 1},
		{Name: "elastic", FleetType: "ELASTIC", Platform: "WINDOWS_SERVER_2022"},
	},
}

// The plan is the scan's own planning, read from AWS and the store, with nothing changed.
func TestMain_plan(t *testing.T) {
	m, s, srv := simMain(t, planEstate)
	other := pendingRollout(t, m.Store, "img-1", "fleet-a", "web-1")
	plan := func(t *testing.T, body string) (api.PlanResult, answer) {
		t.Helper()
		a := do(t, srv, "POST", "/api/v1/plan", nil, body)
		var res api.PlanResult
		if a.code == http.StatusOK {
			if err := json.Unmarshal([]byte(a.body), &res); err != nil {
				t.Fatal(err)
			}
		}
		return res, a
	}
	type step struct {
		Fleet       string
		Wave        int
		Start, Zone string
		Local       string
		Drain       bool
	}
	steps := func(res api.PlanResult) []step {
		var out []step
		for _, s := range res.Steps {
			out = append(out, step{s.Fleet, s.Wave, s.WindowStart.Format(time.RFC3339), s.Zone, s.WindowStartLocal, s.Drain})
		}
		return out
	}

	t.Run("three fleets, drained, in their zones", func(t *testing.T) {
		res, a := plan(t, `{"image": "img-2", "fleets": "fleet-a/fleet-b/fleet-c", "scale_immediately": true}`)
		if a.code != http.StatusOK || res.Refused {
			t.Fatalf("%d %s", a.code, a.body)
		}
		want := []step{
			// 04:00 Berlin (CET, UTC+1) on Sunday 1 March is 03:00 UTC, more than the margin away.
			{"fleet-a", 1, "2026-03-01T03:00:00Z", "Europe/Berlin", "2026-03-01T04:00:00+01:00", true},
			// The fleet's tag wins: 01:00-03:00 Tokyo on Sunday has passed (Sat 16:00-18:00 UTC); next week.
			{"fleet-b", 1, "2026-03-07T16:00:00Z", "Asia/Tokyo", "2026-03-08T01:00:00+09:00", false},
			// Its config window: Saturday 22:00 in New York (EST, UTC-5) is Sunday 03:00 UTC.
			{"fleet-c", 1, "2026-03-01T03:00:00Z", "America/New_York", "2026-02-28T22:00:00-05:00", true},
		}
		if diff := cmp.Diff(want, steps(res)); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		if res.Start == nil || !res.Start.Equal(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)) {
			t.Errorf("start %v", res.Start)
		}
		if diff := cmp.Diff(map[string]string{"FleetName": "fleet-a/fleet-b/fleet-c", "ScaleImmediately": "True"}, res.Tags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
		if len(res.Waves) != 1 || len(res.Waves[0].Fleets) != 3 {
			t.Errorf("waves %+v", res.Waves)
		}
		if diff := cmp.Diff([]int64{other.ID}, res.Supersedes); diff != "" {
			t.Errorf("supersedes (-want +got):\n%s", diff)
		}
		if res.Image.Name != "img-2" || res.Image.State != "AVAILABLE" || !strings.HasSuffix(res.Image.ARN, ":image/img-2") {
			t.Errorf("image %+v", res.Image)
		}
	})
	t.Run("a canary and waves, by prefix", func(t *testing.T) {
		res, a := plan(t, `{"image": "img-new", "fleets": "fleet-a/prefix:web-", "canary": "fleet-a", "waves": 1, "approval": "Manual"}`)
		if a.code != http.StatusOK || res.Refused {
			t.Fatalf("%d %s", a.code, a.body)
		}
		var waves []string
		for _, w := range res.Waves {
			waves = append(waves, fmt.Sprint(w.Wave, w.Canary, w.Fleets))
		}
		if diff := cmp.Diff([]string{"1 true [fleet-a]", "2 false [web-1]", "3 false [web-2]"}, waves); diff != "" {
			t.Errorf("waves (-want +got):\n%s", diff)
		}
		if res.Tags["Approval"] != "Manual" || res.Tags["Waves"] != "1" || res.Tags["Canary"] != "fleet-a" {
			t.Errorf("tags %v", res.Tags)
		}
		if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "PENDING") {
			t.Errorf("notes %q, want one about the image not being AVAILABLE", res.Notes)
		}
	})
	t.Run("refused with every reason", func(t *testing.T) {
		res, a := plan(t, `{"image": "img-2", "fleets": "fleet-a/nope/elastic"}`)
		if a.code != http.StatusOK || !res.Refused {
			t.Fatalf("%d %s", a.code, a.body)
		}
		if len(res.Reasons) != 2 || !strings.Contains(res.Reasons[0], `"nope" does not exist`) || !strings.Contains(res.Reasons[1], "ELASTIC") {
			t.Errorf("reasons %q", res.Reasons)
		}
		if len(res.Steps) != 0 || res.Start != nil {
			t.Errorf("a refusal has steps %+v, start %v", res.Steps, res.Start)
		}
		res, _ = plan(t, `{"image": "img-2", "fleets": "fleet-a", "approval": "Maybe"}`)
		if !res.Refused || len(res.Reasons) != 1 || !strings.Contains(res.Reasons[0], "Approval") {
			t.Errorf("bad approval: %+v", res)
		}
	})
	t.Run("an unknown image", func(t *testing.T) {
		_, a := plan(t, `{"image": "img-9", "fleets": "fleet-a"}`)
		if msg := wantError(t, a, http.StatusNotFound, "not_found"); !strings.Contains(msg, `image "img-9" does not exist`) {
			t.Errorf("message %q", msg)
		}
	})
	// Nothing changed: no rollout planned, no tag written, no fleet touched.
	rs, err := m.Store.Rollouts(t.Context(), 0)
	if err != nil || len(rs) != 1 {
		t.Errorf("the store holds %d rollouts (%v), want only the one the test made", len(rs), err)
	}
	for k, n := range s.Calls().Counts {
		for _, op := range []string{"TagResource", "UntagResource", "UpdateFleet", "RegisterScalableTarget"} {
			if strings.HasSuffix(k, "."+op) && n > 0 {
				t.Errorf("the plan made %d %s calls", n, k)
			}
		}
	}
}

// Fleets come from AWS with their targets and the rollout holding them; readiness checks the
// store, each loop and AWS.
func TestMain_fleetsAndReadiness(t *testing.T) {
	m, _, srv := simMain(t, planEstate)
	r := pendingRollout(t, m.Store, "img-2", "fleet-c")
	var list api.FleetList
	if a := do(t, srv, "GET", "/api/v1/fleets", nil, ""); a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &list) != nil {
		t.Fatalf("%d %s", a.code, a.body)
	}
	byName := map[string]api.Fleet{}
	for _, f := range list.Fleets {
		byName[f.Name] = f
	}
	if f := byName["fleet-a"]; len(list.Fleets) != 6 || f.Image.Name != "img-1" || f.ScalableTarget == nil || *f.ScalableTarget != (api.Bounds{Min: 2, Max: 6}) || f.Rollout != nil {
		t.Errorf("fleet-a %+v (of %d)", f, len(list.Fleets))
	}
	if f := byName["fleet-c"]; f.Rollout == nil || f.Rollout.ID != r.ID || f.Rollout.State != "pending" {
		t.Errorf("fleet-c %+v, want held by rollout %d", f, r.ID)
	}
	if f := byName["web-1"]; f.ScalableTarget != nil {
		t.Errorf("web-1 has target %+v", f.ScalableTarget)
	}

	readiness := func() (int, api.Readiness) {
		a := do(t, srv, "GET", "/readyz", nil, "")
		var rd api.Readiness
		if err := json.Unmarshal([]byte(a.body), &rd); err != nil {
			t.Fatal(err)
		}
		return a.code, rd
	}
	code, rd := readiness()
	if code != http.StatusServiceUnavailable || rd.Ready {
		t.Errorf("before any pass: %d %+v, want not ready", code, rd)
	}
	if _, err := m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, rd = readiness()
	var names []string
	for _, c := range rd.Checks {
		names = append(names, c.Name)
		if !c.OK {
			t.Errorf("check %+v failed", c)
		}
	}
	if code != http.StatusOK || !rd.Ready {
		t.Errorf("after a pass: %d %+v", code, rd)
	}
	if diff := cmp.Diff([]string{"store", "loop scan", "loop rollouts", "loop outbox", "loop housekeeping", "aws"}, names); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestCachedCheck(t *testing.T) {
	now := t0
	calls := 0
	check := cachedCheck(15*time.Second, func() time.Time { return now }, func(context.Context) error {
		calls++
		return fmt.Errorf("call %d", calls)
	})
	ctx := t.Context()
	if err := check(ctx); err == nil || err.Error() != "call 1" {
		t.Fatalf("first: %v", err)
	}
	now = now.Add(14 * time.Second)
	if err := check(ctx); err.Error() != "call 1" {
		t.Errorf("within the TTL: %v, want the first answer again", err)
	}
	now = now.Add(2 * time.Second)
	if err := check(ctx); err.Error() != "call 2" {
		t.Errorf("after the TTL: %v", err)
	}
	// An answer cut short by a cancelled request is not kept.
	now = now.Add(time.Minute)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = check(cancelled)
	if err := check(ctx); err.Error() != "call 4" || calls != 4 {
		t.Errorf("after a cancelled check: %v (%d calls), want a new call", err, calls)
	}
}

// rolloutConfig maps every key of progressive rollouts, and the tag keys' defaults are the
// controller's.
func TestRolloutConfig(t *testing.T) {
	def := rolloutConfig(config.Default(), nil, nil)
	if def.Keys != rollout.DefaultTagKeys() {
		t.Errorf("default keys %+v, want rollout.DefaultTagKeys() %+v", def.Keys, rollout.DefaultTagKeys())
	}
	wantDef := rollout.WaveSettings{Size: 0, CanaryBake: rollout.DefaultCanaryBake, Bake: 0, HealthTimeout: rollout.DefaultHealthTimeout}
	if def.Waves != wantDef {
		t.Errorf("default waves %+v, want %+v", def.Waves, wantDef)
	}
	if def.Health != nil {
		t.Errorf("Health = %v without check_url, want nil", def.Health)
	}

	cfg := config.Default()
	cfg.Rollouts.Waves = config.Waves{Size: 3, CanaryBake: config.Duration{Duration: time.Hour}, Bake: config.Duration{Duration: 5 * time.Minute}}
	cfg.Rollouts.Health = config.Health{Timeout: config.Duration{Duration: 45 * time.Minute}, CheckURL: "https://health.example.com/check"}
	cfg.Rollouts.Rollback = config.RollbackOff
	cfg.Rollouts.Tags.Canary, cfg.Rollouts.Tags.Waves = "dp:canary", "dp:waves"
	cfg.Rollouts.Tags.Approval, cfg.Rollouts.Tags.Approve = "dp:approval", "dp:approve"
	client := &http.Client{}
	rc := rolloutConfig(cfg, nil, client)
	want := rollout.WaveSettings{Size: 3, CanaryBake: time.Hour, Bake: 5 * time.Minute, HealthTimeout: 45 * time.Minute,
		CheckURL: "https://health.example.com/check", NoRollback: true}
	if rc.Waves != want {
		t.Errorf("waves %+v, want %+v", rc.Waves, want)
	}
	k := rc.Keys
	if k.Canary != "dp:canary" || k.Waves != "dp:waves" || k.Approval != "dp:approval" || k.Approve != "dp:approve" {
		t.Errorf("keys %+v", k)
	}
	if h, ok := rc.Health.(*healthCheck); !ok || h.URL != "https://health.example.com/check" || h.Client != client {
		t.Errorf("Health = %#v, want the check of check_url with the client", rc.Health)
	}
}
