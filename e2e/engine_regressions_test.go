package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// Defect 1 of the fault campaign: a fleet already at 0/0 (an earlier tool, or deskpilot's lost
// store, left it there with its Min/Max in tags) that already runs the image was "skipped" before
// any capacity check, so it stayed at 0/0 while the rollout mailed "rolled out".
func TestRegression_ZeroFleetAlreadyOnTheImageIsRestored(t *testing.T) {
	for _, scale := range []string{"True", ""} {
		t.Run("ScaleImmediately="+scale, func(t *testing.T) {
			seed := estate
			seed.Fleets = append([]sim.SeedFleet(nil), estate.Fleets...)
			seed.Fleets[1].ImageName = "img-2" // fleet-b already runs the new image
			h := newHarnessWith(t, saturday, "", seed)
			if _, err := h.as.TagResource(h.ctx, tagIn(fleetARN("fleet-b"), map[string]string{"Min": "2", "Max": "5", "Status": "Pending"})); err != nil {
				t.Fatal(err)
			}
			setTarget(t, h, "fleet-b", 0, 0)
			tags := map[string]string{"FleetName": "fleet-b"}
			if scale != "" {
				tags["ScaleImmediately"] = scale
			}
			h.tagImage("img-2", tags)
			h.runUntil("the rollout finished", 8*time.Hour, func() bool { return !h.latestState().Active() && h.latestState() != "" })
			if got := h.target("fleet-b"); got != (rollout.Capacity{Min: 2, Max: 5}) {
				t.Errorf("fleet-b is at %v after the rollout (%s), want its Min/Max 2/5 back", got, h.latestState())
			}
			if tags := h.tags(fleetARN("fleet-b")); len(tags) != 0 {
				t.Errorf("fleet-b keeps tags %v", tags)
			}
			if s := stepOf(h, "fleet-b"); s.State != rollout.StepDone {
				t.Errorf("fleet-b's step ended %s (%s), want done", s.State, s.Message)
			}
		})
	}
}

// Defect 1, second way in: the store is lost while a fleet is drained (the image already
// applied, Min/Max only in the fleet's tags) and the daemon restarts on an empty store. The
// image still carries its request, so the rollout is planned again: it must restore the fleet,
// not skip it at 0/0.
func TestRegression_StoreLostMidDrainStillRestores(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "True"})
	h.runUntil("fleet-a is draining", 8*time.Hour, func() bool { return h.target("fleet-a") == rollout.Capacity{} })
	if h.fleetImage("fleet-a") != "img-2" {
		t.Fatal("fleet-a is drained but does not run img-2")
	}
	// The disk is replaced: a new, empty store.
	h.cfg.Store.Path = filepath.Join(t.TempDir(), "new.db")
	h.restart()
	h.runUntil("fleet-a has its Min/Max back", 8*24*time.Hour, func() bool { return h.target("fleet-a") == rollout.Capacity{Min: 3, Max: 8} })
	h.runUntil("the rollout finished", 3*time.Hour, func() bool { return !h.latestState().Active() })
	if tags := h.tags(fleetARN("fleet-a")); len(tags) != 0 {
		t.Errorf("fleet-a keeps tags %v", tags)
	}
	for _, s := range h.subjects() {
		if strings.HasPrefix(s, "Image img-2 rolled out") && h.target("fleet-a") == (rollout.Capacity{}) {
			t.Errorf("mailed %q with fleet-a at 0/0", s)
		}
	}
}

// A restore that keeps failing (deskpilot lost application-autoscaling:RegisterScalableTarget
// mid-drain) is escalated: one urgent notice, a reminder every hour while it lasts, and a
// resolved notice once the fleet has its Min/Max back. The restore is never given up.
func TestEscalation_RestoreThatKeepsFailing(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.expectErrors("AccessDeniedException")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "True"})
	h.runUntil("fleet-a is drained", 8*time.Hour, func() bool { return h.target("fleet-a") == rollout.Capacity{} })
	if err := h.sim.AddFault(sim.Fault{Service: sim.ServiceAutoScaling, Operation: "RegisterScalableTarget", ErrorCode: "AccessDeniedException"}); err != nil {
		t.Fatal(err)
	}
	h.runUntil("an urgent notice", 30*time.Minute, func() bool { return h.mailCount("URGENT: fleet fleet-a is stuck at 0/0") > 0 })
	h.run(30 * time.Minute)
	if n := h.mailCount("URGENT: fleet fleet-a is stuck at 0/0"); n != 1 {
		t.Errorf("urgent notice sent %d times within 30 min, want once", n)
	}
	if n := h.mailCount("Reminder, URGENT: fleet fleet-a is still at 0/0"); n != 0 {
		t.Errorf("%d reminders within the first hour", n)
	}
	h.run(2*time.Hour + time.Minute)
	if n := h.mailCount("Reminder, URGENT: fleet fleet-a is still at 0/0"); n != 2 {
		t.Errorf("%d reminders after 2.5 h, want 2 (one an hour); mail: %q", n, h.subjects())
	}
	h.sim.ClearFaults()
	h.runUntil("the rollout finished", time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if got := h.target("fleet-a"); got != (rollout.Capacity{Min: 3, Max: 8}) {
		t.Errorf("fleet-a at %v, want 3/8", got)
	}
	if n := h.mailCount("Resolved: fleet fleet-a has its capacity back"); n != 1 {
		t.Errorf("resolved notice sent %d times, want once", n)
	}
	for _, m := range h.sim.Messages() {
		if strings.HasPrefix(m.Subject, "URGENT") && !strings.Contains(m.Text, "register-scalable-target") {
			t.Errorf("the urgent notice does not say how to restore by hand:\n%s", m.Text)
		}
	}
}
