package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/sim"
)

// monday is a working day, 17:00 UTC, when users log off.
var monday = time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)

const resetConfig = `
workspaces:
  reset:
    enabled: true
    grace: 15m
    poll_interval: 60s
`

// wsEstate has a tagged ALWAYS_ON WorkSpace (alice), an untagged one (bob) and a tagged
// AUTO_STOP one (carol).
func wsEstate() sim.Seed {
	return sim.Seed{
		VerifiedEmailIdentities: []string{"deskpilot@example.com"},
		Workspaces: []sim.WorkspaceSpec{
			{WorkspaceId: "ws-alice0001", DirectoryId: "d-1234567890", UserName: "alice", BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"}},
			{WorkspaceId: "ws-bob000001", DirectoryId: "d-1234567890", UserName: "bob", BundleId: "wsb-1234567890"},
			{WorkspaceId: "ws-carol0001", DirectoryId: "d-1234567890", UserName: "carol", BundleId: "wsb-1234567890", RunningMode: "AUTO_STOP", Tags: map[string]string{"deskpilot:reset": "rebuild"}},
		},
	}
}

func (h *harness) connect(id string) {
	h.t.Helper()
	if err := h.sim.ConnectWorkspace(id); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) disconnect(id string) {
	h.t.Helper()
	if err := h.sim.DisconnectWorkspace(id); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) rebuilds(id string) int {
	h.t.Helper()
	info, err := h.sim.WorkspaceStatus(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(info.Rebuilds)
}

func (h *harness) resetRecords(id string) []reset.Record {
	h.t.Helper()
	all, err := h.app.Store.Records(h.ctx, time.Time{}, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []reset.Record
	for _, r := range all {
		if r.WorkspaceID == id {
			out = append(out, r)
		}
	}
	return out
}

func TestReset_RebuiltOnceAfterTheGrace(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.connect("ws-bob000001")
	h.run(30 * time.Minute)
	h.disconnect("ws-alice0001")
	h.disconnect("ws-bob000001")
	h.run(12 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Fatalf("rebuilt %d times inside the grace period", n)
	}
	h.run(10 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Fatalf("alice's WorkSpace rebuilt %d times after the grace, want 1", n)
	}
	h.run(3 * time.Hour)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times for one logoff", n)
	}
	if n := h.rebuilds("ws-bob000001"); n != 0 {
		t.Errorf("untagged WorkSpace rebuilt %d times", n)
	}
	if n := h.mailCount("WorkSpaces reset: 1 reset"); n != 1 {
		t.Errorf("digest mail: %q", h.subjects())
	}
}

func TestReset_ReconnectWithinTheGraceCancels(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(5 * time.Minute)
	h.disconnect("ws-alice0001") // a network blip
	h.run(3 * time.Minute)
	h.connect("ws-alice0001")
	h.run(2 * time.Hour)
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Errorf("rebuilt %d times although the user came back", n)
	}
	recs := h.resetRecords("ws-alice0001")
	if len(recs) != 2 || recs[0].Outcome != "logoff" || recs[1].Outcome != "cancelled" {
		t.Errorf("records %+v, want logoff then cancelled", recs)
	}
}

// With a poll interval longer than the grace, the user's return is noticed only by the
// re-check made right before acting.
func TestReset_ConnectedAtTheRecheckIsNotRebuilt(t *testing.T) {
	h := newHarnessWith(t, monday, "workspaces:\n  reset: {enabled: true, grace: 5m, poll_interval: 30m}\n", wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(time.Minute)
	h.disconnect("ws-alice0001")
	h.run(30 * time.Minute) // the next poll sees a session that ended: due 5 min later
	h.connect("ws-alice0001")
	h.run(10 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Fatalf("rebuilt %d times while the user was connected", n)
	}
	recs := h.resetRecords("ws-alice0001")
	if last := recs[len(recs)-1]; last.Outcome != "cancelled" || last.Reason != "the user is connected again" {
		t.Errorf("last record %+v, want cancelled at the re-check", last)
	}
}

func TestReset_StoppedAutoStopWorkspaceIsRebuilt(t *testing.T) {
	h := newHarnessWith(t, monday, "workspaces:\n  reset: {enabled: true, grace: 90m, poll_interval: 60s}\n", wsEstate())
	h.run(time.Minute)
	h.connect("ws-carol0001")
	h.run(10 * time.Minute)
	h.disconnect("ws-carol0001")
	h.run(75 * time.Minute)
	if info, _ := h.sim.WorkspaceStatus("ws-carol0001"); info.ConnectionState != "UNKNOWN" {
		t.Fatalf("AUTO_STOP WorkSpace connection %s after its timeout, want UNKNOWN (stopped)", info.ConnectionState)
	}
	h.run(30 * time.Minute)
	if n := h.rebuilds("ws-carol0001"); n != 1 {
		t.Errorf("stopped AUTO_STOP WorkSpace rebuilt %d times, want 1", n)
	}
}

func TestReset_RefusedStateIsRetriedLater(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(5 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(time.Minute)
	if err := h.sim.SetWorkspaceState("ws-alice0001", "MAINTENANCE"); err != nil {
		t.Fatal(err)
	}
	h.run(40 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Fatalf("rebuilt in MAINTENANCE")
	}
	if err := h.sim.SetWorkspaceState("ws-alice0001", "AVAILABLE"); err != nil {
		t.Fatal(err)
	}
	h.run(5 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times once AVAILABLE again, want 1", n)
	}
}

func TestReset_RestartMidGraceStillRebuildsOnce(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(5 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(5 * time.Minute)
	h.restart()
	h.run(5 * time.Minute)
	h.restart()
	h.run(2 * time.Hour)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times across restarts, want 1", n)
	}
}

func TestReset_RestoreModeAndQuietHours(t *testing.T) {
	seed := wsEstate()
	seed.Workspaces[0].Tags = map[string]string{"deskpilot:reset": "restore"}
	// Quiet hours 17:30-18:30 UTC: a logoff at 17:06 is due at 17:21, before them; the next
	// logoff, after the restore (about 17:43), is due inside them and waits until 18:30.
	h := newHarnessWith(t, monday, "workspaces:\n  reset: {enabled: true, grace: 15m, poll_interval: 60s, quiet_hours: \"mon:17:30-mon:18:30\"}\n", seed)
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(5 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(18 * time.Minute)
	info, err := h.sim.WorkspaceStatus("ws-alice0001")
	if err != nil || len(info.Restores) != 1 || len(info.Rebuilds) != 0 {
		t.Fatalf("restores %v, rebuilds %v (%v); want one restore", info.Restores, info.Rebuilds, err)
	}
	h.runUntil("the restore finished", time.Hour, func() bool {
		info, _ := h.sim.WorkspaceStatus("ws-alice0001")
		return info.ConnectionState != "UNKNOWN" && !strings.Contains(string(info.Workspace), "RESTORING")
	})
	h.connect("ws-alice0001")
	h.run(time.Minute)
	h.disconnect("ws-alice0001")
	h.run(40 * time.Minute)
	if info, _ := h.sim.WorkspaceStatus("ws-alice0001"); len(info.Restores) != 1 {
		t.Fatalf("restored during quiet hours (%d restores)", len(info.Restores))
	}
	h.run(30 * time.Minute)
	if info, _ := h.sim.WorkspaceStatus("ws-alice0001"); len(info.Restores) != 2 {
		t.Errorf("%d restores after the quiet hours ended, want 2", len(info.Restores))
	}
}
