package sim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
)

func (e *env) target(fleet string) aastypes.ScalableTarget {
	e.t.Helper()
	out, err := e.aas.DescribeScalableTargets(e.ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + fleet},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.ScalableTargets) != 1 {
		e.t.Fatalf("targets of %s: %+v", fleet, out.ScalableTargets)
	}
	return out.ScalableTargets[0]
}

func (e *env) putScheduled(fleet, name, schedule, tz string, min, max *int32) error {
	in := &applicationautoscaling.PutScheduledActionInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		ScalableDimension:   aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		ScheduledActionName: aws.String(name), Schedule: aws.String(schedule),
	}
	if tz != "" {
		in.Timezone = aws.String(tz)
	}
	if min != nil || max != nil {
		in.ScalableTargetAction = &aastypes.ScalableTargetAction{MinCapacity: min, MaxCapacity: max}
	}
	_, err := e.aas.PutScheduledAction(e.ctx, in)
	return err
}

func (e *env) bounds(fleet string) [2]int32 {
	tg := e.target(fleet)
	return [2]int32{aws.ToInt32(tg.MinCapacity), aws.ToInt32(tg.MaxCapacity)}
}

func TestAutoScaling_SuspendedState(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 1)
	register := func(ss *aastypes.SuspendedState) {
		t.Helper()
		_, err := e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
			MinCapacity:       aws.Int32(1), MaxCapacity: aws.Int32(3), SuspendedState: ss,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		ss   *aastypes.SuspendedState
		want [3]bool // in, out, scheduled
	}{
		{"new target without SuspendedState", nil, [3]bool{}},
		{"one field set", &aastypes.SuspendedState{ScheduledScalingSuspended: aws.Bool(true)}, [3]bool{false, false, true}},
		{"another field set, the first kept", &aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(true)}, [3]bool{true, false, true}},
		{"re-registered without SuspendedState keeps it", nil, [3]bool{true, false, true}},
		{"empty SuspendedState keeps it", &aastypes.SuspendedState{}, [3]bool{true, false, true}},
		{"explicit false clears one", &aastypes.SuspendedState{ScheduledScalingSuspended: aws.Bool(false), DynamicScalingOutSuspended: aws.Bool(true)}, [3]bool{true, true, false}},
	}
	for _, st := range steps {
		register(st.ss)
		ss := e.target("f1").SuspendedState
		if ss == nil {
			t.Fatalf("%s: no SuspendedState", st.name)
		}
		got := [3]bool{aws.ToBool(ss.DynamicScalingInSuspended), aws.ToBool(ss.DynamicScalingOutSuspended), aws.ToBool(ss.ScheduledScalingSuspended)}
		if got != st.want {
			t.Errorf("%s: SuspendedState (in, out, scheduled) = %v, want %v", st.name, got, st.want)
		}
	}
}

func TestAutoScaling_ScheduledActionsFire(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")

	// at(): fires once at its time, sets Min/Max and clamps Desired into them.
	e.runningFleet("at", "img-1", 4)
	if err := e.register("at", 2, 6); err != nil {
		t.Fatal(err)
	}
	at := epoch.Add(sim10m + time.Hour).Format("2006-01-02T15:04:05")
	if err := e.putScheduled("at", "night", "at("+at+")", "", aws.Int32(0), aws.Int32(1)); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour - time.Second)
	if got := e.bounds("at"); got != [2]int32{2, 6} {
		t.Fatalf("bounds a second before the action = %v, want [2 6]", got)
	}
	e.advance(time.Second)
	if got := e.bounds("at"); got != [2]int32{0, 1} {
		t.Fatalf("bounds at the action = %v, want [0 1]", got)
	}
	if got := e.capacity("at").Desired; got != 1 {
		t.Errorf("Desired after the action = %d, want 1 (clamped to the new Max)", got)
	}
	acts, err := e.aas.DescribeScalingActivities(e.ctx, &applicationautoscaling.DescribeScalingActivitiesInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/at"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var descs []string
	for _, a := range acts.ScalingActivities {
		descs = append(descs, aws.ToString(a.Description)+" / "+aws.ToString(a.Cause))
	}
	if len(descs) < 2 || !strings.HasPrefix(descs[0], "Setting desired capacity to 1. / maximum capacity was set to 1") ||
		descs[1] != "Setting min capacity to 0 and max capacity to 1 / scheduled action name night was triggered" {
		t.Errorf("activities, newest first: %q", descs)
	}
	tl, err := e.sim.Timeline("at")
	if err != nil {
		t.Fatal(err)
	}
	last := tl.Targets[len(tl.Targets)-1]
	if last.ScheduledAction != "night" || last.MinCapacity != 0 || last.MaxCapacity != 1 || !last.Time.Equal(e.sim.Now()) {
		t.Errorf("last timeline target change = %+v", last)
	}
	// Changing the bounds back by hand is not undone: an at() action fires once.
	if err := e.register("at", 2, 6); err != nil {
		t.Fatal(err)
	}
	e.advance(24 * time.Hour)
	if got := e.bounds("at"); got != [2]int32{2, 6} {
		t.Errorf("bounds a day later = %v, want [2 6]", got)
	}

	// rate(): fires every interval; only Max given keeps Min.
	e.runningFleet("rate", "img-1", 1)
	if err := e.register("rate", 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.putScheduled("rate", "grow", "rate(30 minutes)", "", nil, aws.Int32(5)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := e.register("rate", 1, 2); err != nil { // undo, so that each firing is seen
			t.Fatal(err)
		}
		e.advance(30 * time.Minute)
		if got := e.bounds("rate"); got != [2]int32{1, 5} {
			t.Fatalf("bounds after firing %d = %v, want [1 5]", i, got)
		}
	}
	acts, err = e.aas.DescribeScalingActivities(e.ctx, &applicationautoscaling.DescribeScalingActivitiesInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/rate"),
	})
	if err != nil {
		t.Fatal(err)
	}
	fired := 0
	for _, a := range acts.ScalingActivities {
		if aws.ToString(a.Cause) == "scheduled action name grow was triggered" {
			fired++
		}
	}
	if fired != 3 {
		t.Errorf("rate action fired %d times in 90 minutes, want 3", fired)
	}

	// cron() with a Timezone: 19:00 in Tokyo (UTC+9) is 10:00 UTC, an hour and ten minutes after
	// the fleet started.
	e.runningFleet("cron", "img-1", 3)
	if err := e.register("cron", 1, 5); err != nil {
		t.Fatal(err)
	}
	if err := e.putScheduled("cron", "evening", "cron(0 19 * * ? *)", "Asia/Tokyo", aws.Int32(0), aws.Int32(0)); err != nil {
		t.Fatal(err)
	}
	now := e.sim.Now()
	tenUTC := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, time.UTC)
	if !tenUTC.After(now) {
		tenUTC = tenUTC.Add(24 * time.Hour)
	}
	e.advance(tenUTC.Sub(now) - time.Minute)
	if got := e.bounds("cron"); got != [2]int32{1, 5} {
		t.Fatalf("bounds at 18:59 Tokyo = %v, want [1 5]", got)
	}
	e.advance(time.Minute)
	if got := e.bounds("cron"); got != [2]int32{0, 0} {
		t.Fatalf("bounds at 19:00 Tokyo = %v, want [0 0]", got)
	}
	if got := e.capacity("cron").Desired; got != 0 {
		t.Errorf("Desired after 0/0 = %d, want 0", got)
	}
	if tl, _ := e.sim.Timeline("cron"); len(tl.Drains) != 1 || !tl.Drains[0].ZeroAt.Equal(tenUTC) {
		t.Errorf("drains = %+v, want one from %v", tl.Drains, tenUTC)
	}
}

// sim10m is how long runningFleet takes to start a fleet.
const sim10m = 10 * time.Minute

func TestAutoScaling_ScheduledActionSuspended(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 2)
	_, err := e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		MinCapacity:       aws.Int32(2), MaxCapacity: aws.Int32(4),
		SuspendedState: &aastypes.SuspendedState{ScheduledScalingSuspended: aws.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.putScheduled("f1", "hourly", "rate(1 hour)", "", aws.Int32(0), aws.Int32(0)); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	if got := e.bounds("f1"); got != [2]int32{2, 4} {
		t.Fatalf("bounds of a suspended target after its action's time = %v, want [2 4]", got)
	}
	if got := e.capacity("f1").Desired; got != 2 {
		t.Errorf("Desired = %d, want 2", got)
	}
	// Resuming does not replay the skipped firing; the next one applies.
	_, err = e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		SuspendedState:    &aastypes.SuspendedState{ScheduledScalingSuspended: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.bounds("f1"); got != [2]int32{2, 4} {
		t.Fatalf("bounds right after resuming = %v, want [2 4]", got)
	}
	e.advance(time.Hour)
	if got := e.bounds("f1"); got != [2]int32{0, 0} {
		t.Errorf("bounds at the next firing after resuming = %v, want [0 0]", got)
	}
}

func TestAutoScaling_DescribeAndDeleteScheduledActions(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	for _, f := range []string{"a", "b"} {
		e.runningFleet(f, "img-1", 1)
		if err := e.register(f, 1, 3); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		if err := e.putScheduled("a", fmt.Sprintf("act-%d", i), "cron(0 18 ? * MON-FRI *)", "Europe/Paris", aws.Int32(0), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.putScheduled("b", "act-0", "rate(1 day)", "", nil, aws.Int32(2)); err != nil {
		t.Fatal(err)
	}

	// Pagination over every action of the namespace, then filters.
	var names []string
	p := applicationautoscaling.NewDescribeScheduledActionsPaginator(e.aas, &applicationautoscaling.DescribeScheduledActionsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, MaxResults: aws.Int32(3),
	})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.ScheduledActions {
			names = append(names, aws.ToString(a.ResourceId)+":"+aws.ToString(a.ScheduledActionName))
		}
	}
	if pages != 3 || len(names) != 8 || names[0] != "fleet/a:act-0" || names[7] != "fleet/b:act-0" {
		t.Errorf("%d pages: %v", pages, names)
	}
	filters := []struct {
		name string
		in   applicationautoscaling.DescribeScheduledActionsInput
		want int
	}{
		{"by resource", applicationautoscaling.DescribeScheduledActionsInput{ResourceId: aws.String("fleet/b")}, 1},
		{"by names", applicationautoscaling.DescribeScheduledActionsInput{ScheduledActionNames: []string{"act-0", "act-5", "nope"}}, 3},
		{"by names and resource", applicationautoscaling.DescribeScheduledActionsInput{ScheduledActionNames: []string{"act-0"}, ResourceId: aws.String("fleet/a"),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity}, 1},
		{"other namespace", applicationautoscaling.DescribeScheduledActionsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}, 0},
	}
	for _, f := range filters {
		in := f.in
		if in.ServiceNamespace == "" {
			in.ServiceNamespace = aastypes.ServiceNamespaceAppstream
		}
		out, err := e.aas.DescribeScheduledActions(e.ctx, &in)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if len(out.ScheduledActions) != f.want {
			t.Errorf("%s: %d actions, want %d", f.name, len(out.ScheduledActions), f.want)
		}
	}
	out, err := e.aas.DescribeScheduledActions(e.ctx, &applicationautoscaling.DescribeScheduledActionsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/a"), ScheduledActionNames: []string{"act-3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := out.ScheduledActions[0]
	if aws.ToString(a.Schedule) != "cron(0 18 ? * MON-FRI *)" || aws.ToString(a.Timezone) != "Europe/Paris" ||
		a.ScalableTargetAction == nil || aws.ToInt32(a.ScalableTargetAction.MinCapacity) != 0 || a.ScalableTargetAction.MaxCapacity != nil ||
		a.CreationTime == nil || a.StartTime != nil || a.ScalableDimension != aastypes.ScalableDimensionAppstreamFleetDesiredCapacity ||
		!strings.HasPrefix(aws.ToString(a.ScheduledActionARN), "arn:aws:autoscaling:us-east-1:123456789012:scheduledAction:") ||
		!strings.HasSuffix(aws.ToString(a.ScheduledActionARN), ":resource/appstream/fleet/a:scheduledActionName/act-3") {
		t.Errorf("action = %+v", a)
	}
	// An update changes only what it names.
	if _, err := e.aas.PutScheduledAction(e.ctx, &applicationautoscaling.PutScheduledActionInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/a"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, ScheduledActionName: aws.String("act-3"),
		ScalableTargetAction: &aastypes.ScalableTargetAction{MaxCapacity: aws.Int32(2)},
	}); err != nil {
		t.Fatal(err)
	}
	out, err = e.aas.DescribeScheduledActions(e.ctx, &applicationautoscaling.DescribeScheduledActionsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/a"), ScheduledActionNames: []string{"act-3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := out.ScheduledActions[0]; aws.ToString(u.Schedule) != "cron(0 18 ? * MON-FRI *)" || aws.ToString(u.Timezone) != "Europe/Paris" ||
		aws.ToInt32(u.ScalableTargetAction.MinCapacity) != 0 || aws.ToInt32(u.ScalableTargetAction.MaxCapacity) != 2 ||
		aws.ToString(u.ScheduledActionARN) != aws.ToString(a.ScheduledActionARN) {
		t.Errorf("updated action = %+v", u)
	}
	if _, err := e.aas.DescribeScheduledActions(e.ctx, &applicationautoscaling.DescribeScheduledActionsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, NextToken: aws.String("bogus"),
	}); errorCode(err) != "InvalidNextTokenException" {
		t.Errorf("bad token: %s, want InvalidNextTokenException", errorCode(err))
	}

	del := func(fleet, name string) error {
		_, err := e.aas.DeleteScheduledAction(e.ctx, &applicationautoscaling.DeleteScheduledActionInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, ScheduledActionName: aws.String(name),
		})
		return err
	}
	if err := del("b", "act-0"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ fleet, name string }{{"b", "act-0"}, {"a", "missing"}, {"nope", "act-0"}} {
		if code := errorCode(del(c.fleet, c.name)); code != "ObjectNotFoundException" {
			t.Errorf("delete %s/%s: %s, want ObjectNotFoundException", c.fleet, c.name, code)
		}
	}
	// A deleted action does not fire.
	e.advance(48 * time.Hour)
	if got := e.bounds("b"); got != [2]int32{1, 3} {
		t.Errorf("bounds of b after its action was deleted = %v, want [1 3]", got)
	}
	// Deregistering a target deletes its scheduled actions.
	if _, err := e.aas.DeregisterScalableTarget(e.ctx, &applicationautoscaling.DeregisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/a"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
	}); err != nil {
		t.Fatal(err)
	}
	out, err = e.aas.DescribeScheduledActions(e.ctx, &applicationautoscaling.DescribeScheduledActionsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream})
	if err != nil || len(out.ScheduledActions) != 0 {
		t.Errorf("actions after deregistering: %v, %+v", err, out)
	}
}

func TestAutoScaling_PutScheduledActionErrors(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f1", "img-1", 1)
	e.runningFleet("unregistered", "img-1", 1)
	if err := e.register("f1", 1, 3); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, fleet, action, schedule, tz string
		min, max                          *int32
		want                              string
	}{
		{"unknown expression", "f1", "a", "every(5 minutes)", "", nil, nil, "ValidationException"},
		{"bad at", "f1", "a", "at(2026-11-22 10:00)", "", nil, nil, "ValidationException"},
		{"bad rate unit", "f1", "a", "rate(2 weeks)", "", nil, nil, "ValidationException"},
		{"cron with five fields", "f1", "a", "cron(0 18 * * ?)", "", nil, nil, "ValidationException"},
		{"cron with L", "f1", "a", "cron(0 18 L * ? *)", "", nil, nil, "ValidationException"},
		{"cron with both days", "f1", "a", "cron(0 18 * * MON *)", "", nil, nil, "ValidationException"},
		{"bad time zone", "f1", "a", "cron(0 18 * * ? *)", "Mars/Olympus", nil, nil, "ValidationException"},
		{"name with slash", "f1", "a/b", "rate(1 hour)", "", nil, nil, "ValidationException"},
		{"min above max", "f1", "a", "rate(1 hour)", "", aws.Int32(4), aws.Int32(2), "ValidationException"},
		{"negative min", "f1", "a", "rate(1 hour)", "", aws.Int32(-1), nil, "ValidationException"},
		{"target not registered", "unregistered", "a", "rate(1 hour)", "", nil, nil, "ObjectNotFoundException"},
		{"valid", "f1", "a", "rate(1 hour)", "UTC", aws.Int32(1), aws.Int32(2), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.putScheduled(tc.fleet, tc.action, tc.schedule, tc.tz, tc.min, tc.max)
			if code := errorCode(err); code != tc.want {
				t.Errorf("code %q (%v), want %q", code, err, tc.want)
			}
		})
	}
	// A new action needs a Schedule; EndTime must not precede StartTime.
	_, err := e.aas.PutScheduledAction(e.ctx, &applicationautoscaling.PutScheduledActionInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, ScheduledActionName: aws.String("new"),
	})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("new action without Schedule: %s, want ValidationException", code)
	}
	_, err = e.aas.PutScheduledAction(e.ctx, &applicationautoscaling.PutScheduledActionInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/f1"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, ScheduledActionName: aws.String("new"),
		Schedule: aws.String("rate(1 hour)"), StartTime: aws.Time(epoch.Add(2 * time.Hour)), EndTime: aws.Time(epoch.Add(time.Hour)),
	})
	if code := errorCode(err); code != "ValidationException" {
		t.Errorf("EndTime before StartTime: %s, want ValidationException", code)
	}
}
