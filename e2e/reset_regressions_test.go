package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/sim"
)

// Regression tests for the WorkSpaces reset controller, from a fault campaign against the real
// daemon. The races are made deterministic by a hook that runs inside the emulator's handler,
// while the daemon waits for its answer.

// wsCall is an AWS WorkSpaces call as the daemon sent it: the operation and the members of its
// input the hooks look at.
type wsCall struct {
	Op           string
	ResourceId   string
	WorkspaceIds []string
	NextToken    *string
	Rebuilds     []struct{ WorkspaceId string } `json:"RebuildWorkspaceRequests"`
}

// about reports whether the call names the WorkSpace id.
func (c wsCall) about(id string) bool {
	if c.ResourceId == id || (len(c.WorkspaceIds) == 1 && c.WorkspaceIds[0] == id) {
		return true
	}
	return len(c.Rebuilds) == 1 && c.Rebuilds[0].WorkspaceId == id
}

// hookedHarness is a harness whose daemon reaches the emulator through a handler that calls
// hook with each WorkSpaces call before the emulator answers it. hook runs on the server's
// goroutine while the test's is blocked in Tick, so it may change the emulator and advance the
// clock, but must report problems with t.Errorf, not t.Fatal.
func hookedHarness(t *testing.T, start time.Time, extraConfig string, seed sim.Seed, hook func(wsCall)) *harness {
	t.Helper()
	h := newHarnessWith(t, start, extraConfig, seed)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "WorkspacesService."); ok {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("read %s: %v", op, err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			c := wsCall{Op: op}
			if err := json.Unmarshal(body, &c); err != nil {
				t.Errorf("decode %s: %v", op, err)
			}
			c.Op = op
			hook(c)
		}
		h.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// Nothing has run yet: reopen the daemon on the same (empty) store, through the hook.
	h.url, h.cfg.AWS.Endpoint = srv.URL, srv.URL
	h.restart()
	return h
}

// trigger arms a hook that fires one time.
type trigger struct {
	mu    sync.Mutex
	armed bool
}

func (o *trigger) arm() { o.mu.Lock(); o.armed = true; o.mu.Unlock() }

// fire reports whether the hook is armed, disarming it.
func (o *trigger) fire() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	fired := o.armed
	o.armed = false
	return fired
}

const aliceWS = "ws-alice0001"

// resetOnlyOnDue keeps the inventory's own tag reads out of the way: tags are read at the first
// poll, then only right before a reset.
const resetOnlyOnDue = "workspaces:\n  reset: {enabled: true, grace: 15m, poll_interval: 60s, inventory_interval: 24h}\n"

// instant is the hooked world's record of when the test changed a user's session.
type instant struct {
	mu sync.Mutex
	at time.Time
}

func (s *instant) set(t time.Time) { s.mu.Lock(); s.at = t; s.mu.Unlock() }
func (s *instant) get() time.Time  { s.mu.Lock(); defer s.mu.Unlock(); return s.at }

// The reset pass read the connection states of all due WorkSpaces first and then reset them one
// by one, so a user who logged on meanwhile was rebuilt under. Here alice logs on while the
// daemon reads her WorkSpace's tag, right before it would reset it.
func TestRegression_UserWhoLogsOnDuringThePassIsNotReset(t *testing.T) {
	var hook trigger
	var loggedOn instant
	var h *harness
	h = hookedHarness(t, monday, resetOnlyOnDue, wsEstate(), func(c wsCall) {
		if c.Op == "DescribeTags" && c.about(aliceWS) && hook.fire() {
			if err := h.sim.ConnectWorkspace(aliceWS); err != nil {
				t.Errorf("connect alice during the tag read: %v", err)
			}
			loggedOn.set(h.clock.Now())
		}
	})
	h.run(time.Minute)
	h.connect(aliceWS)
	h.run(5 * time.Minute)
	h.disconnect(aliceWS)
	h.run(5 * time.Minute) // the logoff is seen; the reset is due 15 min after it
	hook.arm()
	h.run(15 * time.Minute)
	if loggedOn.get().IsZero() {
		t.Fatal("the daemon never read alice's tag before resetting her WorkSpace")
	}
	info, err := h.sim.WorkspaceStatus(aliceWS)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Rebuilds) != 0 {
		t.Fatalf("rebuilt %s after alice logged on at %s, with her connected", info.Rebuilds[0].Sub(loggedOn.get()), loggedOn.get().Format(time.RFC3339Nano))
	}
	if info.ConnectionState != sim.ConnectionConnected {
		t.Errorf("alice's connection %s, want CONNECTED (untouched)", info.ConnectionState)
	}
	recs := h.resetRecords(aliceWS)
	if last := recs[len(recs)-1]; last.Outcome != string(history.Cancelled) {
		t.Errorf("last record %+v, want cancelled (she is connected)", last)
	}
	// She is tracked again: her next logoff is reset, trigger.
	h.disconnect(aliceWS)
	h.run(3 * time.Hour)
	if n := h.rebuilds(aliceWS); n != 1 {
		t.Errorf("%d rebuilds after alice logged off again, want 1", n)
	}
}

// A user who connects in the instant between the last connection read and the reset call is
// disconnected by the rebuild. That session must not count as a new logoff: it used to, and the
// desktop was rebuilt a second time.
func TestRegression_SessionEndedByTheResetIsNotALogoff(t *testing.T) {
	var hook trigger
	var h *harness
	h = hookedHarness(t, monday, resetOnlyOnDue, wsEstate(), func(c wsCall) {
		if c.Op == "RebuildWorkspaces" && c.about(aliceWS) && hook.fire() {
			if err := h.sim.ConnectWorkspace(aliceWS); err != nil {
				t.Errorf("connect alice before the rebuild: %v", err)
			}
		}
	})
	hook.arm()
	h.run(time.Minute)
	h.connect(aliceWS)
	h.run(5 * time.Minute)
	h.disconnect(aliceWS)
	h.run(30 * time.Minute)
	if n := h.rebuilds(aliceWS); n != 1 {
		t.Fatalf("%d rebuilds after the grace, want 1", n)
	}
	if hook.fire() {
		t.Fatal("the rebuild call was not hooked")
	}
	h.run(4 * time.Hour)
	info, err := h.sim.WorkspaceStatus(aliceWS)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Rebuilds) != 1 {
		t.Errorf("rebuilt at %v: the session the first rebuild ended counted as a new logoff", info.Rebuilds)
	}
	var logoffs int
	for _, r := range h.resetRecords(aliceWS) {
		if r.Outcome == string(history.Logoff) {
			logoffs++
		}
	}
	if logoffs != 1 {
		t.Errorf("%d logoffs recorded, want 1: %+v", logoffs, h.resetRecords(aliceWS))
	}
}

// A logoff found late in a poll (here, on its second page, 3 s after the poll began) was
// stamped with the poll's start, so the reset came 2 s into a 5 s grace and the logoff record
// was dated before the logoff.
func TestRegression_GraceCountsFromWhenTheLogoffWasSeen(t *testing.T) {
	const grace = 5 * time.Second
	seed := wsEstate()
	// 25 WorkSpaces sorted before alice's fill the first page of DescribeWorkspacesConnectionStatus.
	for i := range 25 {
		seed.Workspaces = append(seed.Workspaces, sim.WorkspaceSpec{WorkspaceId: fmt.Sprintf("ws-aaaa%05d", i), DirectoryId: "d-1234567890", UserName: fmt.Sprintf("filler%02d", i), BundleId: "wsb-1234567890"})
	}
	var hook trigger
	var loggedOff instant
	var h *harness
	h = hookedHarness(t, monday, "workspaces:\n  reset: {enabled: true, grace: 5s, poll_interval: 60s, inventory_interval: 24h}\n", seed, func(c wsCall) {
		if c.Op == "DescribeWorkspacesConnectionStatus" && c.WorkspaceIds == nil && c.NextToken != nil && hook.fire() {
			h.clock.Advance(3 * time.Second) // the first page took its time
			if err := h.sim.DisconnectWorkspace(aliceWS); err != nil {
				t.Errorf("disconnect alice during the poll: %v", err)
			}
			loggedOff.set(h.clock.Now())
		}
	})
	h.run(time.Minute)
	h.connect(aliceWS)
	h.run(2 * time.Minute)
	hook.arm()
	// Pass by pass, with the clock moved exactly to each pass's due time.
	for end := h.clock.Now().Add(10 * time.Minute); h.rebuilds(aliceWS) == 0; {
		if !h.clock.Now().Before(end) {
			t.Fatal("alice's WorkSpace was not rebuilt within 10 min of her logoff")
		}
		next, err := h.app.Tick(h.ctx)
		if err != nil {
			t.Fatalf("tick at %s: %v", h.clock.Now().Format(time.RFC3339Nano), err)
		}
		h.clock.Advance(max(next.Sub(h.clock.Now()), time.Millisecond))
	}
	off := loggedOff.get()
	if off.IsZero() {
		t.Fatal("the poll had no second page")
	}
	info, err := h.sim.WorkspaceStatus(aliceWS)
	if err != nil {
		t.Fatal(err)
	}
	if gap := info.Rebuilds[0].Sub(off); gap < grace {
		t.Errorf("rebuilt %s after alice logged off, inside the %s grace", gap, grace)
	}
	for _, r := range h.resetRecords(aliceWS) {
		if r.Outcome == string(history.Logoff) && r.At.Before(off.Truncate(time.Millisecond)) {
			t.Errorf("logoff recorded at %s, before it happened (%s)", r.At.Format(time.RFC3339Nano), off.Format(time.RFC3339Nano))
		}
	}
}

// The digest watermark kept nanoseconds and the records milliseconds, so a record written in
// the pass that sent a digest was listed in it and again in the next. The clock here has a
// sub-millisecond part, as the wall clock does.
func TestRegression_DigestListsEachResetOnce(t *testing.T) {
	start := monday.Add(500 * time.Microsecond)
	h := newHarnessWith(t, start, "workspaces:\n  reset: {enabled: true, grace: 15m, poll_interval: 60s, digest_interval: 1h}\n", wsEstate())
	h.run(time.Minute)
	h.connect(aliceWS)
	// She logs off at 44:30; the poll at 45:00 sees it, so the reset is due at 1:00:00, in the
	// pass that sends the first digest.
	h.run(43*time.Minute + 30*time.Second)
	h.disconnect(aliceWS)
	h.run(4 * time.Hour)
	info, err := h.sim.WorkspaceStatus(aliceWS)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Rebuilds) != 1 || !info.Rebuilds[0].Equal(start.Add(time.Hour)) {
		t.Fatalf("rebuilds %v, want one at the first digest's pass %s", info.Rebuilds, start.Add(time.Hour))
	}
	var listed []string
	resets := 0
	for _, m := range h.sim.Messages() {
		var n, skipped, failed int
		if _, err := fmt.Sscanf(m.Subject, "WorkSpaces reset: %d reset, %d skipped, %d failed", &n, &skipped, &failed); err == nil {
			resets += n
			listed = append(listed, m.Time.Format(time.TimeOnly)+" "+m.Subject)
		}
	}
	if resets != 1 {
		t.Errorf("the one reset was listed %d times, in the digests %q", resets, listed)
	}
}
