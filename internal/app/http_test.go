package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
)

// t0 is the test clock's time.
var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

const testToken = "s3cret-t0ken"

// fakeRequester stands in for the rollout controller (tested in its own package): it answers
// every request with ro and err, and records the requests.
type fakeRequester struct {
	ro   rollout.Rollout
	err  error
	plan []rollout.WavePlan

	mu    sync.Mutex
	calls []requestCall
}

type requestCall struct {
	ID   int64
	Kind rollout.RequestKind
	By   string
}

func (f *fakeRequester) Request(_ context.Context, id int64, kind rollout.RequestKind, by string) (rollout.Rollout, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, requestCall{id, kind, by})
	return f.ro, f.err
}

func (f *fakeRequester) Plan(rollout.Rollout) []rollout.WavePlan { return f.plan }

func (f *fakeRequester) requests() []requestCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]requestCall(nil), f.calls...)
}

var _ rolloutRequester = (*fakeRequester)(nil)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "deskpilot.db"), store.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serveAPI serves the API over real HTTP with the store (nil for tests of endpoints that do
// not read it), the token and rr (nil: rollouts off).
func serveAPI(t *testing.T, st *store.Store, token string, rr rolloutRequester) *httptest.Server {
	t.Helper()
	a := &api{store: st, token: token, now: func() time.Time { return t0 }}
	if rr != nil {
		a.rollouts = rr
	}
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)
	return srv
}

// answer is a response read in full.
type answer struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, srv *httptest.Server, method, path string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
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

// wantError checks that a is the JSON error {"error": ...} with the status code, and returns
// its message.
func wantError(t *testing.T, a answer, code int) string {
	t.Helper()
	if a.code != code {
		t.Errorf("status %d, want %d (body %q)", a.code, code, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, a.body)
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || len(e) != 1 || e["error"] == "" {
		t.Errorf("body %q, want {\"error\": \"...\"}", a.body)
	}
	return e["error"]
}

func bearerHeader(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

var mutating = []struct {
	path string
	kind rollout.RequestKind
}{
	{"/api/v1/rollouts/7/approve", rollout.RequestApprove},
	{"/api/v1/rollouts/7/cancel", rollout.RequestCancel},
	{"/api/v1/rollouts/7/rollback", rollout.RequestRollback},
}

// Without a configured token the mutating endpoints are off, whatever the request carries,
// and say how to turn them on.
func TestAPI_mutating_noToken(t *testing.T) {
	fake := &fakeRequester{}
	srv := serveAPI(t, nil, "", fake)
	for _, m := range mutating {
		for _, h := range []map[string]string{nil, bearerHeader(""), bearerHeader(testToken)} {
			msg := wantError(t, do(t, srv, http.MethodPost, m.path, h), http.StatusForbidden)
			if !strings.Contains(msg, "server.token") || !strings.Contains(msg, "DESKPILOT_TOKEN") {
				t.Errorf("POST %s: message %q does not say how to set a token", m.path, msg)
			}
		}
	}
	if calls := fake.requests(); len(calls) != 0 {
		t.Errorf("the controller got %v", calls)
	}
}

func TestAPI_mutating_bearer(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		ok     bool
	}{
		{"no header", nil, false},
		{"empty bearer", bearerHeader(""), false},
		{"wrong token", bearerHeader("s3cret-t0kem"), false},
		{"a prefix of the token", bearerHeader(testToken[:5]), false},
		{"the token and more", bearerHeader(testToken + "x"), false},
		{"another scheme", map[string]string{"Authorization": "Basic " + testToken}, false},
		{"the token alone", map[string]string{"Authorization": testToken}, false},
		{"the token", bearerHeader(testToken), true},
		{"the scheme in lower case", map[string]string{"Authorization": "bearer " + testToken}, true},
	}
	for _, m := range mutating {
		for _, tt := range tests {
			t.Run(m.path+"/"+tt.name, func(t *testing.T) {
				fake := &fakeRequester{ro: rollout.Rollout{ID: 7}}
				srv := serveAPI(t, nil, testToken, fake)
				a := do(t, srv, http.MethodPost, m.path, tt.header)
				if tt.ok {
					if a.code != http.StatusOK {
						t.Fatalf("status %d, want 200 (body %q)", a.code, a.body)
					}
					if calls := fake.requests(); len(calls) != 1 || calls[0].Kind != m.kind {
						t.Errorf("the controller got %v, want one %s", calls, m.kind)
					}
					return
				}
				wantError(t, a, http.StatusUnauthorized)
				if got := a.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("WWW-Authenticate %q, want Bearer", got)
				}
				if calls := fake.requests(); len(calls) != 0 {
					t.Errorf("the controller got %v", calls)
				}
			})
		}
	}
}

// Each request reaches the controller with its kind and rollout id, and each of the
// controller's answers has its status.
func TestAPI_mutating_request(t *testing.T) {
	ro := rollout.Rollout{ID: 7, ImageName: "desktop-2026-12", State: rollout.Running, Waves: 2, Wave: 1, Gate: rollout.GateApproval}
	plan := []rollout.WavePlan{
		{Wave: 1, Canary: true, Fleets: []string{"finance"}, State: "passed", Gate: "approval"},
		{Wave: 2, Fleets: []string{"engineering"}, State: "waiting", ExpectedStart: t0.Add(time.Hour)},
	}
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"done", nil, http.StatusOK},
		{"no rollout", fmt.Errorf("rollout 7: %w", rollout.ErrNoRollout), http.StatusNotFound},
		{"conflict", fmt.Errorf("%w: rollout 7 has ended (succeeded)", rollout.ErrConflict), http.StatusConflict},
		{"store failed", errors.New("database is locked"), http.StatusInternalServerError},
	}
	for _, m := range mutating {
		for _, tt := range tests {
			t.Run(m.path+"/"+tt.name, func(t *testing.T) {
				fake := &fakeRequester{ro: ro, err: tt.err, plan: plan}
				if tt.err != nil {
					fake.ro = rollout.Rollout{}
				}
				srv := serveAPI(t, nil, testToken, fake)
				a := do(t, srv, http.MethodPost, m.path, bearerHeader(testToken))
				want := []requestCall{{7, m.kind, "api"}}
				if diff := cmp.Diff(want, fake.requests()); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
				if tt.err != nil {
					if msg := wantError(t, a, tt.code); msg != tt.err.Error() {
						t.Errorf("message %q, want %q", msg, tt.err.Error())
					}
					return
				}
				if a.code != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
					t.Fatalf("status %d, Content-Type %q, want 200 JSON (body %q)", a.code, a.header.Get("Content-Type"), a.body)
				}
				var got struct {
					Rollout rollout.Rollout
					Plan    []rollout.WavePlan
				}
				if err := json.Unmarshal([]byte(a.body), &got); err != nil {
					t.Fatalf("body %q: %v", a.body, err)
				}
				if diff := cmp.Diff(ro, got.Rollout); diff != "" {
					t.Errorf("rollout (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(plan, got.Plan); diff != "" {
					t.Errorf("plan (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestAPI_mutating_badID(t *testing.T) {
	fake := &fakeRequester{}
	srv := serveAPI(t, nil, testToken, fake)
	for _, id := range []string{"abc", "7x", "1.5", "99999999999999999999"} {
		for _, action := range []string{"approve", "cancel", "rollback"} {
			path := "/api/v1/rollouts/" + id + "/" + action
			if msg := wantError(t, do(t, srv, http.MethodPost, path, bearerHeader(testToken)), http.StatusBadRequest); msg != "rollout id must be a number" {
				t.Errorf("POST %s: message %q", path, msg)
			}
		}
	}
	// The token is checked first: a bad id says nothing to a caller without it.
	wantError(t, do(t, srv, http.MethodPost, "/api/v1/rollouts/abc/approve", nil), http.StatusUnauthorized)
	if calls := fake.requests(); len(calls) != 0 {
		t.Errorf("the controller got %v", calls)
	}
}

// The request records who asked: "api", or "api:" and the user header, trimmed, without
// control characters, cut to 64 characters.
func TestAPI_mutating_requestedBy(t *testing.T) {
	tests := []struct {
		user string // "" for no header
		want string
	}{
		{"", "api"},
		{"   ", "api"},
		{"alice", "api:alice"},
		{"  alice@example.com ", "api:alice@example.com"},
		{"al\tice\t", "api:alice"},
		{strings.Repeat("ü", 70), "api:" + strings.Repeat("ü", 64)},
		{strings.Repeat("b", 63) + " c", "api:" + strings.Repeat("b", 63)},
	}
	for _, tt := range tests {
		fake := &fakeRequester{}
		srv := serveAPI(t, nil, testToken, fake)
		h := bearerHeader(testToken)
		if tt.user != "" {
			h[UserHeader] = tt.user
		}
		do(t, srv, http.MethodPost, "/api/v1/rollouts/1/approve", h)
		if calls := fake.requests(); len(calls) != 1 || calls[0].By != tt.want {
			t.Errorf("%s %q: the controller got %v, want by %q", UserHeader, tt.user, calls, tt.want)
		}
	}
}

// Every failure under /api/ answers JSON, including the mux's own 404 and 405.
func TestAPI_errorsAreJSON(t *testing.T) {
	srv := serveAPI(t, openStore(t), testToken, &fakeRequester{})
	tests := []struct {
		method, path string
		code         int
		allow        string // the Allow header of a 405
	}{
		{http.MethodGet, "/api/", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1/nope", http.StatusNotFound, ""},
		{http.MethodPost, "/api/v1/rollouts/7/pause", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v2/rollouts", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1/rollouts/7/approve", http.StatusMethodNotAllowed, "POST"},
		{http.MethodDelete, "/api/v1/rollouts/7/cancel", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/api/v1/rollouts", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPut, "/api/v1/rollouts/7", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/api/v1/rollouts/abc", http.StatusBadRequest, ""},
		{http.MethodGet, "/api/v1/rollouts/999", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1/resets?since=yesterday", http.StatusBadRequest, ""},
		{http.MethodPost, "/api/v1/rollouts/7/approve", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			a := do(t, srv, tt.method, tt.path, nil)
			wantError(t, a, tt.code)
			if got := a.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
	// Outside /api/ the mux answers as usual, and a path to clean is still redirected.
	if a := do(t, srv, http.MethodGet, "/nope", nil); a.code != http.StatusNotFound || strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /nope: %d %q", a.code, a.header.Get("Content-Type"))
	}
	if a := do(t, srv, http.MethodGet, "/api//v1/rollouts", nil); a.code != http.StatusOK {
		t.Errorf("GET /api//v1/rollouts: %d (body %q), want the redirect followed to 200", a.code, a.body)
	}
}

// GET endpoints need no token, and a rollout comes with its plan.
func TestAPI_getRollout(t *testing.T) {
	plan := []rollout.WavePlan{{Wave: 1, Canary: true, Fleets: []string{"finance"}, State: "running", Gate: "health"}}
	fake := &fakeRequester{plan: plan}
	st := openStore(t)
	srv := serveAPI(t, st, testToken, fake)
	r := rollout.Rollout{ImageName: "desktop-2026-12", ImageARN: "arn:aws:appstream:us-east-1:123456789012:image/desktop-2026-12",
		FleetTag: "finance", State: rollout.Pending, Start: t0,
		Steps: []rollout.Step{{Fleet: "finance", State: rollout.StepWaiting, WindowStart: t0, WindowEnd: t0.Add(time.Hour), NextAt: t0}}}
	if err := st.Apply(t.Context(), &rollout.Change{Create: &r}); err != nil {
		t.Fatal(err)
	}
	a := do(t, srv, http.MethodGet, fmt.Sprintf("/api/v1/rollouts/%d", r.ID), nil)
	if a.code != http.StatusOK {
		t.Fatalf("status %d (body %q)", a.code, a.body)
	}
	var got struct {
		Rollout rollout.Rollout
		Plan    []rollout.WavePlan
		Events  []json.RawMessage
	}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	if got.Rollout.ID != r.ID || got.Rollout.ImageName != r.ImageName {
		t.Errorf("rollout %+v, want rollout %d", got.Rollout, r.ID)
	}
	if diff := cmp.Diff(plan, got.Plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/api/v1/rollouts", "/api/v1/saved-capacity", "/api/v1/resets", "/healthz"} {
		if a := do(t, srv, http.MethodGet, path, nil); a.code != http.StatusOK {
			t.Errorf("GET %s: %d (body %q)", path, a.code, a.body)
		}
	}
	if calls := fake.requests(); len(calls) != 0 {
		t.Errorf("reading called the controller: %v", calls)
	}
}

// Main.handler gives the API the daemon's controller and token; with rollouts off, requests
// conflict and rollouts have no plan.
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
		msg := wantError(t, do(t, srv, http.MethodPost, "/api/v1/rollouts/1/approve", bearerHeader(testToken)), http.StatusConflict)
		if !strings.Contains(msg, "rollouts.enabled") {
			t.Errorf("message %q does not name rollouts.enabled", msg)
		}
	})
	t.Run("the controller", func(t *testing.T) {
		ctl := rollout.New(rolloutConfig(cfg, nil, nil), nil, nil, st, now, logger)
		m := &Main{Config: cfg, Store: st, Now: now, Logger: logger, Rollouts: ctl}
		srv := httptest.NewServer(m.handler())
		defer srv.Close()
		wantError(t, do(t, srv, http.MethodPost, "/api/v1/rollouts/999/approve", nil), http.StatusUnauthorized)
		if msg := wantError(t, do(t, srv, http.MethodPost, "/api/v1/rollouts/999/approve", bearerHeader(testToken)), http.StatusNotFound); !strings.Contains(msg, "999") {
			t.Errorf("message %q does not name the rollout", msg)
		}
		// A rollout without Approval=Manual that has not halted has nothing to approve.
		r := rollout.Rollout{ImageName: "desktop-2026-12", ImageARN: "arn:aws:appstream:us-east-1:123456789012:image/desktop-2026-12",
			FleetTag: "finance", State: rollout.Pending, Start: t0,
			Steps: []rollout.Step{{Fleet: "finance", State: rollout.StepWaiting, WindowStart: t0, WindowEnd: t0.Add(time.Hour), NextAt: t0}}}
		if err := st.Apply(t.Context(), &rollout.Change{Create: &r}); err != nil {
			t.Fatal(err)
		}
		wantError(t, do(t, srv, http.MethodPost, fmt.Sprintf("/api/v1/rollouts/%d/approve", r.ID), bearerHeader(testToken)), http.StatusConflict)
	})
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
