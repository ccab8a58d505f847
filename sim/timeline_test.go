package sim_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

// drainEstate is one running fleet of three instances, one of them in use, with a 3/6 target.
func drainEstate(e *env) {
	e.t.Helper()
	err := e.sim.ApplySeed(sim.Seed{
		Images:   []sim.ImageSpec{{Name: "img-1"}},
		Fleets:   []sim.SeedFleet{{Name: "f1", ImageName: "img-1", DesiredInstances: 3, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 3, MaxCapacity: 6}}},
		Stacks:   []sim.SeedStack{{Name: "s1", Fleets: []string{"f1"}}},
		Sessions: []sim.SessionSpec{{FleetName: "f1", StackName: "s1", UserId: "alice"}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) timeline(fleet string) sim.FleetTimeline {
	e.t.Helper()
	tl, err := e.sim.Timeline(fleet)
	if err != nil {
		e.t.Fatal(err)
	}
	return tl
}

func ptr(f float64) *float64 { return &f }

// TestTimeline_Drain drains a fleet the way a rollout does (0/0, wait for the idle instances
// to go, restore) and checks every entry of its timeline and the drain computed from it.
func TestTimeline_Drain(t *testing.T) {
	e := newEnv(t)
	drainEstate(e)
	t0 := epoch
	terminate := sim.DefaultTimings.InstanceTerminate

	e.advance(10 * time.Second)
	zeroAt := e.sim.Now()
	if err := e.register("f1", 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.register("f1", 0, 0); err != nil { // a repeat is not a change
		t.Fatal(err)
	}
	// Still at 0/0 with idle instances terminating: measured so far.
	e.advance(time.Minute)
	tl := e.timeline("f1")
	if len(tl.Drains) != 1 || tl.Drains[0].Restored() || tl.Drains[0].RestoreLagSeconds != nil || tl.Drains[0].AtZeroSeconds != 60 {
		t.Fatalf("drain under way: %+v", tl.Drains)
	}
	e.advance(terminate - time.Minute + 7*time.Second)
	restoredAt := e.sim.Now()
	if err := e.register("f1", 3, 6); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)

	tl = e.timeline("f1")
	want := sim.FleetTimeline{
		FleetName: "f1",
		Now:       restoredAt.Add(time.Second),
		Targets: []sim.TargetChange{
			{Time: t0, MinCapacity: 3, MaxCapacity: 6},
			{Time: zeroAt, MinCapacity: 0, MaxCapacity: 0},
			{Time: restoredAt, MinCapacity: 3, MaxCapacity: 6},
		},
		Capacity: []sim.CapacityChange{
			{Time: t0, Running: 3, InUse: 0, Available: 3},
			{Time: zeroAt.Add(terminate), Running: 1, InUse: 1, Available: 0},
			// The restore launches two instances; Available leaves 0 when the first is up (the
			// second, up at the same instant, crosses no zero).
			{Time: restoredAt.Add(sim.DefaultTimings.InstanceProvision), Running: 2, InUse: 1, Available: 1},
		},
		Drains: []sim.Drain{{
			ZeroAt: zeroAt, SavedMin: 3, SavedMax: 6,
			IdleGoneAt: zeroAt.Add(terminate),
			RestoredAt: restoredAt, RestoredMin: 3, RestoredMax: 6,
			AtZeroSeconds:     (terminate + 7*time.Second).Seconds(),
			RestoreLagSeconds: ptr(7),
		}},
	}
	// The restore's instances come up later; look again then.
	e.advance(sim.DefaultTimings.InstanceProvision)
	tl = e.timeline("f1")
	want.Now = e.sim.Now()
	if diff := cmp.Diff(want, tl); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	d := tl.Drains[0]
	if lag, ok := d.RestoreLag(); !ok || lag != 7*time.Second || d.AtZero() != terminate+7*time.Second {
		t.Errorf("RestoreLag = %v %v, AtZero = %v", lag, ok, d.AtZero())
	}
}

// TestTimeline_EveryInstanceInUse: a fleet with no idle instance has nothing to drain, so its
// last idle instance is "gone" the moment it is scaled to 0/0; ending the session then brings
// Running to 0.
func TestTimeline_EveryInstanceInUse(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.ApplySeed(sim.Seed{
		Images:   []sim.ImageSpec{{Name: "img-1"}},
		Fleets:   []sim.SeedFleet{{Name: "f1", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}}},
		Stacks:   []sim.SeedStack{{Name: "s1", Fleets: []string{"f1"}}},
		Sessions: []sim.SessionSpec{{FleetName: "f1", StackName: "s1", UserId: "alice"}},
	}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	zeroAt := e.sim.Now()
	if err := e.register("f1", 0, 0); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Second)
	tls := e.sim.Timelines()
	if len(tls) != 1 || len(tls[0].Drains) != 1 || !tls[0].Drains[0].IdleGoneAt.Equal(zeroAt) {
		t.Fatalf("timelines = %+v", tls)
	}
	if lag, ok := tls[0].Drains[0].RestoreLag(); !ok || lag != 2*time.Second {
		t.Errorf("lag so far = %v %v, want 2s", lag, ok)
	}
	ins, err := e.sim.Instances("f1")
	if err != nil || len(ins) != 1 {
		t.Fatal(ins, err)
	}
	if err := e.sim.EndSession(ins[0].SessionId); err != nil {
		t.Fatal(err)
	}
	endAt := e.sim.Now()
	e.advance(time.Second)
	got := e.timeline("f1").Capacity
	want := []sim.CapacityChange{
		{Time: epoch, Running: 1, InUse: 0, Available: 1},
		{Time: epoch, Running: 1, InUse: 1, Available: 0},
		{Time: endAt, Running: 0, InUse: 0, Available: 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("capacity (-want +got):\n%s", diff)
	}
}

// TestTimeline_Bounded keeps at most MaxTimeline entries per list, dropping the oldest, and
// forgets a fleet's timeline with the fleet.
func TestTimeline_Bounded(t *testing.T) {
	e := newEnv(t, func(o *sim.Options) { o.MaxTimeline = 3 })
	if err := e.sim.ApplySeed(sim.Seed{
		Images: []sim.ImageSpec{{Name: "img-1"}},
		Fleets: []sim.SeedFleet{{Name: "f1", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}}},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		e.advance(time.Second)
		if err := e.register("f1", 1, int32(3+i)); err != nil {
			t.Fatal(err)
		}
	}
	tl := e.timeline("f1")
	if len(tl.Targets) != 3 || tl.Targets[2].MaxCapacity != 12 || tl.Targets[0].MaxCapacity != 10 || tl.Dropped != 8 {
		t.Errorf("targets %+v, dropped %d; want the last 3 of 11 changes", tl.Targets, tl.Dropped)
	}
	if _, err := e.sim.Timeline("nope"); err == nil {
		t.Error("timeline of an unknown fleet: no error")
	}
	e.sim.Reset()
	if tls := e.sim.Timelines(); len(tls) != 0 {
		t.Errorf("after reset: %+v", tls)
	}
}

// TestTimeline_ControlAPI reads timelines over HTTP, in the documented shape.
func TestTimeline_ControlAPI(t *testing.T) {
	e := newEnv(t)
	drainEstate(e)
	e.advance(time.Second)
	if err := e.register("f1", 0, 0); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.InstanceTerminate + 5*time.Second)

	get := func(path string, v any) int {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	var one map[string]any
	if status := get("/_sim/appstream/fleets/f1/timeline", &one); status != 200 {
		t.Fatalf("status %d: %v", status, one)
	}
	drain := one["Drains"].([]any)[0].(map[string]any)
	if one["FleetName"] != "f1" || len(one["Targets"].([]any)) != 2 || drain["RestoreLagSeconds"] != 5.0 || drain["SavedMax"] != 6.0 {
		t.Errorf("timeline = %v", one)
	}
	if _, ok := drain["RestoredAt"]; ok {
		t.Errorf("an unrestored drain has RestoredAt: %v", drain)
	}
	var all struct{ Timelines []sim.FleetTimeline }
	if status := get("/_sim/appstream/timelines", &all); status != 200 || len(all.Timelines) != 1 || all.Timelines[0].FleetName != "f1" {
		t.Errorf("timelines: %d %+v", status, all)
	}
	var missing map[string]any
	if status := get("/_sim/appstream/fleets/nope/timeline", &missing); status != 404 {
		t.Errorf("unknown fleet: %d %v", status, missing)
	}
}
