package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// newServer is a server over the estate with every dependency, the token and the test clock.
func newServer() (*api.Server, *fakeStore, *fakeFleets, *fakeRequester, *fakePlanner) {
	st, fl := estate()
	rq := &fakeRequester{waves: []rollout.WavePlan{
		{Wave: 1, Canary: true, Fleets: []string{"fleet-a"}, State: "running", Gate: "healthy within 30m0s", ExpectedStart: t0},
		{Wave: 2, Fleets: []string{"fleet-b"}, State: "waiting", Gate: "healthy within 30m0s"},
	}}
	pl := &fakePlanner{res: api.PlanResult{Image: api.PlanImage{Name: "img-2"}}}
	s := &api.Server{Rollouts: st, Resets: st, Requests: rq, Planner: pl, Fleets: fl, Targets: fl, Store: st,
		Token: token, Now: func() time.Time { return t0 }}
	return s, st, fl, rq, pl
}

func serve(t *testing.T, s *api.Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
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

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// wantError checks that a is a JSON error answer with the status and code, and returns its
// message.
func wantError(t *testing.T, a answer, status int, code string) string {
	t.Helper()
	if a.code != status {
		t.Errorf("status %d, want %d (body %q)", a.code, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, a.body)
	}
	var e struct {
		Error map[string]string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || len(e.Error) != 2 || e.Error["message"] == "" {
		t.Errorf("body %q, want {\"error\": {\"code\": ..., \"message\": ...}}", a.body)
	}
	if e.Error["code"] != code {
		t.Errorf("code %q, want %q (body %q)", e.Error["code"], code, a.body)
	}
	return e.Error["message"]
}

var (
	snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// nullable are the keys that may be null: times that may be none, and optional objects.
	nullable = map[string]bool{
		"start": true, "gate_since": true, "wave_at": true, "next_at": true, "window_start": true, "window_end": true,
		"saved_capacity": true, "drain_started_at": true, "started_at": true, "finished_at": true, "escalated_at": true,
		"reminded_at": true, "expected_start": true, "rollout_id": true, "scalable_target": true, "scaling_suspended": true, "rollout": true,
		"disconnected_at": true, "due_at": true, "reset_started_at": true,
	}
)

// checkShape checks the conventions of a JSON answer: snake_case keys (but a map of tags,
// whose keys are tag names), no null but the optional values (a list is never null), and
// every time in UTC.
func checkShape(t *testing.T, body string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, body)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				p := path + "." + k
				if !strings.HasSuffix(path, ".tags") {
					if !snakeCase.MatchString(k) {
						t.Errorf("%s: key %q is not snake_case", path, k)
					}
					if e == nil && !nullable[k] {
						t.Errorf("%s is null", p)
					}
				}
				walk(p, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err == nil && !strings.HasSuffix(path, "_local") && !strings.HasSuffix(v, "Z") {
				t.Errorf("%s = %q is not in UTC", path, v)
			}
		}
	}
	walk("", v)
}

// The GET endpoints (and the plan) answer JSON of the conventions, for a full estate and an
// empty one alike.
func TestServer_shapes(t *testing.T) {
	paths := []struct{ method, path, body string }{
		{"GET", "/readyz", ""},
		{"GET", "/api/v1/fleets", ""},
		{"GET", "/api/v1/rollouts", ""},
		{"GET", "/api/v1/rollouts?state=active", ""},
		{"GET", "/api/v1/rollouts/2", ""},
		{"GET", "/api/v1/rollouts/4", ""},
		{"GET", "/api/v1/resets?since=2026-01-01T00:00:00Z", ""},
		{"GET", "/api/v1/resets/pending", ""},
		{"GET", "/api/v1/saved-capacity", ""},
		{"POST", "/api/v1/plan", `{"image": "img-2", "fleets": "fleet-a"}`},
	}
	full, _, _, _, _ := newServer()
	empty, st, fl, rq, pl := newServer()
	*st, *fl = fakeStore{rollouts: []rollout.Rollout{{ID: 2, State: rollout.Refused}, full.Rollouts.(*fakeStore).rollouts[3]}}, fakeFleets{}
	rq.waves, pl.res = nil, api.PlanResult{}
	for name, s := range map[string]*api.Server{"full": full, "empty": empty} {
		srv := serve(t, s)
		for _, p := range paths {
			t.Run(name+" "+p.method+" "+p.path, func(t *testing.T) {
				a := do(t, srv, p.method, p.path, nil, p.body)
				if a.code != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
					t.Fatalf("%d %q: %s", a.code, a.header.Get("Content-Type"), a.body)
				}
				checkShape(t, a.body)
			})
		}
	}
	// The lists of an empty answer are [], by name.
	srv := serve(t, empty)
	for path, want := range map[string]string{
		"/api/v1/fleets": `"fleets": []`, "/api/v1/resets/pending": `"pending": []`, "/api/v1/saved-capacity": `"saved_capacity": []`,
		"/api/v1/rollouts?state=running": `"rollouts": []`, "/api/v1/resets": `"resets": []`, "/api/v1/rollouts/4": `"steps": []`,
	} {
		if a := do(t, srv, "GET", path, nil, ""); !strings.Contains(a.body, want) {
			t.Errorf("GET %s: %s lacks %s", path, a.body, want)
		}
	}
}

// A rollout's detail: the DTO of the rollout with its steps, the controller's waves, and its
// events oldest first.
func TestServer_rolloutDetail(t *testing.T) {
	s, _, _, _, _ := newServer()
	a := do(t, serve(t, s), "GET", "/api/v1/rollouts/2", nil, "")
	var got api.RolloutDetail
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	want := api.RolloutDetail{
		Rollout: api.Rollout{ID: 2, ImageName: "img-2", ImageARN: "arn:aws:appstream:us-east-1:123456789012:image/img-2",
			FleetTag: "fleet-a/fleet-b", ScaleImmediately: true, State: "running", Active: true, Start: at(0),
			CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0, Canary: "fleet-a", Waves: 2, Wave: 1,
			Steps: []api.Step{
				{Fleet: "fleet-a", State: "draining", Wave: 1, WindowStart: at(0), WindowEnd: at(3 * time.Hour), Drain: true,
					SavedCapacity: &api.Bounds{Min: 3, Max: 8}, DrainStartedAt: at(0), StartedAt: at(0),
					PreviousImageARN: "arn:aws:appstream:us-east-1:123456789012:image/img-1"},
				{Fleet: "fleet-b", State: "waiting", Wave: 2},
			}},
		Waves: []api.Wave{
			{Wave: 1, Canary: true, Fleets: []string{"fleet-a"}, State: "running", Gate: "healthy within 30m0s", ExpectedStart: at(0)},
			{Wave: 2, Fleets: []string{"fleet-b"}, State: "waiting", Gate: "healthy within 30m0s"},
		},
		Events: []api.Event{
			{ID: 10, At: t0.Add(-time.Hour), Kind: "planned", RolloutID: ptr(int64(2)), State: "pending", Reason: "image img-2 to fleet-a/fleet-b"},
			{ID: 11, At: t0, Kind: "started", RolloutID: ptr(int64(2)), State: "running"},
			{ID: 12, At: t0, Kind: "call", RolloutID: ptr(int64(2)), Fleet: "fleet-a", Call: "UpdateFleet", Result: "ok"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("detail (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

// Every failure is a JSON error with its code; the mux's own 404 and 405 too.
func TestServer_errors(t *testing.T) {
	storeDown := errors.New("database is locked")
	tests := []struct {
		name         string
		setup        func(s *api.Server, st *fakeStore, fl *fakeFleets, pl *fakePlanner)
		method, path string
		body         string
		status       int
		code         string
		allow        string // the Allow header of a 405
		message      string // a part of the message
	}{
		{name: "api root", method: "GET", path: "/api/", status: 404, code: "not_found"},
		{name: "unknown path", method: "GET", path: "/api/v1/nope", status: 404, code: "not_found", message: "no such endpoint"},
		{name: "unknown action", method: "POST", path: "/api/v1/rollouts/7/pause", status: 404, code: "not_found"},
		{name: "v2", method: "GET", path: "/api/v2/rollouts", status: 404, code: "not_found"},
		{name: "outside the api", method: "GET", path: "/nope", status: 404, code: "not_found"},
		{name: "GET approve", method: "GET", path: "/api/v1/rollouts/7/approve", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "DELETE cancel", method: "DELETE", path: "/api/v1/rollouts/7/cancel", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "POST rollouts", method: "POST", path: "/api/v1/rollouts", status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		{name: "PUT rollout", method: "PUT", path: "/api/v1/rollouts/7", status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		{name: "GET plan", method: "GET", path: "/api/v1/plan", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "POST healthz", method: "POST", path: "/healthz", status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		{name: "bad id", method: "GET", path: "/api/v1/rollouts/abc", status: 400, code: "bad_request", message: "rollout id"},
		{name: "id zero", method: "GET", path: "/api/v1/rollouts/0", status: 400, code: "bad_request"},
		{name: "unknown rollout", method: "GET", path: "/api/v1/rollouts/999", status: 404, code: "not_found", message: "rollout 999 does not exist"},
		{name: "bad limit", method: "GET", path: "/api/v1/rollouts?limit=many", status: 400, code: "bad_request", message: "limit"},
		{name: "limit too big", method: "GET", path: "/api/v1/rollouts?limit=1001", status: 400, code: "bad_request"},
		{name: "bad state", method: "GET", path: "/api/v1/rollouts?state=done", status: 400, code: "bad_request", message: "rolled-back"},
		{name: "bad since", method: "GET", path: "/api/v1/resets?since=yesterday", status: 400, code: "bad_request", message: "RFC 3339"},
		{name: "plan not JSON", method: "POST", path: "/api/v1/plan", body: "image=img-2", status: 400, code: "bad_request"},
		{name: "plan unknown field", method: "POST", path: "/api/v1/plan", body: `{"image": "img-2", "fleets": "a", "fleet": "a"}`, status: 400, code: "bad_request", message: "fleet"},
		{name: "plan two objects", method: "POST", path: "/api/v1/plan", body: `{"image": "img-2", "fleets": "a"} {}`, status: 400, code: "bad_request"},
		{name: "plan without image", method: "POST", path: "/api/v1/plan", body: `{"fleets": "a"}`, status: 400, code: "bad_request", message: "needs image"},
		{name: "plan without anything", method: "POST", path: "/api/v1/plan", body: `{}`, status: 400, code: "bad_request", message: "image and fleets"},
		{name: "plan negative waves", method: "POST", path: "/api/v1/plan", body: `{"image": "i", "fleets": "a", "waves": -1}`, status: 400, code: "bad_request"},
		{name: "plan of an unknown image", method: "POST", path: "/api/v1/plan", body: `{"image": "i", "fleets": "a"}`, status: 404, code: "not_found", message: `image "i"`,
			setup: func(_ *api.Server, _ *fakeStore, _ *fakeFleets, pl *fakePlanner) {
				pl.err = fmt.Errorf("plan: %w", api.Errorf(404, "image %q does not exist", "i"))
			}},
		{name: "plan fails", method: "POST", path: "/api/v1/plan", body: `{"image": "i", "fleets": "a"}`, status: 500, code: "internal", message: "boom",
			setup: func(_ *api.Server, _ *fakeStore, _ *fakeFleets, pl *fakePlanner) { pl.err = errors.New("boom") }},
		{name: "plan with rollouts off", method: "POST", path: "/api/v1/plan", body: `{"image": "i", "fleets": "a"}`, status: 409, code: "conflict", message: "rollouts.enabled",
			setup: func(s *api.Server, _ *fakeStore, _ *fakeFleets, _ *fakePlanner) { s.Planner = nil }},
		{name: "fleets with rollouts off", method: "GET", path: "/api/v1/fleets", status: 409, code: "conflict", message: "rollouts.enabled",
			setup: func(s *api.Server, _ *fakeStore, _ *fakeFleets, _ *fakePlanner) { s.Fleets = nil }},
		{name: "fleets unreadable", method: "GET", path: "/api/v1/fleets", status: 503, code: "unavailable", message: "throttled",
			setup: func(_ *api.Server, _ *fakeStore, fl *fakeFleets, _ *fakePlanner) { fl.err = errors.New("throttled") }},
		{name: "targets unreadable", method: "GET", path: "/api/v1/fleets", status: 503, code: "unavailable", message: "scalable targets",
			setup: func(_ *api.Server, _ *fakeStore, fl *fakeFleets, _ *fakePlanner) {
				fl.targetsErr = errors.New("denied")
			}},
		{name: "store down", method: "GET", path: "/api/v1/rollouts", status: 500, code: "internal", message: "database is locked",
			setup: func(_ *api.Server, st *fakeStore, _ *fakeFleets, _ *fakePlanner) { st.err = storeDown }},
		{name: "store down, saved capacity", method: "GET", path: "/api/v1/saved-capacity", status: 500, code: "internal",
			setup: func(_ *api.Server, st *fakeStore, _ *fakeFleets, _ *fakePlanner) { st.err = storeDown }},
		{name: "store down, pending resets", method: "GET", path: "/api/v1/resets/pending", status: 500, code: "internal",
			setup: func(_ *api.Server, st *fakeStore, _ *fakeFleets, _ *fakePlanner) { st.err = storeDown }},
		{name: "approve without a token", method: "POST", path: "/api/v1/rollouts/7/approve", status: 401, code: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, fl, _, pl := newServer()
			if tt.setup != nil {
				tt.setup(s, st, fl, pl)
			}
			a := do(t, serve(t, s), tt.method, tt.path, nil, tt.body)
			msg := wantError(t, a, tt.status, tt.code)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("message %q lacks %q", msg, tt.message)
			}
			if got := a.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
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
func TestServer_mutating_noToken(t *testing.T) {
	s, _, _, rq, _ := newServer()
	s.Token = ""
	srv := serve(t, s)
	for _, m := range mutating {
		for _, h := range []map[string]string{nil, bearer(""), bearer(token)} {
			msg := wantError(t, do(t, srv, "POST", m.path, h, ""), http.StatusForbidden, "forbidden")
			if !strings.Contains(msg, "server.token") || !strings.Contains(msg, "DESKPILOT_TOKEN") {
				t.Errorf("POST %s: message %q does not say how to set a token", m.path, msg)
			}
		}
	}
	if calls := rq.requests(); len(calls) != 0 {
		t.Errorf("the controller got %v", calls)
	}
}

func TestServer_mutating_bearer(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		ok     bool
	}{
		{"no header", nil, false},
		{"empty bearer", bearer(""), false},
		{"wrong token", bearer("s3cret-t0kem"), false},
		{"a prefix of the token", bearer(token[:5]), false},
		{"the token and more", bearer(token + "x"), false},
		{"another scheme", map[string]string{"Authorization": "Basic " + token}, false},
		{"the token alone", map[string]string{"Authorization": token}, false},
		{"the token", bearer(token), true},
		{"the scheme in lower case", map[string]string{"Authorization": "bearer " + token}, true},
	}
	for _, m := range mutating {
		for _, tt := range tests {
			t.Run(m.path+"/"+tt.name, func(t *testing.T) {
				s, _, _, rq, _ := newServer()
				rq.ro = rollout.Rollout{ID: 7, State: rollout.Running}
				a := do(t, serve(t, s), "POST", m.path, tt.header, "")
				if tt.ok {
					if a.code != http.StatusOK {
						t.Fatalf("status %d, want 200 (body %q)", a.code, a.body)
					}
					if calls := rq.requests(); len(calls) != 1 || calls[0].Kind != m.kind || calls[0].ID != 7 {
						t.Errorf("the controller got %v, want one %s of 7", calls, m.kind)
					}
					return
				}
				wantError(t, a, http.StatusUnauthorized, "unauthorized")
				if got := a.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("WWW-Authenticate %q, want Bearer", got)
				}
				if calls := rq.requests(); len(calls) != 0 {
					t.Errorf("the controller got %v", calls)
				}
			})
		}
	}
}

// Each of the controller's answers has its status and code; a success is the rollout as
// committed, with its waves and events.
func TestServer_mutating_request(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		{"done", nil, 200, "", ""},
		{"no rollout", fmt.Errorf("%w: rollout 7", rollout.ErrNoRollout), 404, "not_found", "rollout 7 does not exist"},
		{"conflict", fmt.Errorf("%w: rollout 7 has ended (succeeded)", rollout.ErrConflict), 409, "conflict", "rollout 7 has ended (succeeded)"},
		{"store failed", errors.New("database is locked"), 500, "internal", "database is locked"},
	}
	for _, m := range mutating {
		for _, tt := range tests {
			t.Run(m.path+"/"+tt.name, func(t *testing.T) {
				s, st, _, rq, _ := newServer()
				rq.ro, rq.err = st.rollouts[1], tt.err
				a := do(t, serve(t, s), "POST", m.path, bearer(token), "")
				if diff := cmp.Diff([]requestCall{{7, m.kind, "api"}}, rq.requests()); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
				if tt.err != nil {
					if msg := wantError(t, a, tt.status, tt.code); msg != tt.message {
						t.Errorf("message %q, want %q", msg, tt.message)
					}
					return
				}
				var got api.RolloutDetail
				if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.code != 200 {
					t.Fatalf("%d %q: %v", a.code, a.body, err)
				}
				if got.Rollout.ID != 2 || len(got.Waves) != 2 || len(got.Events) != 3 {
					t.Errorf("answer %+v, want rollout 2 with its 2 waves and 3 events", got)
				}
			})
		}
	}
}

func TestServer_mutating_badID(t *testing.T) {
	s, _, _, rq, _ := newServer()
	srv := serve(t, s)
	for _, id := range []string{"abc", "7x", "1.5", "-3", "99999999999999999999"} {
		for _, action := range []string{"approve", "cancel", "rollback"} {
			wantError(t, do(t, srv, "POST", "/api/v1/rollouts/"+id+"/"+action, bearer(token), ""), 400, "bad_request")
		}
	}
	// The token is checked first: a bad id says nothing to a caller without it.
	wantError(t, do(t, srv, "POST", "/api/v1/rollouts/abc/approve", nil, ""), 401, "unauthorized")
	s.Requests = nil
	msg := wantError(t, do(t, serve(t, s), "POST", "/api/v1/rollouts/1/approve", bearer(token), ""), 409, "conflict")
	if !strings.Contains(msg, "rollouts.enabled") {
		t.Errorf("rollouts off: message %q does not name rollouts.enabled", msg)
	}
	if calls := rq.requests(); len(calls) != 0 {
		t.Errorf("the controller got %v", calls)
	}
}

// The request records who asked: "api", or "api:" and the user header, trimmed, without
// control characters, cut to 64 characters.
func TestServer_requestedBy(t *testing.T) {
	tests := []struct{ user, want string }{
		{"", "api"},
		{"   ", "api"},
		{"alice", "api:alice"},
		{"  alice@example.com ", "api:alice@example.com"},
		{"al\tice\t", "api:alice"},
		{strings.Repeat("ü", 70), "api:" + strings.Repeat("ü", 64)},
		{strings.Repeat("b", 63) + " c", "api:" + strings.Repeat("b", 63)},
	}
	for _, tt := range tests {
		s, _, _, rq, _ := newServer()
		h := bearer(token)
		if tt.user != "" {
			h[api.UserHeader] = tt.user
		}
		do(t, serve(t, s), "POST", "/api/v1/rollouts/1/approve", h, "")
		if calls := rq.requests(); len(calls) != 1 || calls[0].By != tt.want {
			t.Errorf("%s %q: the controller got %v, want by %q", api.UserHeader, tt.user, calls, tt.want)
		}
	}
}

func TestServer_rolloutsFilter(t *testing.T) {
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{4, 3, 2, 1}},
		{"?limit=2", []int64{4, 3}},
		{"?state=active", []int64{3, 2}},
		{"?state=pending", []int64{3}},
		{"?state=succeeded,refused", []int64{4, 1}},
		{"?state=running,%20refused", []int64{4, 2}},
		{"?image=img-2", []int64{4, 2}},
		{"?image=img-2&state=active", []int64{2}},
		{"?image=img-2&limit=1", []int64{4}},
		{"?image=nope", []int64{}},
	}
	s, _, _, _, _ := newServer()
	srv := serve(t, s)
	for _, tt := range tests {
		a := do(t, srv, "GET", "/api/v1/rollouts"+tt.query, nil, "")
		var got api.RolloutList
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatalf("%s: %v: %s", tt.query, err, a.body)
		}
		ids := []int64{}
		for _, r := range got.Rollouts {
			ids = append(ids, r.ID)
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("GET /api/v1/rollouts%s (-want +got):\n%s", tt.query, diff)
		}
	}
}

func TestServer_readyz(t *testing.T) {
	fresh := api.LoopStatus{Name: "rollouts", LastOK: t0.Add(-2 * time.Second), Interval: 10 * time.Second}
	tests := []struct {
		name   string
		setup  func(s *api.Server, st *fakeStore)
		ready  bool
		checks []api.ReadinessCheck
	}{
		{"all well", func(s *api.Server, _ *fakeStore) {
			s.Loops = func() []api.LoopStatus { return []api.LoopStatus{fresh} }
			s.AWS = func(context.Context) error { return nil }
		}, true, []api.ReadinessCheck{
			{Name: "store", OK: true, Message: "writable"},
			{Name: "loop rollouts", OK: true, Message: "the latest good pass was 2s ago"},
			{Name: "aws", OK: true, Message: "reachable"},
		}},
		{"store read-only", func(_ *api.Server, st *fakeStore) { st.pingErr = errors.New("attempt to write a readonly database") },
			false, []api.ReadinessCheck{{Name: "store", Message: "attempt to write a readonly database"}}},
		{"AWS unreachable", func(s *api.Server, _ *fakeStore) {
			s.AWS = func(context.Context) error { return errors.New("no route to host") }
		},
			false, []api.ReadinessCheck{{Name: "store", OK: true, Message: "writable"}, {Name: "aws", Message: "no route to host"}}},
		{"a stale loop", func(s *api.Server, _ *fakeStore) {
			s.Loops = func() []api.LoopStatus {
				return []api.LoopStatus{fresh, {Name: "resets", LastOK: t0.Add(-200 * time.Second), Interval: time.Minute, LastError: "denied"}}
			}
		}, false, []api.ReadinessCheck{
			{Name: "store", OK: true, Message: "writable"},
			{Name: "loop rollouts", OK: true, Message: "the latest good pass was 2s ago"},
			{Name: "loop resets", Message: "the latest good pass was 3m20s ago (more than 3m0s); the latest pass failed: denied"},
		}},
		{"a loop that just failed is still ready, and says so", func(s *api.Server, _ *fakeStore) {
			s.Loops = func() []api.LoopStatus {
				return []api.LoopStatus{{Name: "resets", LastOK: t0.Add(-20 * time.Second), Interval: time.Minute, LastError: "throttled"}}
			}
		}, true, []api.ReadinessCheck{
			{Name: "store", OK: true, Message: "writable"},
			{Name: "loop resets", OK: true, Message: "the latest good pass was 20s ago (ready until 3m0s without a good pass), but the latest pass failed: throttled"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, _, _, _ := newServer()
			tt.setup(s, st)
			a := do(t, serve(t, s), "GET", "/readyz", nil, "")
			want := http.StatusOK
			if !tt.ready {
				want = http.StatusServiceUnavailable
			}
			var got api.Readiness
			if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.code != want {
				t.Fatalf("%d %s (%v), want %d", a.code, a.body, err, want)
			}
			if diff := cmp.Diff(api.Readiness{Ready: tt.ready, Checks: tt.checks}, got); diff != "" {
				t.Errorf("readiness (-want +got):\n%s", diff)
			}
		})
	}
	s, _, _, _, _ := newServer()
	if a := do(t, serve(t, s), "GET", "/healthz", nil, ""); a.code != 200 || a.body != "ok\n" {
		t.Errorf("GET /healthz: %d %q", a.code, a.body)
	}
}

func TestLoopCheck(t *testing.T) {
	tests := []struct {
		name string
		l    api.LoopStatus
		ok   bool
	}{
		{"never passed", api.LoopStatus{Interval: time.Second}, false},
		{"just passed", api.LoopStatus{LastOK: t0, Interval: time.Second}, true},
		{"within 3 intervals", api.LoopStatus{LastOK: t0.Add(-179 * time.Second), Interval: time.Minute}, true},
		{"past 3 intervals", api.LoopStatus{LastOK: t0.Add(-181 * time.Second), Interval: time.Minute}, false},
		{"a short interval counts as 5 s", api.LoopStatus{LastOK: t0.Add(-14 * time.Second), Interval: 200 * time.Millisecond}, true},
		{"past 15 s", api.LoopStatus{LastOK: t0.Add(-16 * time.Second), Interval: 200 * time.Millisecond}, false},
		{"failed once, passed recently", api.LoopStatus{LastOK: t0.Add(-time.Second), Interval: time.Minute, LastError: "throttled"}, true},
	}
	for _, tt := range tests {
		if got := api.LoopCheck(tt.l, t0); got.OK != tt.ok {
			t.Errorf("%s: %+v, want ok %v", tt.name, got, tt.ok)
		}
	}
}

// Fleets come sorted with their targets and the rollout holding each: the one whose step
// has started, else the oldest waiting; targets that could not be read are warnings.
func TestServer_fleets(t *testing.T) {
	s, _, fl, _, _ := newServer()
	fl.targetsErr = rollout.FleetErrors{"fleet-c": errors.New("throttled")}
	a := do(t, serve(t, s), "GET", "/api/v1/fleets", nil, "")
	var got api.FleetList
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name, Image string
		Target      *api.Bounds
		Rollout     *api.FleetRollout
		Errors      []string
	}
	var rows []row
	for _, f := range got.Fleets {
		rows = append(rows, row{f.Name, f.Image.Name, f.ScalableTarget, f.Rollout, f.Errors})
	}
	want := []row{
		{"fleet-a", "img-2", &api.Bounds{}, &api.FleetRollout{ID: 2, State: "running", Step: "draining"}, []string{}},
		{"fleet-b", "img-1", &api.Bounds{Min: 2, Max: 5}, &api.FleetRollout{ID: 2, State: "running", Step: "waiting"}, []string{}},
		{"fleet-c", "img-1", nil, &api.FleetRollout{ID: 3, State: "pending", Step: "waiting"}, []string{"IAM_SERVICE_ROLE_IS_MISSING: no role"}},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("fleets (-want +got):\n%s", diff)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "fleet-c") {
		t.Errorf("warnings %q, want one about fleet-c", got.Warnings)
	}
	if f := got.Fleets[0]; f.Capacity.InUse != 1 || f.Capacity.Running != 1 || f.Platform != "WINDOWS_SERVER_2022" || f.Type != "ON_DEMAND" {
		t.Errorf("fleet-a %+v", f)
	}
}

func TestServer_resets(t *testing.T) {
	s, st, _, _, _ := newServer()
	srv := serve(t, s)
	get := func(path string, v any) {
		t.Helper()
		a := do(t, srv, "GET", path, nil, "")
		if err := json.Unmarshal([]byte(a.body), v); err != nil || a.code != 200 {
			t.Fatalf("GET %s: %d %s", path, a.code, a.body)
		}
	}
	var list api.ResetList
	get("/api/v1/resets", &list) // the last 24 hours
	if !list.Since.Equal(t0.Add(-24*time.Hour)) || len(list.Resets) != 2 || list.Resets[0].Outcome != "logoff" || list.Truncated {
		t.Errorf("default: %+v", list)
	}
	get("/api/v1/resets?since=2026-02-01T00:00:00%2B01:00", &list)
	if len(list.Resets) != 3 || list.Since.Location() != time.UTC || list.Since.Hour() != 23 {
		t.Errorf("since February: %+v", list)
	}
	for i := range api.MaxResets + 5 {
		st.records = append(st.records, st.records[2])
		st.records[len(st.records)-1].WorkspaceID = fmt.Sprint("ws-", i)
	}
	get("/api/v1/resets", &list)
	if len(list.Resets) != api.MaxResets || !list.Truncated {
		t.Errorf("many: %d records, truncated %v", len(list.Resets), list.Truncated)
	}

	var pending api.PendingResetList
	get("/api/v1/resets/pending", &pending)
	var ids []string
	for _, p := range pending.Pending {
		ids = append(ids, p.WorkspaceID+"/"+p.Phase)
		if want := map[string]string{"ws-2": "a snapshot newer than the logoff"}[p.WorkspaceID]; p.Waiting != want {
			t.Errorf("pending %s waits for %q, want %q", p.WorkspaceID, p.Waiting, want)
		}
	}
	if diff := cmp.Diff([]string{"ws-3/grace", "ws-2/grace", "ws-4/inflight"}, ids); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}

	var saved api.SavedCapacityList
	get("/api/v1/saved-capacity", &saved)
	want := []api.SavedCapacity{{Account: "123456789012", Region: "us-east-1", Fleet: "fleet-a", Min: 3, Max: 8, RolloutID: ptr(int64(2)), SavedAt: t0}}
	if diff := cmp.Diff(want, saved.SavedCapacity); diff != "" {
		t.Errorf("saved (-want +got):\n%s", diff)
	}
}

// The plan passes the request on as written and answers the planner's result with its lists
// never null.
func TestServer_plan(t *testing.T) {
	s, _, _, _, pl := newServer()
	pl.res = api.PlanResult{Image: api.PlanImage{Name: "img-2"}, Refused: true, Reasons: []string{`fleet "nope" does not exist`}}
	a := do(t, serve(t, s), "POST", "/api/v1/plan", nil,
		`{"image": "img-2", "fleets": "fleet-a/prefix:web-", "scale_immediately": true, "canary": "fleet-a", "waves": 2, "approval": "Manual"}`)
	want := []api.PlanRequest{{Image: "img-2", Fleets: "fleet-a/prefix:web-", ScaleImmediately: true, Canary: "fleet-a", Waves: 2, Approval: "Manual"}}
	if diff := cmp.Diff(want, pl.reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	var got api.PlanResult
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.code != 200 {
		t.Fatalf("%d %s", a.code, a.body)
	}
	wantRes := api.PlanResult{Image: api.PlanImage{Name: "img-2"}, Tags: map[string]string{}, Refused: true,
		Reasons: []string{`fleet "nope" does not exist`}, Steps: []api.PlanStep{}, Waves: []api.Wave{}, Supersedes: []int64{}, Notes: []string{}}
	if diff := cmp.Diff(wantRes, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}
