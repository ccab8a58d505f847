package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// Drains on estates as they are: scheduled actions and suspended scaling, multi-session fleets
// drained instance by instance, and session deadlines (issue 10).

// window opens at 01:00 UTC on Sunday (the harness's sun:02:00-05:00 Europe/Berlin).
var windowOpens = time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)

// scalable reads a fleet's target with its SuspendedState.
func (h *harness) scalable(fleet string) aastypes.ScalableTarget {
	h.t.Helper()
	out, err := h.aas.DescribeScalableTargets(h.ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + fleet},
	})
	if err != nil || len(out.ScalableTargets) != 1 {
		h.t.Fatalf("describe the target of %s: %v (%d targets)", fleet, err, len(out.ScalableTargets))
	}
	return out.ScalableTargets[0]
}

func (h *harness) stepOf(fleet string) rollout.Step {
	h.t.Helper()
	for _, r := range h.rollouts() {
		for _, s := range r.Steps {
			if s.Fleet == fleet {
				return s
			}
		}
	}
	h.t.Fatalf("no step for fleet %s", fleet)
	return rollout.Step{}
}

// sample runs the daemon for d in steps of every, calling check after each.
func (h *harness) sample(d, every time.Duration, check func(now time.Time)) {
	h.t.Helper()
	for end := h.clock.Now().Add(d); h.clock.Now().Before(end); {
		h.run(every)
		check(h.clock.Now())
	}
}

func TestDrain_ScheduledActionInsideTheDrainIsAppliedAtTheRestore(t *testing.T) {
	slowTerminate := func(o *sim.Options) {
		o.Timings = sim.DefaultTimings
		o.Timings.InstanceTerminate = 10 * time.Minute // the drain lasts ten minutes
	}
	h := newHarnessWith(t, saturday, "", estate, slowTerminate)
	// The admin's own suspension: dynamic scale-in off. It must come back exactly.
	if _, err := h.aas.RegisterScalableTarget(h.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/fleet-a"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		SuspendedState:    &aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(true)},
	}); err != nil {
		t.Fatal(err)
	}
	// The morning schedule raises the fleet at 01:05 UTC, in the middle of the drain.
	if _, err := h.aas.PutScheduledAction(h.ctx, &applicationautoscaling.PutScheduledActionInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/fleet-a"),
		ScalableDimension:   aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		ScheduledActionName: aws.String("morning"), Schedule: aws.String("cron(5 2 * * ? *)"), Timezone: aws.String("Europe/Berlin"),
		ScalableTargetAction: &aastypes.ScalableTargetAction{MinCapacity: aws.Int32(5), MaxCapacity: aws.Int32(10)},
	}); err != nil {
		t.Fatal(err)
	}
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "ScaleImmediately": "True"})
	h.run(windowOpens.Sub(h.clock.Now()))

	// Through the drain, the fleet stays at 0/0 with its scaling suspended, also after 01:05.
	drainedAfterTheAction := 0
	h.sample(30*time.Minute, 10*time.Second, func(now time.Time) {
		if h.stepOf("fleet-a").State != rollout.StepDraining {
			return
		}
		tg := h.scalable("fleet-a")
		if aws.ToInt32(tg.MinCapacity) != 0 || aws.ToInt32(tg.MaxCapacity) != 0 {
			t.Fatalf("at %s the draining fleet has Min/Max %d/%d", now.Format(time.TimeOnly), aws.ToInt32(tg.MinCapacity), aws.ToInt32(tg.MaxCapacity))
		}
		if ss := tg.SuspendedState; aws.ToInt32(tg.MaxCapacity) == 0 && (ss == nil || !aws.ToBool(ss.ScheduledScalingSuspended) || !aws.ToBool(ss.DynamicScalingOutSuspended)) {
			t.Fatalf("at %s the draining fleet's scaling is not suspended: %+v", now.Format(time.TimeOnly), ss)
		}
		if now.After(windowOpens.Add(5 * time.Minute)) {
			drainedAfterTheAction++
		}
	})
	if drainedAfterTheAction == 0 {
		t.Fatal("the drain ended before the scheduled action was due; the test proves nothing")
	}
	h.runUntil("the rollout finished", time.Hour, func() bool { return h.latestState() == rollout.Succeeded })

	tg := h.scalable("fleet-a")
	if got := (rollout.Capacity{Min: aws.ToInt32(tg.MinCapacity), Max: aws.ToInt32(tg.MaxCapacity)}); got != (rollout.Capacity{Min: 5, Max: 10}) {
		t.Errorf("restored Min/Max %v, want 5/10: what the schedule says now, not the saved 3/8", got)
	}
	want := aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(true), DynamicScalingOutSuspended: aws.Bool(false), ScheduledScalingSuspended: aws.Bool(false)}
	if ss := tg.SuspendedState; ss == nil || aws.ToBool(ss.DynamicScalingInSuspended) != *want.DynamicScalingInSuspended ||
		aws.ToBool(ss.DynamicScalingOutSuspended) != *want.DynamicScalingOutSuspended || aws.ToBool(ss.ScheduledScalingSuspended) != *want.ScheduledScalingSuspended {
		t.Errorf("SuspendedState after the restore %+v, want only dynamic scale-in suspended, as before", ss)
	}
	var final string
	for _, m := range h.sim.Messages() {
		if strings.HasPrefix(m.Subject, "Image img-2 rolled out") {
			final = m.Text
		}
	}
	if !strings.Contains(final, `"morning"`) || !strings.Contains(final, "saved: 3/8") {
		t.Errorf("the final notice does not say the schedule set the restore:\n%s", final)
	}
	if tags := h.tags(fleetARN("fleet-a")); len(tags) != 0 {
		t.Errorf("fleet-a keeps tags %v", tags)
	}
}

// multiSessionEstate has one multi-session fleet: four instances of four sessions, five users
// (four packed on one instance, one on another) and two idle instances.
var multiSessionEstate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}},
	Fleets: []sim.SeedFleet{{Name: "ms", ImageName: "img-1", MaxSessionsPerInstance: 4, DesiredSessions: 16,
		ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 16, MaxCapacity: 32}}},
	Stacks: []sim.SeedStack{{Name: "stack-ms", Fleets: []string{"ms"}}},
	Sessions: []sim.SessionSpec{
		{FleetName: "ms", StackName: "stack-ms", UserId: "u1"}, {FleetName: "ms", StackName: "stack-ms", UserId: "u2"},
		{FleetName: "ms", StackName: "stack-ms", UserId: "u3"}, {FleetName: "ms", StackName: "stack-ms", UserId: "u4"},
		{FleetName: "ms", StackName: "stack-ms", UserId: "u5"},
	},
	VerifiedEmailIdentities: []string{"deskpilot@example.com"},
}

// freeSlots counts the session slots new users can land on: running instances not in drain
// mode, of the fleet's MaxSessionsPerInstance (4 here).
func freeSlots(ins []sim.Instance) int {
	n := 0
	for _, i := range ins {
		if i.State == sim.InstanceRunning && i.DrainStatus != "DRAINING" {
			n += 4 - len(i.SessionIds)
		}
	}
	return n
}

func TestDrain_SessionsModeKeepsRoomForNewSessions(t *testing.T) {
	h := newHarnessWith(t, saturday, "", multiSessionEstate)
	before, err := h.sim.Instances("ms")
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, i := range before {
		old[i.InstanceId] = true
	}
	h.tagImage("img-2", map[string]string{"FleetName": "ms", "Drain": "sessions"})
	h.run(windowOpens.Sub(h.clock.Now()))

	var sessions []string
	for _, i := range before {
		sessions = append(sessions, i.SessionIds...)
	}
	drained, joined := 0, 0
	h.sample(3*time.Hour, 30*time.Second, func(now time.Time) {
		ins, err := h.sim.Instances("ms")
		if err != nil {
			t.Fatal(err)
		}
		if free := freeSlots(ins); free == 0 {
			t.Fatalf("at %s no instance takes new sessions: %+v", now.Format(time.TimeOnly), ins)
		}
		for _, i := range ins {
			if i.DrainStatus == "DRAINING" && old[i.InstanceId] {
				drained++
			}
		}
		elapsed := now.Sub(windowOpens)
		// New users keep arriving, and always find a place.
		if elapsed > 0 && int(elapsed/(10*time.Minute)) > joined && joined < 6 {
			joined++
			if _, err := h.sim.StartSession(sim.SessionSpec{FleetName: "ms", StackName: "stack-ms", UserId: "new-" + string(rune('a'+joined))}); err != nil {
				t.Fatalf("at %s a new user found no room: %v", now.Format(time.TimeOnly), err)
			}
		}
		// The first users leave one by one.
		if len(sessions) > 0 && elapsed >= 20*time.Minute*time.Duration(6-len(sessions)) {
			if err := h.sim.EndSession(sessions[0]); err != nil {
				t.Fatal(err)
			}
			sessions = sessions[1:]
		}
	})
	if drained == 0 {
		t.Error("no old-image instance was put in drain mode")
	}
	if got := h.latestState(); got != rollout.Succeeded {
		t.Fatalf("rollout %s (%s), want succeeded", got, h.stepOf("ms").Message)
	}
	ins, _ := h.sim.Instances("ms")
	for _, i := range ins {
		if i.State != sim.InstanceTerminating && i.ImageName != "img-2" {
			t.Errorf("instance %s still runs %s after the drain", i.InstanceId, i.ImageName)
		}
	}
	tg := h.scalable("ms")
	if aws.ToInt32(tg.MinCapacity) != 16 || aws.ToInt32(tg.MaxCapacity) != 32 {
		t.Errorf("Min/Max %d/%d, want the untouched 16/32", aws.ToInt32(tg.MinCapacity), aws.ToInt32(tg.MaxCapacity))
	}
	if h.wasDrained("ms") {
		t.Error("the sessions drain scaled the fleet to zero")
	}
}

func TestDrain_DeadlineEndsTheRemainingSessionsAfterTheWarning(t *testing.T) {
	h := newHarness(t, saturday, `rollouts: {window: "sun:02:00-sun:05:00 Europe/Berlin", scan_interval: 5m, poll_interval: 10s, drain_poll_interval: 5s, drain: {session_deadline: 1h, warning: 15m}}`)
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a", "Drain": "deadline"})
	h.run(time.Minute)
	pending := h.sim.Messages()[0]
	if !strings.Contains(pending.Text, "deadline:") || !strings.Contains(pending.Text, "1h0m0s after the update are ended") {
		t.Errorf("the pending notice does not announce the deadline:\n%s", pending.Text)
	}
	h.run(windowOpens.Sub(h.clock.Now()))

	// alice keeps streaming through the scale-to-zero drain and the restore.
	h.run(40 * time.Minute)
	if got := h.target("fleet-a"); got != (rollout.Capacity{Min: 3, Max: 8}) {
		t.Fatalf("fleet-a at %v 40 minutes in, want its 3/8 back", got)
	}
	if s := h.stepOf("fleet-a"); s.State != rollout.StepSessions {
		t.Fatalf("step %s (%s), want it following alice's session", s.State, s.Message)
	}
	if n := h.mailCount("Sessions on fleet fleet-a end at"); n != 0 {
		t.Fatal("warned before deadline - warning")
	}
	ins, _ := h.sim.Instances("fleet-a")
	if !slices.ContainsFunc(ins, func(i sim.Instance) bool { return i.SessionId != "" }) {
		t.Fatal("alice's session ended before the deadline")
	}
	h.run(10 * time.Minute) // 01:50: past deadline - warning
	if n := h.mailCount("Sessions on fleet fleet-a end at Sun 2026-11-29 02:00 UTC"); n != 1 {
		t.Fatalf("deadline warnings %d, want 1; mail %q", n, h.subjects())
	}
	h.runUntil("the rollout finished", time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	expired := 0
	for _, c := range h.sim.Calls().Calls {
		if c.Operation == "ExpireSession" {
			expired++
			if c.Time.Before(windowOpens.Add(time.Hour)) {
				t.Errorf("a session was ended at %s, before the deadline", c.Time.Format(time.TimeOnly))
			}
		}
	}
	if expired == 0 {
		t.Error("no session was ended at the deadline")
	}
	ins, _ = h.sim.Instances("fleet-a")
	if slices.ContainsFunc(ins, func(i sim.Instance) bool { return i.SessionId != "" }) {
		t.Error("alice is still streaming on the old image after the deadline")
	}
	if n := h.mailCount("Sessions on fleet fleet-a end at"); n != 1 {
		t.Errorf("deadline warnings %d, want exactly 1", n)
	}
	// Found by the fault campaign: a single-session fleet following its old sessions after its
	// restore was "raised" like a multi-session one, which left its scaling suspended.
	tg := h.scalable("fleet-a")
	if ss := tg.SuspendedState; aws.ToInt32(tg.MinCapacity) != 3 || aws.ToInt32(tg.MaxCapacity) != 8 || ss == nil ||
		aws.ToBool(ss.DynamicScalingInSuspended) || aws.ToBool(ss.DynamicScalingOutSuspended) || aws.ToBool(ss.ScheduledScalingSuspended) {
		t.Errorf("fleet-a ends at %d/%d with SuspendedState %+v, want 3/8 with nothing suspended, as before", aws.ToInt32(tg.MinCapacity), aws.ToInt32(tg.MaxCapacity), ss)
	}
}
