package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// Regression tests for the scenarios a review found unsafe; each is described by its name.

func stepOf(h *harness, fleet string) rollout.Step {
	for _, r := range h.rollouts() {
		for _, s := range r.Steps {
			if s.Fleet == fleet {
				return s
			}
		}
	}
	return rollout.Step{}
}

func TestRegression_NoUpdateOrDrainAfterTheWindowClosed(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b", "ScaleImmediately": "True"})
	h.run(time.Minute)
	if err := h.sim.AddFault(sim.Fault{Service: "appstream", Operation: "UpdateFleet", ErrorCode: "ConcurrentModificationException"}); err != nil {
		t.Fatal(err)
	}
	h.run(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).Sub(h.clock.Now())) // Monday 08:00
	h.sim.ClearFaults()
	h.run(20 * time.Minute)
	if h.fleetImage("fleet-b") != "img-1" || h.wasDrained("fleet-b") {
		t.Errorf("fleet-b changed on Monday morning: image %s, drained %v", h.fleetImage("fleet-b"), h.wasDrained("fleet-b"))
	}
	if got := h.latestState(); got != rollout.Failed {
		t.Errorf("rollout %s, want failed", got)
	}
}

func TestRegression_PermanentTagFailureNeverRestoresZero(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b", "ScaleImmediately": "True"})
	h.run(time.Minute)
	if err := h.sim.AddFault(sim.Fault{Service: "appstream", Operation: "TagResource", ErrorCode: "AccessDeniedException"}); err != nil {
		t.Fatal(err)
	}
	h.run(8 * time.Hour)
	if got := h.target("fleet-b"); got != (rollout.Capacity{Min: 2, Max: 5}) {
		t.Errorf("fleet-b at %v, want its original 2/5", got)
	}
}

func TestRegression_StaleSavedCapacityIsNotRestored(t *testing.T) {
	h := newHarness(t, saturday, "")
	if err := h.app.Store.Apply(h.ctx, &rollout.Change{Save: &rollout.SavedCapacity{Fleet: "fleet-b", Min: 1, Max: 1}}); err != nil {
		t.Fatal(err)
	}
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if got := h.target("fleet-b"); got != (rollout.Capacity{Min: 2, Max: 5}) {
		t.Errorf("fleet-b at %v after the rollout, want its current 2/5, not the stale 1/1", got)
	}
}

func TestRegression_FleetDeletedMidDrainEndsTheRollout(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b", "ScaleImmediately": "True"})
	h.runUntil("fleet-b is drained", 8*time.Hour, func() bool {
		return stepOf(h, "fleet-b").State == rollout.StepDraining && h.target("fleet-b") == rollout.Capacity{}
	})
	if _, err := h.as.StopFleet(h.ctx, &appstream.StopFleetInput{Name: aws.String("fleet-b")}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.Advance(sim.DefaultTimings.FleetStop); err != nil {
		t.Fatal(err)
	}
	if _, err := h.as.DeleteFleet(h.ctx, &appstream.DeleteFleetInput{Name: aws.String("fleet-b")}); err != nil {
		t.Fatal(err)
	}
	h.run(2 * time.Hour)
	if got := h.latestState(); got != rollout.Failed {
		t.Errorf("rollout %s after the fleet vanished, want failed (not stuck)", got)
	}
	if saved, _ := h.app.Store.SavedCapacities(h.ctx); len(saved) != 1 || saved[0].Max != 5 {
		t.Errorf("saved capacity %+v, want fleet-b's 2/5 kept for a look", saved)
	}
}

// crashMidReset writes alice's WorkSpace as Resetting (the intent) as a crash before the call
// would leave it, with the daemon stopped.
func crashMidReset(t *testing.T, h *harness, mode reset.Mode) {
	t.Helper()
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(5 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(5 * time.Minute)
	ts, err := h.app.Store.Trackers(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := ts["ws-alice0001"]
	out, err := workspaces.NewFromConfig(h.awsConfig()).DescribeWorkspaces(h.ctx, &workspaces.DescribeWorkspacesInput{WorkspaceIds: []string{"ws-alice0001"}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Phase, tr.Mode, tr.ResetStartedAt, tr.IPBefore = reset.Resetting, mode, h.clock.Now(), aws.ToString(out.Workspaces[0].IpAddress)
	if err := h.app.Store.SaveResets(h.ctx, []reset.Tracked{tr}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.app.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRegression_RecoveryNeverRebuildsAConnectedWorkSpace(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	crashMidReset(t, h, reset.Rebuild)
	h.clock.Advance(3 * time.Hour)
	h.connect("ws-alice0001") // the user is back before deskpilot is
	h.start()
	h.run(time.Hour)
	if n := h.rebuilds("ws-alice0001"); n != 0 {
		t.Errorf("rebuilt %d times under a connected user", n)
	}
}

func TestRegression_RecoveryNeverRestoresTwice(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	crashMidReset(t, h, reset.Restore)
	// The call had gone through: AWS restored it, and it finished before deskpilot came back.
	if _, err := workspaces.NewFromConfig(h.awsConfig()).RestoreWorkspace(h.ctx, &workspaces.RestoreWorkspaceInput{WorkspaceId: aws.String("ws-alice0001")}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(40 * time.Minute)
	h.start()
	h.run(time.Hour)
	if info, _ := h.sim.WorkspaceStatus("ws-alice0001"); len(info.Restores) != 1 {
		t.Errorf("%d restores for one logoff, want 1", len(info.Restores))
	}
}

func TestRegression_SessionBetweenPollsRestartsTheGrace(t *testing.T) {
	h := newHarnessWith(t, monday, resetConfig, wsEstate())
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.run(5 * time.Minute)
	h.disconnect("ws-alice0001")
	h.run(14*time.Minute + 10*time.Second)
	h.connect("ws-alice0001") // back and gone again between two polls
	h.clock.Advance(30 * time.Second)
	h.disconnect("ws-alice0001")
	left := h.clock.Now()
	h.run(3 * time.Hour)
	info, _ := h.sim.WorkspaceStatus("ws-alice0001")
	if len(info.Rebuilds) != 1 {
		t.Fatalf("%d rebuilds, want 1", len(info.Rebuilds))
	}
	if gap := info.Rebuilds[0].Sub(left); gap < 15*time.Minute {
		t.Errorf("rebuilt %s after the user left, less than the grace", gap)
	}
}
