package dashboard

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/window"
)

// now is Sunday 02:10 in Berlin: the default window is open until 05:00 there.
var now = time.Date(2026, 11, 29, 1, 10, 0, 0, time.UTC)

var (
	defaultWindow = window.MustParse("sun:02:00-sun:05:00 Europe/Berlin")
	kioskWindow   = window.MustParse("sun:06:00-sun:08:00 Europe/Berlin")
	waveSettings  = rollout.WaveSettings{CanaryBake: 10 * time.Minute, Bake: 5 * time.Minute, HealthTimeout: 20 * time.Minute}
)

// fakeSource is a Source over fixed values.
type fakeSource struct {
	mu sync.Mutex
	// at is the clock; zero means now.
	at         time.Time
	fleets     []FleetView
	fleetsErr  error
	fleetCalls int
	rollouts   []rollout.Rollout // by ID
	rolloutErr error
	events     map[int64][]history.Event
	records    []reset.Record
	trackers   map[string]reset.Tracked
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at.IsZero() {
		return now
	}
	return f.at
}

func (f *fakeSource) Fleets(context.Context) ([]FleetView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fleetCalls++
	return f.fleets, f.fleetsErr
}

func (f *fakeSource) Window(fleet string) window.Window {
	if fleet == "kiosk" {
		return kioskWindow
	}
	return defaultWindow
}

func (f *fakeSource) ActiveRollouts(context.Context) ([]rollout.Rollout, error) {
	var out []rollout.Rollout
	for _, r := range f.rollouts {
		if r.State.Active() {
			out = append(out, r)
		}
	}
	return out, f.rolloutErr
}

func (f *fakeSource) Rollouts(_ context.Context, limit int) ([]rollout.Rollout, error) {
	out := slices.Clone(f.rollouts)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, f.rolloutErr
}

func (f *fakeSource) Rollout(_ context.Context, id int64) (rollout.Rollout, bool, error) {
	for _, r := range f.rollouts {
		if r.ID == id {
			return r, true, f.rolloutErr
		}
	}
	return rollout.Rollout{}, false, f.rolloutErr
}

func (f *fakeSource) Plan(r rollout.Rollout) []rollout.WavePlan {
	return rollout.PlanWaves(r, waveSettings)
}

func (f *fakeSource) Events(_ context.Context, id int64, limit int) ([]history.Event, error) {
	out := slices.Clone(f.events[id])
	slices.Reverse(out) // the store answers newest first
	return out, nil
}

func (f *fakeSource) Records(_ context.Context, since time.Time, _ int) ([]reset.Record, error) {
	var out []reset.Record
	for _, r := range f.records {
		if !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeSource) Trackers(context.Context) (map[string]reset.Tracked, error) {
	return f.trackers, nil
}

func cap2(min, max int32) *rollout.Capacity { return &rollout.Capacity{Min: min, Max: max} }

// estate is a fleet of each kind and a rollout in each interesting state.
func estate() *fakeSource {
	created := now.Add(-40 * time.Minute)
	windowEnd := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	kioskStart := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC) // 06:00 Berlin
	return &fakeSource{
		fleets: []FleetView{
			{Name: "web-1", ImageName: "img-1", State: "RUNNING", Desired: 2, Running: 2, Available: 2, Target: cap2(2, 5)},
			{Name: "cny-a", ImageName: "img-2", State: "RUNNING", Desired: 2, Running: 2, InUse: 1, Available: 1, Target: cap2(2, 4)},
			{Name: "web-3", ImageName: "img-9", State: "RUNNING", Desired: 0, Running: 1, InUse: 1, Target: cap2(0, 0),
				Saved: &rollout.SavedCapacity{Fleet: "web-3", Min: 2, Max: 6, RolloutID: 5}},
			{Name: "kiosk", ImageName: "img-1", State: "STOPPED", Errors: []string{"IAM_SERVICE_ROLE_IS_MISSING: no role"}},
		},
		rollouts: []rollout.Rollout{
			{ID: 1, ImageName: "img-2", ImageARN: "arn:img-2", FleetTag: "cny-a/web-1", State: rollout.Running,
				Canary: "cny-a", Approval: true, Waves: 2, Wave: 1, Gate: rollout.GateApproval, GateSince: now.Add(-time.Minute),
				Start: created, CreatedAt: created, UpdatedAt: now.Add(-time.Minute),
				Steps: []rollout.Step{
					{RolloutID: 1, Fleet: "cny-a", Wave: 1, State: rollout.StepDone, WindowStart: created, WindowEnd: windowEnd, PreviousImageARN: "arn:img-1", StartedAt: created, FinishedAt: now.Add(-20 * time.Minute)},
					{RolloutID: 1, Fleet: "web-1", Wave: 2, State: rollout.StepWaiting, WindowStart: created, WindowEnd: windowEnd},
				}},
			{ID: 2, ImageName: "img-4", ImageARN: "arn:img-4", FleetTag: "kiosk", State: rollout.Pending, Start: kioskStart, CreatedAt: created, UpdatedAt: created,
				Waves: 1, Steps: []rollout.Step{{RolloutID: 2, Fleet: "kiosk", State: rollout.StepWaiting, WindowStart: kioskStart, WindowEnd: kioskStart.Add(2 * time.Hour)}}},
			{ID: 3, ImageName: "img-old", ImageARN: "arn:img-old", FleetTag: "web-1", State: rollout.Succeeded, Reason: "every fleet runs img-old",
				CreatedAt: created.Add(-7 * 24 * time.Hour), UpdatedAt: created.Add(-7 * 24 * time.Hour), Waves: 1,
				Steps: []rollout.Step{{RolloutID: 3, Fleet: "web-1", State: rollout.StepDone, PreviousImageARN: "arn:img-0"}}},
			{ID: 4, ImageName: "img-typo", FleetTag: "nope", State: rollout.Refused, Reason: `fleet "nope" does not exist`, CreatedAt: created, UpdatedAt: created},
			{ID: 5, ImageName: "img-9", ImageARN: "arn:img-9", FleetTag: "web-3", State: rollout.Running, ScaleImmediately: true, Waves: 1, Wave: 1,
				Start: created, CreatedAt: created, UpdatedAt: now,
				Steps: []rollout.Step{{RolloutID: 5, Fleet: "web-3", Wave: 1, State: rollout.StepDraining, Drain: true, SavedMin: 2, SavedMax: 6,
					WindowStart: created, WindowEnd: windowEnd, StartedAt: created, PreviousImageARN: "arn:img-1"}}},
		},
		events: map[int64][]history.Event{
			1: {
				{ID: 1, At: created, Kind: history.Planned, RolloutID: 1, Reason: "FleetName=cny-a/web-1, canary cny-a"},
				{ID: 2, At: created.Add(time.Minute), Kind: history.Started, RolloutID: 1},
				{ID: 3, At: created.Add(2 * time.Minute), Kind: history.Call, RolloutID: 1, Fleet: "cny-a", Call: "UpdateFleet", Result: "throttled", Error: "Rate exceeded"},
				{ID: 4, At: created.Add(3 * time.Minute), Kind: history.Call, RolloutID: 1, Fleet: "cny-a", Call: "UpdateFleet", Result: "ok"},
				{ID: 5, At: created.Add(20 * time.Minute), Kind: history.Step, RolloutID: 1, Fleet: "cny-a", State: "done", Reason: "runs img-2"},
				{ID: 6, At: now.Add(-time.Minute), Kind: history.Gate, RolloutID: 1, Reason: "canary healthy after the bake; waiting for approval"},
			},
		},
		records: []reset.Record{
			{At: now.Add(-3 * time.Hour), WorkspaceID: "ws-a", UserName: "alice", Mode: reset.Rebuild, Outcome: "logoff", Reason: "alice logged off; reset due in 15m"},
			{At: now.Add(-2 * time.Hour), WorkspaceID: "ws-a", UserName: "alice", Mode: reset.Rebuild, Outcome: "reset", Reason: "rebuilt after the grace"},
			{At: now.Add(-time.Hour), WorkspaceID: "ws-b", UserName: "bob", Mode: reset.Restore, Outcome: "skipped", Reason: "bob came back within the grace"},
			{At: now.Add(-48 * time.Hour), WorkspaceID: "ws-old", UserName: "olga", Mode: reset.Rebuild, Outcome: "reset", Reason: "too old to show"},
		},
		trackers: map[string]reset.Tracked{
			"ws-a": {ID: "ws-a", UserName: "alice", Mode: reset.Rebuild, Phase: reset.Idle},
			"ws-b": {ID: "ws-b", UserName: "bob", Mode: reset.Restore, Phase: reset.Grace, DisconnectedAt: now.Add(-5 * time.Minute), DueAt: now.Add(10 * time.Minute)},
			"ws-c": {ID: "ws-c", UserName: "carol", Mode: reset.Rebuild, Phase: reset.InFlight, ResetStartedAt: now.Add(-2 * time.Minute), Attempts: 1},
		},
	}
}

func serve(t *testing.T, src Source, opts Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(src, opts).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// text is the page's text without its tags and with runs of spaces collapsed, so tests can
// look for what a person reads.
func text(body string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q", what, sub)
		}
	}
}

func lacks(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			t.Errorf("%s has %q", what, sub)
		}
	}
}

// section returns the part of body from the heading with id on to the next section.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no section %q in the page", id)
	}
	rest := body[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestOverview(t *testing.T) {
	srv := serve(t, estate(), Options{})
	code, h, body := get(t, srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	page := text(body)
	contains(t, "overview", page, "cny-a", "web-1", "web-3", "kiosk", "img-9", "IAM_SERVICE_ROLE_IS_MISSING: no role")
	// Capacity and scalable targets; a fleet without a target says so.
	fleets := text(section(t, body, "fleets-heading"))
	contains(t, "fleets table", fleets, "2 / 2 / 1 / 1", "2–4", "none", "sun:02:00-sun:05:00 Europe/Berlin")
	contains(t, "fleets table", fleets, "Closes in 2 h 50 min (Sun 29 Nov 05:00 CET)", "Opens in 3 h 50 min (Sun 29 Nov 06:00 CET)")

	t.Run("drained fleets are highlighted", func(t *testing.T) {
		drained := text(section(t, body, "drained-heading"))
		contains(t, "drained section", drained, "web-3 : target 0–0, saved 2–6, held by rollout #5")
		lacks(t, "drained section", drained, "cny-a", "web-1")
		if n := strings.Count(body, `<tr class="drained">`); n != 1 {
			t.Errorf("%d drained rows in the fleets table, want 1 (web-3)", n)
		}
		contains(t, "fleets table", body, `web-3 <span class="badge s-drained">drained</span>`)
	})
	t.Run("rollouts in progress with waves and countdowns", func(t *testing.T) {
		active := section(t, body, "active-heading")
		for _, id := range []string{"rollout-1", "rollout-2", "rollout-5"} {
			contains(t, "rollouts in progress", active, `id="`+id+`"`)
		}
		lacks(t, "rollouts in progress", active, `id="rollout-3"`, `id="rollout-4"`)
		a := text(active)
		contains(t, "rollouts in progress", a,
			"#1 img-2 running awaiting approval", "wave 1 of 2", "Waiting for a person to approve the next wave.",
			"Wave 1 (canary) awaiting-approval cny-a", "Wave 2 waiting web-1", "Review and approve",
			"#2 img-4 pending", "Starts in 3 h 50 min (Sun 29 Nov 06:00 CET)",
			"#5 img-9 running", "drains fleets", "Updating fleets now.")
		contains(t, "countdown", active, `<time class="left" datetime="2026-11-29T05:00:00Z" data-at-ms="1795928400000">in 3 h 50 min</time>`)
	})
	t.Run("recent rollouts", func(t *testing.T) {
		recent := text(section(t, body, "recent-heading"))
		contains(t, "recent rollouts", recent, "#4 img-typo refused", `fleet "nope" does not exist`, "#3 img-old succeeded")
	})
	t.Run("no buttons on the overview", func(t *testing.T) {
		lacks(t, "overview", body, "data-action=")
	})
}

func TestRolloutPage(t *testing.T) {
	srv := serve(t, estate(), Options{})
	code, _, body := get(t, srv.URL+"/rollouts/1")
	if code != http.StatusOK {
		t.Fatalf("GET /rollouts/1 = %d", code)
	}
	page := text(body)
	contains(t, "rollout page", page, "Rollout #1: img-2", "cny-a/web-1", "manual, after the canary")
	plan := text(section(t, body, "waves-heading"))
	contains(t, "waves", plan,
		"Wave 1 (canary) cny-a awaiting-approval healthy within 20m0s, then healthy after a 10m0s bake, then a person's approval",
		"Wave 2 web-1 waiting healthy within 20m0s")
	steps := text(section(t, body, "steps-heading"))
	contains(t, "steps", steps, "cny-a 1 done Sun 29 Nov 01:30 CET – 05:00 CET", "web-1 2 waiting")

	t.Run("the timeline has every decision and call, oldest first", func(t *testing.T) {
		tl := text(section(t, body, "timeline-heading"))
		want := []string{"planned FleetName=cny-a/web-1, canary cny-a", "started", "call cny-a UpdateFleet throttled Rate exceeded",
			"call cny-a UpdateFleet ok", "step cny-a → done runs img-2", "gate canary healthy after the bake; waiting for approval"}
		last := -1
		for _, w := range want {
			i := strings.Index(tl, w)
			if i < 0 {
				t.Errorf("timeline lacks %q:\n%s", w, tl)
				continue
			}
			if i < last {
				t.Errorf("timeline has %q out of order:\n%s", w, tl)
			}
			last = i
		}
		if n := strings.Count(section(t, body, "timeline-heading"), `class="event bad"`); n != 1 {
			t.Errorf("%d events marked bad, want 1 (the throttled call)", n)
		}
	})
}

// buttons returns the data-action of each button of a rollout page, in order.
func buttons(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`data-action="([a-z]+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestRolloutPage_ButtonsOnlyWhereTheActionApplies(t *testing.T) {
	src := estate()
	cancelling := src.rollouts[0]
	cancelling.ID, cancelling.Gate = 6, rollout.GateCancelling
	rollingBack := src.rollouts[0]
	rollingBack.ID, rollingBack.Gate = 7, rollout.GateRollingBack
	approved := src.rollouts[0]
	approved.ID, approved.Approved, approved.ApprovedBy, approved.Gate = 8, true, "api:dana", rollout.GateNone
	src.rollouts = append(src.rollouts, cancelling, rollingBack, approved)
	srv := serve(t, src, Options{})
	tests := []struct {
		id   string
		what string
		want []string
	}{
		{"1", "awaiting approval, canary changed", []string{"approve", "cancel", "rollback"}},
		{"2", "pending: nothing changed yet", []string{"cancel"}},
		{"3", "succeeded", []string{"rollback"}},
		{"4", "refused", nil},
		{"5", "running, no approval asked", []string{"cancel", "rollback"}},
		{"6", "being cancelled", []string{"rollback"}},
		{"7", "being rolled back", nil},
		{"8", "approved already", []string{"cancel", "rollback"}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			_, _, body := get(t, srv.URL+"/rollouts/"+tt.id)
			if got := buttons(body); !slices.Equal(got, tt.want) {
				t.Errorf("buttons %q, want %q", got, tt.want)
			}
			if tt.want == nil {
				contains(t, "page", body, "No action applies to this rollout now.")
			}
			for _, kind := range tt.want {
				contains(t, "page", body, `data-rollout="`+tt.id+`"`, `id="action-`+kind+`"`)
			}
		})
	}
	_, _, body := get(t, srv.URL+"/rollouts/1")
	contains(t, "approve button", body, `data-confirm="Approve rollout #1 of image img-2? The next wave is released."`)
}

func TestRolloutPage_Missing(t *testing.T) {
	srv := serve(t, estate(), Options{})
	for _, path := range []string{"/rollouts/99", "/rollouts/abc", "/rollouts/-1", "/nope", "/rollouts/"} {
		code, _, body := get(t, srv.URL+path)
		if code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
		contains(t, path, body, "Back to the overview", `data-refresh-ms="0"`)
	}
	_, _, body := get(t, srv.URL+"/rollouts/99")
	contains(t, "/rollouts/99", text(body), "No rollout #99")
}

func TestResetsPage(t *testing.T) {
	srv := serve(t, estate(), Options{})
	code, _, body := get(t, srv.URL+"/resets")
	if code != http.StatusOK {
		t.Fatalf("GET /resets = %d", code)
	}
	pending := text(section(t, body, "pending-heading"))
	contains(t, "pending", pending, "2 rebuild", "1 restore", "WorkSpaces tracked",
		"ws-c carol rebuild inflight", "resetting since Sun 29 Nov 01:08 UTC",
		"ws-b bob restore grace Sun 29 Nov 01:05 UTC Due in 10 min (Sun 29 Nov 01:20 UTC)")
	lacks(t, "pending", pending, "ws-a")
	if strings.Index(pending, "ws-c") > strings.Index(pending, "ws-b") {
		t.Error("the reset under way is not listed before the due one")
	}
	records := text(section(t, body, "records-heading"))
	contains(t, "records", records, "skipped bob came back within the grace", "reset rebuilt after the grace", "logoff alice logged off; reset due in 15m")
	lacks(t, "records", records, "too old to show")
	if strings.Index(records, "bob came back") > strings.Index(records, "rebuilt after") {
		t.Error("decisions are not newest first")
	}
}

func TestPages_EscapeUntrustedStrings(t *testing.T) {
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	src := estate()
	src.fleets[0].Name, src.fleets[0].ImageName = "web-1"+evil, "img"+evil
	src.fleets[3].Errors = []string{"CODE: " + evil}
	r := &src.rollouts[0]
	r.ImageName, r.Reason, r.FleetTag, r.Checks = "img"+evil, "because"+evil, "tag"+evil, "check"+evil
	r.Steps[1].Fleet, r.Steps[1].Message = "web-1"+evil, "msg"+evil
	src.events[1] = append(src.events[1], history.Event{ID: 7, At: now, Kind: history.Failed, RolloutID: 1, Reason: "why" + evil, Error: "err" + evil})
	src.records = append(src.records, reset.Record{At: now, WorkspaceID: "ws" + evil, UserName: "user" + evil, Mode: reset.Rebuild, Outcome: "reset", Reason: "reason" + evil})
	srv := serve(t, src, Options{DemoToken: "demo" + evil})
	for _, path := range []string{"/", "/rollouts/1", "/resets", "/rollouts/1?partial=1"} {
		_, _, body := get(t, srv.URL+path)
		lacks(t, path, body, "<script>alert", "<img src=x", "onerror=alert(2)>")
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the escaped name", path)
		}
	}
	_, _, body := get(t, srv.URL+"/rollouts/1")
	contains(t, "confirm attribute", body, `data-confirm="Approve rollout #1 of image img&#34;&gt;&lt;script&gt;`)
}

func TestPages_Partial(t *testing.T) {
	srv := serve(t, estate(), Options{Refresh: 2 * time.Second})
	_, _, full := get(t, srv.URL+"/")
	contains(t, "full page", full, `<div id="live" data-refresh-ms="2000" data-path="/" data-now-ms="1795914600000">`, `<script src="/static/dashboard.js?v=`, `<link rel="stylesheet" href="/static/dashboard.css?v=`)
	for _, path := range []string{"/", "/rollouts/1", "/resets"} {
		code, h, part := get(t, srv.URL+path+"?partial=1")
		if code != http.StatusOK {
			t.Errorf("GET %s?partial=1 = %d", path, code)
		}
		lacks(t, path+"?partial=1", part, "<html", "<head", "id=\"live\"", "token-form")
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s?partial=1: Cache-Control %q, want no-store", path, h.Get("Cache-Control"))
		}
	}
	_, _, part := get(t, srv.URL+"/?partial=1")
	contains(t, "overview part", part, `id="fleets-heading"`, `id="rollout-1"`)
}

// A part fetched again a few seconds later is the same HTML, so the page's script leaves it
// alone; the daemon's clock comes in a header, which the countdowns count on. (Under ten
// minutes a countdown shows seconds, and so changes: the resets page has one.)
func TestPages_PartialIsStableWhileNothingChanges(t *testing.T) {
	src := estate()
	srv := serve(t, src, Options{})
	for _, path := range []string{"/", "/rollouts/1"} {
		src.mu.Lock()
		src.at = now.Add(5 * time.Second)
		src.mu.Unlock()
		_, h1, first := get(t, srv.URL+path+"?partial=1")
		src.mu.Lock()
		src.at = now.Add(9 * time.Second)
		src.mu.Unlock()
		_, h2, second := get(t, srv.URL+path+"?partial=1")
		if first != second {
			t.Errorf("%s?partial=1 changed in 4 s with nothing else changed", path)
		}
		if h1.Get(NowHeader) != "1795914605000" || h2.Get(NowHeader) != "1795914609000" {
			t.Errorf("%s: %s %q then %q, want the daemon's clock in Unix ms", path, NowHeader, h1.Get(NowHeader), h2.Get(NowHeader))
		}
	}
}

func TestPages_Token(t *testing.T) {
	t.Run("never in the page without a demo token", func(t *testing.T) {
		srv := serve(t, estate(), Options{})
		_, _, body := get(t, srv.URL+"/rollouts/1")
		lacks(t, "page", body, "deskpilot-demo-token")
		contains(t, "page", body, `<input id="token-input" type="password"`)
		lacks(t, "token field", body, `name="token`)
	})
	t.Run("embedded for the demo", func(t *testing.T) {
		srv := serve(t, estate(), Options{DemoToken: "demo-123"})
		_, _, body := get(t, srv.URL+"/rollouts/1")
		contains(t, "page", body, `<meta name="deskpilot-demo-token" content="demo-123">`)
	})
}

func TestPages_SecurityHeaders(t *testing.T) {
	srv := serve(t, estate(), Options{})
	for _, path := range []string{"/", "/static/dashboard.js", "/nope"} {
		_, h, _ := get(t, srv.URL+path)
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
}

func TestStatic(t *testing.T) {
	srv := serve(t, estate(), Options{})
	for name, ctype := range map[string]string{"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"} {
		code, h, body := get(t, srv.URL+"/static/"+name)
		if code != http.StatusOK || h.Get("Content-Type") != ctype || len(body) < 100 {
			t.Errorf("GET /static/%s = %d %q, %d bytes", name, code, h.Get("Content-Type"), len(body))
		}
		req, _ := http.NewRequest("GET", srv.URL+"/static/"+name, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET /static/%s with its ETag = %d, want 304", name, resp.StatusCode)
		}
	}
	for _, path := range []string{"/static/nope.js", "/static/", "/static/../templates/layout.html"} {
		if code, _, _ := get(t, srv.URL+path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	// No page asks for anything from elsewhere.
	_, _, body := get(t, srv.URL+"/")
	lacks(t, "overview", body, "http://", "https://", "//cdn")
}

func TestOverview_ReadFailuresBlankOnlyTheirPart(t *testing.T) {
	src := estate()
	src.fleetsErr = errors.New("DescribeFleets: throttled")
	srv := serve(t, src, Options{})
	code, _, body := get(t, srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	contains(t, "overview", text(body), "Could not read the fleets: DescribeFleets: throttled", "#1 img-2", "#4 img-typo")

	src.rolloutErr = errors.New("database is locked")
	code, _, body = get(t, srv.URL+"/rollouts/1")
	if code != http.StatusInternalServerError {
		t.Errorf("GET /rollouts/1 with a failing store = %d, want 500", code)
	}
	contains(t, "rollout page", text(body), "Could not read the rollout: database is locked")
}

func TestOverview_FleetsAreReadOncePerMaxAge(t *testing.T) {
	src := estate()
	srv := serve(t, src, Options{FleetsMaxAge: time.Hour})
	for range 3 {
		get(t, srv.URL+"/?partial=1")
	}
	if src.fleetCalls != 1 {
		t.Errorf("Fleets called %d times for 3 pages within its max age, want 1", src.fleetCalls)
	}

	src = estate()
	src.fleetsErr = errors.New("throttled")
	srv = serve(t, src, Options{FleetsMaxAge: time.Hour})
	get(t, srv.URL+"/")
	get(t, srv.URL+"/")
	if src.fleetCalls != 2 {
		t.Errorf("Fleets called %d times after failing, want 2: a failure is not kept", src.fleetCalls)
	}

	src = estate()
	srv = serve(t, src, Options{FleetsMaxAge: -1})
	get(t, srv.URL+"/")
	get(t, srv.URL+"/")
	if src.fleetCalls != 2 {
		t.Errorf("Fleets called %d times with no caching, want 2", src.fleetCalls)
	}
}

func TestFormatLeft(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "now"},
		{0, "now"},
		{999 * time.Millisecond, "now"},
		{45 * time.Second, "in 45 s"},
		{9*time.Minute + 59*time.Second, "in 9 min 59 s"},
		{10 * time.Minute, "in 10 min"},
		{3*time.Hour + 50*time.Minute + 30*time.Second, "in 3 h 50 min"},
		{50 * time.Hour, "in 2 d 2 h"},
	}
	for _, tt := range tests {
		if got := formatLeft(tt.d); got != tt.want {
			t.Errorf("formatLeft(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestBuilder_Next(t *testing.T) {
	b := builder{now: now, loc: time.UTC, window: func(string) window.Window { return defaultWindow }}
	end := now.Add(time.Hour)
	later := now.Add(3 * time.Hour)
	waiting := func(fleet string, wave int, start, end time.Time) rollout.Step {
		return rollout.Step{Fleet: fleet, Wave: wave, State: rollout.StepWaiting, WindowStart: start, WindowEnd: end}
	}
	tests := []struct {
		name       string
		r          rollout.Rollout
		wantLabel  string
		wantLeft   string
		wantReason string
	}{
		{"pending", rollout.Rollout{State: rollout.Pending, Steps: []rollout.Step{waiting("a", 1, later, later.Add(time.Hour))}},
			"Starts", "in 3 h 0 min", ""},
		{"window open, fleets waiting their turn", rollout.Rollout{State: rollout.Running, Steps: []rollout.Step{waiting("a", 1, now.Add(-time.Minute), end)}},
			"Window open, closes", "in 1 h 0 min", ""},
		{"next window of a running rollout", rollout.Rollout{State: rollout.Running, Steps: []rollout.Step{
			{Fleet: "a", State: rollout.StepDone}, waiting("b", 1, later, later.Add(time.Hour))}},
			"Next window opens", "in 3 h 0 min", ""},
		{"unreleased waves do not count", rollout.Rollout{State: rollout.Running, Wave: 1, Waves: 2, Canary: "a", Gate: rollout.GateBaking, GateSince: now.Add(-5 * time.Minute),
			Steps: []rollout.Step{{Fleet: "a", Wave: 1, State: rollout.StepDone}, waiting("b", 2, later, later.Add(time.Hour))}},
			"", "", "Wave 1: baking."},
		{"awaiting approval", rollout.Rollout{State: rollout.Running, Gate: rollout.GateApproval}, "", "", "Waiting for a person to approve the next wave."},
		{"ended", rollout.Rollout{State: rollout.Succeeded}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, why := b.next(tt.r, nil)
			if why != tt.wantReason {
				t.Errorf("reason %q, want %q", why, tt.wantReason)
			}
			switch {
			case c == nil && tt.wantLabel != "":
				t.Errorf("no countdown, want %q %q", tt.wantLabel, tt.wantLeft)
			case c != nil && (c.Label != tt.wantLabel || c.Left != tt.wantLeft):
				t.Errorf("countdown %q %q, want %q %q", c.Label, c.Left, tt.wantLabel, tt.wantLeft)
			}
		})
	}
	t.Run("the next wave's expected start after the gate", func(t *testing.T) {
		r := rollout.Rollout{State: rollout.Running, Wave: 1, Waves: 2, Canary: "a", Start: now.Add(-30 * time.Minute),
			Steps: []rollout.Step{{Fleet: "a", Wave: 1, State: rollout.StepDone}, waiting("b", 2, later, later.Add(time.Hour))}}
		plan := []rollout.WavePlan{{Wave: 1}, {Wave: 2, ExpectedStart: now.Add(7 * time.Minute)}}
		c, _ := b.next(r, plan)
		if c == nil || c.Label != "Wave 2 expected to start" || c.Left != "in 7 min 0 s" {
			t.Errorf("countdown %+v, want wave 2 in 7 min", c)
		}
	})
}
