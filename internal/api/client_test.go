package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

func client(srv *httptest.Server, tok string) *api.Client {
	return &api.Client{BaseURL: srv.URL, Token: tok, HTTP: srv.Client()}
}

// Each method reads its endpoint's DTO.
func TestClient_methods(t *testing.T) {
	s, st, _, rq, pl := newServer()
	s.Loops = func() []api.LoopStatus { return []api.LoopStatus{{Name: "scan", LastOK: t0, Interval: time.Minute}} }
	srv := serve(t, s)
	c := client(srv, token)
	c.User = "alice"
	ctx := t.Context()

	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz: %v", err)
	}
	ready, err := c.Ready(ctx)
	if err != nil || !ready.Ready || len(ready.Checks) != 2 {
		t.Errorf("Ready: %+v, %v", ready, err)
	}
	fleets, err := c.Fleets(ctx)
	if err != nil || len(fleets.Fleets) != 3 || fleets.Fleets[1].ScalableTarget.Max != 5 {
		t.Errorf("Fleets: %+v, %v", fleets, err)
	}
	list, err := c.Rollouts(ctx, api.RolloutFilter{State: "active", Image: "img-3", Limit: 5})
	if err != nil || len(list.Rollouts) != 1 || list.Rollouts[0].ID != 3 {
		t.Errorf("Rollouts: %+v, %v", list, err)
	}
	d, err := c.Rollout(ctx, 2)
	if err != nil || d.Rollout.ID != 2 || len(d.Waves) != 2 || len(d.Events) != 3 || d.Rollout.Steps[0].SavedCapacity.Max != 8 {
		t.Errorf("Rollout: %+v, %v", d, err)
	}
	rq.ro = st.rollouts[1]
	for kind, call := range map[rollout.RequestKind]func(context.Context, int64) (api.RolloutDetail, error){
		rollout.RequestApprove: c.Approve, rollout.RequestCancel: c.Cancel, rollout.RequestRollback: c.Rollback,
	} {
		rq.calls = nil
		d, err := call(ctx, 2)
		if err != nil || d.Rollout.ID != 2 {
			t.Errorf("%s: %+v, %v", kind, d, err)
		}
		if diff := cmp.Diff([]requestCall{{2, kind, "api:alice"}}, rq.requests()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", kind, diff)
		}
	}
	req := api.PlanRequest{Image: "img-2", Fleets: "fleet-a", Waves: 3}
	pl.res = api.PlanResult{Image: api.PlanImage{Name: "img-2"}, Steps: []api.PlanStep{{Fleet: "fleet-a", Wave: 1, Zone: "Europe/Berlin"}}}
	plan, err := c.Plan(ctx, req)
	if err != nil || len(plan.Steps) != 1 || plan.Steps[0].Zone != "Europe/Berlin" || pl.reqs[0] != req {
		t.Errorf("Plan: %+v, %v (requests %+v)", plan, err, pl.reqs)
	}
	resets, err := c.Resets(ctx, t0.Add(-90*time.Minute))
	if err != nil || len(resets.Resets) != 2 || !resets.Since.Equal(t0.Add(-90*time.Minute)) {
		t.Errorf("Resets: %+v, %v", resets, err)
	}
	if resets, err = c.Resets(ctx, time.Time{}); err != nil || !resets.Since.Equal(t0.Add(-api.DefaultResetsSince)) {
		t.Errorf("Resets (default): %+v, %v", resets, err)
	}
	pending, err := c.PendingResets(ctx)
	if err != nil || len(pending.Pending) != 3 {
		t.Errorf("PendingResets: %+v, %v", pending, err)
	}
	saved, err := c.SavedCapacity(ctx)
	if err != nil || len(saved.SavedCapacity) != 1 {
		t.Errorf("SavedCapacity: %+v, %v", saved, err)
	}
	// A daemon that is not ready answers its readiness, which is no error.
	st.pingErr = errors.New("disk full")
	if ready, err := c.Ready(ctx); err != nil || ready.Ready {
		t.Errorf("Ready (not ready): %+v, %v", ready, err)
	}
}

// The client's errors say in one line what is wrong and what to do.
func TestClient_errors(t *testing.T) {
	s, _, _, rq, _ := newServer()
	srv := serve(t, s)
	ctx := t.Context()

	tests := []struct {
		name   string
		call   func(c *api.Client) error
		token  string
		status int
		code   string
		want   []string // parts of err.Error()
	}{
		{"missing token", func(c *api.Client) error { _, err := c.Cancel(ctx, 1); return err }, "", 401, "unauthorized",
			[]string{"missing bearer token", "DESKPILOT_TOKEN"}},
		{"wrong token", func(c *api.Client) error { _, err := c.Cancel(ctx, 1); return err }, "nope", 401, "unauthorized",
			[]string{"wrong bearer token", "DESKPILOT_TOKEN"}},
		{"unknown rollout", func(c *api.Client) error { _, err := c.Rollout(ctx, 42); return err }, token, 404, "not_found",
			[]string{"rollout 42 does not exist"}},
		{"a conflict", func(c *api.Client) error {
			rq.err = fmt.Errorf("%w: rollout 1 has ended (succeeded)", rollout.ErrConflict)
			_, err := c.Cancel(ctx, 1)
			return err
		}, token, 409, "conflict", []string{"rollout 1 has ended (succeeded)"}},
		{"a bad filter", func(c *api.Client) error { _, err := c.Rollouts(ctx, api.RolloutFilter{State: "done"}); return err }, token, 400, "bad_request",
			[]string{`state "done"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(client(srv, tt.token))
			e, ok := api.AsError(err)
			if !ok {
				t.Fatalf("error %v (%T), want an *api.Error", err, err)
			}
			if e.Status != tt.status || e.Code != tt.code {
				t.Errorf("error %+v, want %d %s", e, tt.status, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
	if !api.IsNotFound(fmt.Errorf("x: %w", &api.Error{Status: 404})) || api.IsConflict(errors.New("x")) {
		t.Error("IsNotFound/IsConflict")
	}

	s.Token = ""
	_, err := client(serve(t, s), token).Approve(ctx, 1)
	if e, ok := api.AsError(err); !ok || e.Status != 403 || !strings.Contains(err.Error(), "DESKPILOT_TOKEN") {
		t.Errorf("no token on the daemon: %v", err)
	}
}

func TestClient_unreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	for _, base := range []string{"http://" + addr, addr, "http://" + addr + "/"} {
		c := &api.Client{BaseURL: base}
		_, err := c.Rollouts(t.Context(), api.RolloutFilter{})
		var ue *api.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: error %v (%T), want an *api.UnreachableError", base, err, err)
		}
		msg := err.Error()
		for _, w := range []string{"cannot reach deskpilot at http://" + addr + ":", "refused", `is "deskpilot serve" running?`, "DESKPILOT_SERVER"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", base, msg, w)
			}
		}
		if strings.Count(msg, addr) != 2 || strings.Contains(msg, "\n") { // the URL and the dial error, no more
			t.Errorf("%s: error %q", base, msg)
		}
	}
	// A cancelled request is not the daemon's fault.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := (&api.Client{BaseURL: "http://" + addr}).Fleets(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// Something that is not deskpilot's API (a proxy, another server) gives an *api.Error with its
// status and the start of its body.
func TestClient_notTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/fleets" {
			_, _ = w.Write([]byte("<html>hello</html>"))
			return
		}
		http.Error(w, "<html><body>502 Bad Gateway</body></html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := client(srv, "")
	_, err := c.Rollouts(t.Context(), api.RolloutFilter{})
	e, ok := api.AsError(err)
	if !ok || e.Status != 502 || !strings.Contains(e.Message, "502 Bad Gateway") || !strings.Contains(e.Message, srv.URL) {
		t.Errorf("error %#v", err)
	}
	if _, err := c.Fleets(t.Context()); err == nil || !strings.Contains(err.Error(), "not its JSON") {
		t.Errorf("a 200 that is not JSON: %v", err)
	}
}
