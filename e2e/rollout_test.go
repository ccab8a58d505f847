package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// saturday is 5 hours before the default test window (Sunday 02:00 Europe/Berlin = 01:00 UTC).
var saturday = time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)

const windowStart = "2026-11-29T01:00:00Z"

func TestRollout_HappyPathWithDrain(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": " fleet-a / fleet-b ", "ScaleImmediately": "True"})
	h.run(time.Minute)

	if got := h.tags(imageARN("img-2"))["Status"]; got != "Pending/"+windowStart {
		t.Fatalf("image Status = %q, want Pending/%s", got, windowStart)
	}
	if n := h.mailCount("Image img-2 scheduled for fleet-a, fleet-b"); n != 1 {
		t.Fatalf("pending mail sent %d times; mail: %q", n, h.subjects())
	}
	pending := h.sim.Messages()[0]
	for _, want := range []string{"Sun 2026-11-29 01:00 UTC", "Europe/Berlin", "Sun 2026-11-29 02:00 CET", "Remove the FleetName tag"} {
		if !strings.Contains(pending.Text, want) || !strings.Contains(pending.HTML, want) {
			t.Errorf("pending mail lacks %q in text or HTML:\n%s", want, pending.Text)
		}
	}
	// Nothing happens before the window.
	h.run(4*time.Hour + 55*time.Minute)
	if h.fleetImage("fleet-a") != "img-1" || h.wasDrained("fleet-a") {
		t.Fatal("fleet-a changed before the window")
	}

	h.runUntil("the rollout finished", 3*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	for fleet, want := range map[string]rollout.Capacity{"fleet-a": {Min: 3, Max: 8}, "fleet-b": {Min: 2, Max: 5}} {
		if got := h.fleetImage(fleet); got != "img-2" {
			t.Errorf("%s runs %s, want img-2", fleet, got)
		}
		if got := h.target(fleet); got != want {
			t.Errorf("%s Min/Max = %v, want exactly the original %v", fleet, got, want)
		}
		if !h.wasDrained(fleet) {
			t.Errorf("%s was not drained", fleet)
		}
		if tags := h.tags(fleetARN(fleet)); len(tags) != 0 {
			t.Errorf("%s keeps tags %v after the restore", fleet, tags)
		}
	}
	if tags := h.tags(imageARN("img-2")); len(tags) != 0 {
		t.Errorf("image keeps tags %v after success", tags)
	}
	if saved, _ := h.app.Store.SavedCapacities(h.ctx); len(saved) != 0 {
		t.Errorf("saved capacity left in the store: %+v", saved)
	}
	h.run(10 * time.Minute) // more scans must not start anything again
	want := []string{
		"Image img-2 scheduled for fleet-a, fleet-b",
		"Rolling out image img-2 to fleet-a, fleet-b",
		"Fleet fleet-a: done (image img-2)",
		"Fleet fleet-b: done (image img-2)",
		"Image img-2 rolled out to fleet-a, fleet-b",
	}
	got := h.subjects()
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mail (-want +got):\n%s", diff)
	}
	// alice kept streaming through the drain.
	if ins, _ := h.sim.Instances("fleet-a"); !slices.ContainsFunc(ins, func(i sim.Instance) bool { return i.SessionId != "" }) {
		t.Error("alice's session was ended by the drain")
	}
}

func TestRollout_CancelByRemovingTheTag(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "true"})
	h.run(time.Minute)
	h.untagImage("img-2", "FleetName")
	h.run(10 * time.Minute)
	if got := h.latestState(); got != rollout.Cancelled {
		t.Fatalf("rollout state %s, want cancelled", got)
	}
	if _, ok := h.tags(imageARN("img-2"))["Status"]; ok {
		t.Error("Status tag left on a cancelled image")
	}
	if n := h.mailCount("Rollout of image img-2 cancelled"); n != 1 {
		t.Errorf("cancel mail sent %d times: %q", n, h.subjects())
	}
	h.run(8 * time.Hour)
	if h.fleetImage("fleet-a") != "img-1" || h.wasDrained("fleet-a") {
		t.Error("a cancelled rollout changed fleet-a")
	}
}

func TestRollout_ReplanWhenTheTagChanges(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a"})
	h.run(time.Minute)
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b"})
	h.run(10 * time.Minute)
	if n := h.mailCount("Replanned: Image img-2 scheduled for fleet-b"); n != 1 {
		t.Errorf("replan mail sent %d times: %q", n, h.subjects())
	}
	h.runUntil("the new plan finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if a, b := h.fleetImage("fleet-a"), h.fleetImage("fleet-b"); a != "img-1" || b != "img-2" {
		t.Errorf("fleet-a on %s, fleet-b on %s; want img-1 and img-2", a, b)
	}
	if got := h.rollouts()[1].State; got != rollout.Superseded {
		t.Errorf("the first plan is %s, want superseded", got)
	}
}

func TestRollout_UnknownFleetRefusesTheWholeRollout(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a/no-such-fleet", "ScaleImmediately": "True"})
	h.run(8 * time.Hour)
	r := h.rollouts()[0]
	if r.State != rollout.Refused || !strings.Contains(r.Reason, `fleet "no-such-fleet" does not exist`) {
		t.Fatalf("rollout %s (%s), want refused naming the fleet", r.State, r.Reason)
	}
	if h.fleetImage("fleet-a") != "img-1" || h.wasDrained("fleet-a") || h.target("fleet-a") != (rollout.Capacity{Min: 3, Max: 8}) {
		t.Error("a refused rollout changed fleet-a")
	}
	if _, ok := h.tags(imageARN("img-2"))["Status"]; ok {
		t.Error("a refused rollout tagged the image")
	}
	if n := h.mailCount("Rollout of image img-2 refused"); n != 1 || len(h.subjects()) != 1 {
		t.Errorf("mail %q, want exactly one refusal", h.subjects())
	}
	if !strings.Contains(h.sim.Messages()[0].Text, "no-such-fleet") {
		t.Error("the refusal does not name the unknown fleet")
	}
}

func TestRollout_ImageNotAvailableAtTheWindow(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "True"})
	h.run(time.Minute)
	if err := h.sim.SetImageState("img-2", "FAILED"); err != nil {
		t.Fatal(err)
	}
	h.runUntil("the rollout ended", 8*time.Hour, func() bool { return !h.latestState().Active() })
	if got := h.latestState(); got != rollout.Failed {
		t.Errorf("state %s, want failed", got)
	}
	if h.fleetImage("fleet-a") != "img-1" || h.wasDrained("fleet-a") {
		t.Error("fleet-a changed although the image was not AVAILABLE")
	}
	if st := h.tags(imageARN("img-2"))["Status"]; !strings.HasPrefix(st, "Failed/") {
		t.Errorf("image Status = %q, want Failed/<time>", st)
	}
	if n := h.mailCount("Rollout of image img-2 failed"); n != 1 {
		t.Errorf("failure mail: %q", h.subjects())
	}
}

func TestRollout_FleetWithoutScalableTargetIsUpdatedNotDrained(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-c", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if h.fleetImage("fleet-c") != "img-2" {
		t.Error("fleet-c was not updated")
	}
	if h.target("fleet-c") != (rollout.Capacity{Min: -1, Max: -1}) {
		t.Error("a scalable target appeared on fleet-c")
	}
	if msg := h.rollouts()[0].Steps[0].Message; !strings.Contains(msg, "runs the image") {
		t.Logf("step message: %s", msg)
	}
}

// The drained fleet's Min/Max tags vanish (someone cleans tags); the store still has them.
func TestRollout_MissingSavedTagsStillRestoresExactly(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "True"})
	h.runUntil("fleet-a is draining", 8*time.Hour, func() bool {
		return h.target("fleet-a") == rollout.Capacity{}
	})
	if tags := h.tags(fleetARN("fleet-a")); tags["Min"] != "3" || tags["Max"] != "8" || tags["Status"] != "Pending" {
		t.Fatalf("drained fleet tags %v, want Min 3, Max 8, Status Pending", tags)
	}
	if _, err := h.as.UntagResource(h.ctx, untag(fleetARN("fleet-a"), "Min", "Max")); err != nil {
		t.Fatal(err)
	}
	h.runUntil("the rollout finished", 3*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if got := h.target("fleet-a"); got != (rollout.Capacity{Min: 3, Max: 8}) {
		t.Errorf("restored %v, want 3/8", got)
	}
}

// A fleet that is already at 0/0 when its drain starts (an earlier rollout crashed, say) takes
// its Min/Max from the recipe's tags, and never saves 0/0 as the original.
func TestRollout_AlreadyDrainedFleetNeverSavesZero(t *testing.T) {
	h := newHarness(t, saturday, "")
	if _, err := h.as.TagResource(h.ctx, tagIn(fleetARN("fleet-b"), map[string]string{"Min": "2", "Max": "5", "Status": "Pending"})); err != nil {
		t.Fatal(err)
	}
	setTarget(t, h, "fleet-b", 0, 0)
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if got := h.target("fleet-b"); got != (rollout.Capacity{Min: 2, Max: 5}) {
		t.Errorf("fleet-b restored to %v, want 2/5 from its tags", got)
	}
}

func TestRollout_TwoImagesForOneFleet(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True"})
	h.run(10 * time.Minute)
	h.tagImage("img-3", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "True"})
	h.runUntil("both rollouts ended", 8*time.Hour, func() bool {
		rs := h.rollouts()
		return len(rs) == 2 && !rs[0].State.Active() && !rs[1].State.Active()
	})
	if a, b := h.fleetImage("fleet-a"), h.fleetImage("fleet-b"); a != "img-3" || b != "img-2" {
		t.Errorf("fleet-a on %s, fleet-b on %s; want img-3 (newest tag) and img-2", a, b)
	}
	for fleet, want := range map[string]rollout.Capacity{"fleet-a": {Min: 3, Max: 8}, "fleet-b": {Min: 2, Max: 5}} {
		if got := h.target(fleet); got != want {
			t.Errorf("%s Min/Max %v, want %v", fleet, got, want)
		}
	}
	old := h.rollouts()[1]
	for _, s := range old.Steps {
		if s.Fleet == "fleet-a" && s.State != rollout.StepCancelled {
			t.Errorf("img-2's step for fleet-a is %s, want cancelled (superseded)", s.State)
		}
	}
}

func TestRollout_TagInsideAnOpenWindow(t *testing.T) {
	inWindow := time.Date(2026, 11, 29, 1, 30, 0, 0, time.UTC) // 02:30 Berlin, 2h30 left
	h := newHarness(t, inWindow, "")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b"})
	h.runUntil("the rollout finished", time.Hour, func() bool { return h.latestState() == rollout.Succeeded })

	late := time.Date(2026, 11, 29, 3, 45, 0, 0, time.UTC) // 04:45 Berlin, 15 min left < 30 min margin
	h2 := newHarness(t, late, "")
	h2.tagImage("img-2", map[string]string{"FleetName": "fleet-b"})
	h2.run(time.Hour)
	if got := h2.tags(imageARN("img-2"))["Status"]; got != "Pending/2026-12-06T01:00:00Z" {
		t.Errorf("Status = %q, want next week's window (Pending/2026-12-06T01:00:00Z)", got)
	}
	if h2.fleetImage("fleet-b") != "img-1" {
		t.Error("started with less than the margin left")
	}
}

func TestRollout_WindowsAcrossDaylightSaving(t *testing.T) {
	tests := []struct {
		name, window string
		now          time.Time
		wantStatus   string
	}{
		// Spring forward in Berlin on 2027-03-28: 02:30 does not exist, the window opens at 03:00 CEST.
		{"spring forward gap", "sun:02:30-sun:05:00 Europe/Berlin", time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC), "Pending/2027-03-28T01:00:00Z"},
		// Fall back in Berlin on 2026-10-25: 02:30 occurs twice; the first (CEST) is taken.
		{"fall back repeat", "sun:02:30-sun:05:00 Europe/Berlin", time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), "Pending/2026-10-25T00:30:00Z"},
		// New York, after its fall back (2026-11-01): 02:00 EST is 07:00 UTC.
		{"new york winter", "sun:02:00-sun:04:00 America/New_York", time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), "Pending/2026-11-08T07:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.now, "rollouts:\n  window: \""+tt.window+"\"\n  scan_interval: 5m\n")
			h.tagImage("img-2", map[string]string{"FleetName": "fleet-b"})
			h.run(time.Minute)
			if got := h.tags(imageARN("img-2"))["Status"]; got != tt.wantStatus {
				t.Errorf("Status = %q, want %q", got, tt.wantStatus)
			}
		})
	}
}

func TestRollout_ThrottlingOnEveryCall(t *testing.T) {
	h := newHarness(t, saturday, "")
	h.expectErrors("ThrottlingException")
	if err := h.sim.AddFault(sim.Fault{Service: "*", ErrorCode: "ThrottlingException", Probability: 0.3}); err != nil {
		t.Fatal(err)
	}
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", 10*time.Hour, func() bool {
		rs, err := h.app.Store.Rollouts(h.ctx, 0)
		return err == nil && len(rs) > 0 && rs[0].State == rollout.Succeeded
	})
	h.sim.ClearFaults()
	for fleet, want := range map[string]rollout.Capacity{"fleet-a": {Min: 3, Max: 8}, "fleet-b": {Min: 2, Max: 5}} {
		if h.fleetImage(fleet) != "img-2" || h.target(fleet) != want {
			t.Errorf("%s on %s at %v, want img-2 at %v", fleet, h.fleetImage(fleet), h.target(fleet), want)
		}
	}
	if n := h.sim.Calls().Counts["appstream.DescribeFleets!ThrottlingException"]; n == 0 {
		t.Error("no throttling was injected")
	}
	for _, s := range []string{"Image img-2 scheduled", "Image img-2 rolled out"} {
		if n := h.mailCount(s); n != 1 {
			t.Errorf("%q sent %d times: %q", s, n, h.subjects())
		}
	}
}

func TestRollout_DrainTimeoutRestoresAnyway(t *testing.T) {
	h := newHarness(t, saturday, "rollouts:\n  window: \"sun:02:00-sun:05:00 Europe/Berlin\"\n  scan_interval: 5m\n  drain_timeout: 1m\n")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	if got := h.target("fleet-b"); got != (rollout.Capacity{Min: 2, Max: 5}) {
		t.Errorf("fleet-b Min/Max %v after a timed-out drain, want 2/5", got)
	}
	if n := h.mailCount("Fleet fleet-b: drain timed out, capacity restored"); n != 1 {
		t.Errorf("drain timeout mail: %q", h.subjects())
	}
}

func TestRollout_WebhookGetsEveryNotice(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ ID, Kind string }
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil || r.Header.Get("X-Deskpilot-Notice") != n.ID {
			http.Error(w, "bad notice", http.StatusBadRequest)
			return
		}
		mu.Lock()
		kinds = append(kinds, n.Kind)
		mu.Unlock()
	}))
	defer hook.Close()
	h := newHarness(t, saturday, "notify:\n  webhooks: ["+hook.URL+"]\n  per_fleet: false\n")
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-b"})
	h.runUntil("the rollout finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	h.run(time.Minute)
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"rollout.pending", "rollout.started", "rollout.finished"}, kinds); diff != "" {
		t.Errorf("webhook notices (-want +got):\n%s", diff)
	}
	if len(h.sim.Messages()) != 0 {
		t.Errorf("mail sent although only a webhook is configured: %q", h.subjects())
	}
}
