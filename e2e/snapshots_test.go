package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/sim"
)

// snapshotConfig resets tagged WorkSpaces only once a snapshot newer than the logoff exists.
const snapshotConfig = `
workspaces:
  reset:
    enabled: true
    grace: 15m
    poll_interval: 60s
    require_snapshot_after_logoff: true
`

func (h *harness) tracker(id string) reset.Tracked {
	h.t.Helper()
	ts, err := h.app.Store.Trackers(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return ts[id]
}

func (h *harness) wsInfo(id string) sim.WorkspaceInfo {
	h.t.Helper()
	info, err := h.sim.WorkspaceStatus(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

func (h *harness) wsState(id string) string {
	h.t.Helper()
	var w struct{ State string }
	if err := json.Unmarshal(h.wsInfo(id).Workspace, &w); err != nil {
		h.t.Fatal(err)
	}
	return w.State
}

// The seeded WorkSpaces have a snapshot taken at monday 17:00 and the next at 05:00 on
// Tuesday. Alice logs off at 17:31: her WorkSpace is rebuilt only after the 05:00 snapshot,
// so the rebuilt desktop has the files of her session.
func TestSnapshots_ResetWaitsForTheSnapshotAfterLogoff(t *testing.T) {
	h := newHarnessWith(t, monday, snapshotConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(30 * time.Minute)
	logoff := h.clock.Now()
	h.disconnect("ws-alice0001")
	h.run(2 * time.Hour) // far past the grace
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Fatalf("rebuilt %d times before a snapshot newer than the logoff existed", n)
	}
	if w := h.tracker("ws-alice0001").Waiting; !strings.Contains(w, "snapshot newer than the logoff") {
		t.Errorf("the waiting reset says %q", w)
	}
	next := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	h.runUntil("rebuilt", 12*time.Hour, func() bool { return h.rebuilds("ws-alice0001") > 0 })
	info := h.wsInfo("ws-alice0001")
	if len(info.Rebuilds) != 1 || info.Rebuilds[0].Before(next) || info.Rebuilds[0].After(next.Add(5*time.Minute)) {
		t.Errorf("rebuilds %v, want one within minutes of the snapshot at %v", info.Rebuilds, next)
	}
	if len(info.ResetFrom) != 1 || !info.ResetFrom[0].After(logoff) {
		t.Errorf("the user volume came back from the snapshot of %v, want one after the logoff at %v", info.ResetFrom, logoff)
	}
	recs := h.resetRecords("ws-alice0001")
	if last := recs[len(recs)-1]; last.Outcome != "reset" || !strings.Contains(last.Reason, "snapshot of 2026-11-24T05:00:00Z") {
		t.Errorf("last record %+v", last)
	}
	if w := h.tracker("ws-alice0001").Waiting; w != "" {
		t.Errorf("still waiting %q after the reset", w)
	}
}

// Without a snapshot newer than the logoff within max_snapshot_wait, the reset is skipped and
// recorded, and the WorkSpace is never rebuilt for that logoff.
func TestSnapshots_NoSnapshotWithinTheWaitSkips(t *testing.T) {
	h := newHarnessWith(t, monday, snapshotConfig+"    max_snapshot_wait: 2h\n", wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(30 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(14 * time.Hour) // past the next snapshot too
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Errorf("rebuilt %d times after the wait ran out", n)
	}
	recs := h.resetRecords("ws-alice0001")
	if last := recs[len(recs)-1]; last.Outcome != "skipped" || !strings.Contains(last.Reason, "max_snapshot_wait") {
		t.Errorf("records %+v, want the last one skipped for max_snapshot_wait", recs)
	}
}

// A WorkSpace in its first 12 hours has no snapshot and WorkSpaces refuses to rebuild it: the
// reset waits, says why, and happens once the first snapshot exists, with no refused call.
func TestSnapshots_YoungWorkspaceWaits(t *testing.T) {
	seed := wsEstate()
	seed.Workspaces[0].Age = "1h" // created 16:00: its first snapshot is at 04:00
	h := newHarnessWith(t, monday, resetConfig, seed)
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(30 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(time.Hour)
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Fatalf("rebuilt %d times", n)
	}
	if w := h.tracker("ws-alice0001").Waiting; !strings.Contains(w, "no snapshot yet") || !strings.Contains(w, "12 hours") {
		t.Errorf("the waiting reset says %q", w)
	}
	first := time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)
	h.runUntil("rebuilt", 12*time.Hour, func() bool { return h.rebuilds("ws-alice0001") > 0 })
	if at := h.wsInfo("ws-alice0001").Rebuilds[0]; at.Before(first) || at.After(first.Add(15*time.Minute)) {
		t.Errorf("rebuilt at %v, want soon after the first snapshot at %v", at, first)
	}
	for _, r := range h.resetRecords("ws-alice0001") {
		if r.Outcome == "failed" {
			t.Errorf("a refused rebuild was recorded: %+v", r)
		}
	}
	if n := h.sim.CountCalls(sim.ServiceWorkSpaces, "RebuildWorkspaces"); n != 1 {
		t.Errorf("%d RebuildWorkspaces calls, want 1 (none refused)", n)
	}
}

// interceptor stands between deskpilot and the emulator and sees deskpilot's WorkSpaces calls:
// before runs before the emulator gets the call, after once it answered; an error from after
// drops the connection, so that deskpilot never gets the answer.
type interceptor struct {
	target string
	mu     sync.Mutex
	before func(op string, body map[string]any)
	after  func(op string, body map[string]any) error
}

func (i *interceptor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op, isWS := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "WorkspacesService.")
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	i.mu.Lock()
	before, after := i.before, i.after
	i.mu.Unlock()
	if isWS && before != nil {
		before(op, body)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, i.target+r.URL.RequestURI(), bytes.NewReader(raw))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if isWS && after != nil && after(op, body) != nil {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (i *interceptor) set(before func(string, map[string]any), after func(string, map[string]any) error) {
	i.mu.Lock()
	i.before, i.after = before, after
	i.mu.Unlock()
}

// interceptedHarness is newHarnessWith whose daemon reaches the emulator through an
// interceptor.
func interceptedHarness(t *testing.T, extra string, seed sim.Seed) (*harness, *interceptor) {
	h := newHarnessWith(t, monday, extra, seed)
	ic := &interceptor{target: h.url}
	proxy := httptest.NewServer(ic)
	t.Cleanup(proxy.Close)
	h.cfg.AWS.Endpoint = proxy.URL
	h.restart()
	return h, ic
}

func isMaintenance(op string, body map[string]any, state string) bool {
	return op == "ModifyWorkspaceState" && body["WorkspaceState"] == state
}

// A user who tries to connect during the final re-check is refused (the WorkSpace is in
// ADMIN_MAINTENANCE), so no session is lost; the reset goes on, and afterwards the user can
// connect.
func TestSnapshots_ConnectDuringTheFinalRecheckIsRefused(t *testing.T) {
	h, ic := interceptedHarness(t, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(30 * time.Minute)
	h.disconnect("ws-alice0001")

	var tried []error
	held := false
	ic.set(func(op string, body map[string]any) {
		if isMaintenance(op, body, "ADMIN_MAINTENANCE") {
			held = true
		}
		if op == "DescribeWorkspacesConnectionStatus" && held && h.wsState("ws-alice0001") == sim.WorkspaceAdminMaintenance {
			tried = append(tried, h.sim.ConnectWorkspace("ws-alice0001"))
		}
	}, nil)
	h.run(20 * time.Minute)
	ic.set(nil, nil)

	if len(tried) != 1 {
		t.Fatalf("%d connection attempts during the final re-check, want 1 (was the WorkSpace held?)", len(tried))
	}
	var ce *sim.ControlError
	if !errors.As(tried[0], &ce) || ce.Status != http.StatusConflict || !strings.Contains(ce.Message, "ADMIN_MAINTENANCE") {
		t.Errorf("connecting during the re-check: %v, want a 409 naming ADMIN_MAINTENANCE", tried[0])
	}
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times, want 1", n)
	}
	h.run(30 * time.Minute)
	if s := h.wsState("ws-alice0001"); s != sim.WorkspaceAvailable {
		t.Fatalf("after the rebuild the WorkSpace is %s", s)
	}
	h.connect("ws-alice0001")
	if tr := h.tracker("ws-alice0001"); tr.Maintenance {
		t.Errorf("the maintenance mark is still set: %+v", tr)
	}
}

// A user who connects in the instant before the WorkSpace is held is seen by the final re-check:
// the WorkSpace goes back to AVAILABLE and is not rebuilt, and the user stays connected.
func TestSnapshots_ConnectJustBeforeTheHoldIsNotRebuilt(t *testing.T) {
	h, ic := interceptedHarness(t, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(30 * time.Minute)
	h.disconnect("ws-alice0001")

	connected := false
	ic.set(func(op string, body map[string]any) {
		if isMaintenance(op, body, "ADMIN_MAINTENANCE") && !connected {
			connected = true
			h.connect("ws-alice0001")
		}
	}, nil)
	h.run(20 * time.Minute)
	ic.set(nil, nil)
	if !connected {
		t.Fatal("deskpilot never put the WorkSpace in ADMIN_MAINTENANCE")
	}
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Errorf("rebuilt %d times with the user connected", n)
	}
	if s := h.wsState("ws-alice0001"); s != sim.WorkspaceAvailable {
		t.Errorf("left in %s", s)
	}
	if c := h.wsInfo("ws-alice0001").ConnectionState; c != sim.ConnectionConnected {
		t.Errorf("the user is %s", c)
	}
	recs := h.resetRecords("ws-alice0001")
	if last := recs[len(recs)-1]; last.Outcome != "cancelled" {
		t.Errorf("last record %+v, want cancelled", last)
	}
	// Her next logoff is handled like any other.
	h.disconnect("ws-alice0001")
	h.run(20 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times after the next logoff, want 1", n)
	}
}

// deskpilot stops right after the WorkSpace entered ADMIN_MAINTENANCE (the answer never came
// back): the intent was written first, so the restarted daemon puts it back to AVAILABLE and
// the reset happens once, later.
func TestSnapshots_CrashWhileHeldPutsTheWorkspaceBack(t *testing.T) {
	h, ic := interceptedHarness(t, resetConfig, wsEstate())
	h.expectErrors("ADMIN_MAINTENANCE", "back to AVAILABLE", "deskpilot stopped")
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(30 * time.Minute)
	h.disconnect("ws-alice0001")

	// The daemon is gone the moment its ADMIN_MAINTENANCE reached AWS: no answer comes back,
	// and nothing it sends reaches AWS any more.
	lost := errors.New("connection reset: deskpilot stopped")
	var gone atomic.Bool // set by the interceptor, on the emulator's HTTP goroutines
	ic.set(func(op string, body map[string]any) {}, func(op string, body map[string]any) error {
		if isMaintenance(op, body, "ADMIN_MAINTENANCE") {
			gone.Store(true)
		}
		if gone.Load() && op == "ModifyWorkspaceState" {
			return lost
		}
		return nil
	})
	h.runUntil("held", 30*time.Minute, gone.Load)
	if s := h.wsState("ws-alice0001"); s != sim.WorkspaceAdminMaintenance {
		t.Fatalf("the WorkSpace is %s, want ADMIN_MAINTENANCE (the call reached AWS)", s)
	}
	if tr := h.tracker("ws-alice0001"); !tr.Maintenance {
		t.Fatalf("the WorkSpace is held but the store does not say deskpilot may have held it: %+v", tr)
	}
	ic.set(nil, nil)
	h.restart()
	h.run(time.Minute)
	if s := h.wsState("ws-alice0001"); s == sim.WorkspaceAdminMaintenance {
		t.Fatalf("still in ADMIN_MAINTENANCE after the restart")
	}
	h.runUntil("rebuilt", 2*time.Hour, func() bool { return h.rebuilds("ws-alice0001") > 0 })
	h.run(3 * time.Hour)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times, want 1", n)
	}
	if s := h.wsState("ws-alice0001"); s != sim.WorkspaceAvailable {
		t.Errorf("ends %s", s)
	}
	if tr := h.tracker("ws-alice0001"); tr.Maintenance {
		t.Errorf("maintenance mark left set: %+v", tr)
	}
}
