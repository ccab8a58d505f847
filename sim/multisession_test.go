package sim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/sim"
)

// multiFleet creates a running ALWAYS_ON multi-session fleet with perInstance sessions per
// instance and desired sessions, and waits (in simulated time) until its instances are up.
func (e *env) multiFleet(name, image string, perInstance, desired int32) {
	e.t.Helper()
	_, err := e.as.CreateFleet(e.ctx, &appstream.CreateFleetInput{
		Name: aws.String(name), InstanceType: aws.String("stream.standard.xlarge"),
		FleetType: astypes.FleetTypeAlwaysOn, ImageName: aws.String(image),
		MaxSessionsPerInstance: aws.Int32(perInstance),
		ComputeCapacity:        &astypes.ComputeCapacity{DesiredSessions: aws.Int32(desired)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.as.StartFleet(e.ctx, &appstream.StartFleetInput{Name: aws.String(name)}); err != nil {
		e.t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.FleetStart)
}

// multiCapacity is a multi-session fleet's ComputeCapacityStatus.
type multiCapacity struct {
	Desired, Running, InUse, Available         int32
	DesiredUS, AvailableUS, ActiveUS, ActualUS int32
	Draining, DrainActive, DrainUnused         int32
	PresentUserSessions                        bool
}

func (e *env) multiCapacity(name string) multiCapacity {
	e.t.Helper()
	c := e.fleet(name).ComputeCapacityStatus
	i := aws.ToInt32
	return multiCapacity{i(c.Desired), i(c.Running), i(c.InUse), i(c.Available),
		i(c.DesiredUserSessions), i(c.AvailableUserSessions), i(c.ActiveUserSessions), i(c.ActualUserSessions),
		i(c.Draining), i(c.DrainModeActiveUserSessions), i(c.DrainModeUnusedUserSessions), c.ActiveUserSessions != nil}
}

// sessionsOf lists a fleet's API sessions as session id → instance id and drain status.
func (e *env) sessionsOf(fleet, stack string) map[string][2]string {
	e.t.Helper()
	out := map[string][2]string{}
	in := &appstream.DescribeSessionsInput{FleetName: aws.String(fleet), StackName: aws.String(stack)}
	for {
		page, err := e.as.DescribeSessions(e.ctx, in)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ss := range page.Sessions {
			out[aws.ToString(ss.Id)] = [2]string{aws.ToString(ss.InstanceId), string(ss.InstanceDrainStatus)}
		}
		if page.NextToken == nil {
			return out
		}
		in.NextToken = page.NextToken
	}
}

func (e *env) instances(fleet string) []sim.Instance {
	e.t.Helper()
	ins, err := e.sim.Instances(fleet)
	if err != nil {
		e.t.Fatal(err)
	}
	return ins
}

func (e *env) sessionInstance(fleet, stack, user string) (session, instance string) {
	e.t.Helper()
	info, err := e.sim.StartSession(sim.SessionSpec{FleetName: fleet, StackName: stack, UserId: user})
	if err != nil {
		e.t.Fatal(err)
	}
	return info.SessionId, info.InstanceId
}

func TestMultiSession_CreateAndUpdateValidation(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	create := func(name string, ft astypes.FleetType, perInstance *int32, cc *astypes.ComputeCapacity) error {
		in := &appstream.CreateFleetInput{Name: aws.String(name), InstanceType: aws.String("stream.standard.xlarge"),
			FleetType: ft, MaxSessionsPerInstance: perInstance, ComputeCapacity: cc}
		if ft == astypes.FleetTypeElastic {
			in.Platform, in.MaxConcurrentSessions = astypes.PlatformTypeWindowsServer2022, aws.Int32(5)
		} else {
			in.ImageName = aws.String("img-1")
		}
		_, err := e.as.CreateFleet(e.ctx, in)
		return err
	}
	cases := []struct {
		name        string
		ft          astypes.FleetType
		perInstance *int32
		cc          *astypes.ComputeCapacity
		want        string
	}{
		{"multi-session with DesiredInstances", astypes.FleetTypeAlwaysOn, aws.Int32(4), &astypes.ComputeCapacity{DesiredInstances: aws.Int32(2)}, "InvalidParameterCombinationException"},
		{"multi-session without capacity", astypes.FleetTypeAlwaysOn, aws.Int32(4), nil, "InvalidParameterCombinationException"},
		{"single-session with DesiredSessions", astypes.FleetTypeAlwaysOn, nil, &astypes.ComputeCapacity{DesiredSessions: aws.Int32(2)}, "InvalidParameterCombinationException"},
		{"both capacities", astypes.FleetTypeAlwaysOn, aws.Int32(4), &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1), DesiredSessions: aws.Int32(2)}, "InvalidParameterCombinationException"},
		{"elastic with sessions per instance", astypes.FleetTypeElastic, aws.Int32(4), nil, "InvalidParameterCombinationException"},
		{"zero sessions per instance", astypes.FleetTypeAlwaysOn, aws.Int32(0), &astypes.ComputeCapacity{DesiredSessions: aws.Int32(2)}, "ValidationException"},
		{"over the instance quota", astypes.FleetTypeAlwaysOn, aws.Int32(4), &astypes.ComputeCapacity{DesiredSessions: aws.Int32(4001)}, "LimitExceededException"},
		{"at the instance quota", astypes.FleetTypeAlwaysOn, aws.Int32(4), &astypes.ComputeCapacity{DesiredSessions: aws.Int32(4000)}, ""},
		{"one session per instance is single-session", astypes.FleetTypeAlwaysOn, aws.Int32(1), &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1)}, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := create("f"+string(rune('a'+i)), c.ft, c.perInstance, c.cc)
			if got := errorCode(err); got != c.want {
				t.Errorf("CreateFleet: %q (%v), want %q", got, err, c.want)
			}
		})
	}

	// A created multi-session fleet: instances = ⌈sessions / per instance⌉.
	if err := create("multi", astypes.FleetTypeAlwaysOn, aws.Int32(4), &astypes.ComputeCapacity{DesiredSessions: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	f := e.fleet("multi")
	if aws.ToInt32(f.MaxSessionsPerInstance) != 4 || aws.ToInt32(f.ComputeCapacityStatus.Desired) != 3 || aws.ToInt32(f.ComputeCapacityStatus.DesiredUserSessions) != 12 {
		t.Errorf("stopped multi-session fleet: MaxSessionsPerInstance %d, Desired %d, DesiredUserSessions %d; want 4, 3, 12",
			aws.ToInt32(f.MaxSessionsPerInstance), aws.ToInt32(f.ComputeCapacityStatus.Desired), aws.ToInt32(f.ComputeCapacityStatus.DesiredUserSessions))
	}
	if e.fleet("fi").ComputeCapacityStatus.DesiredUserSessions != nil {
		t.Error("a single-session fleet reports DesiredUserSessions")
	}

	updates := []struct {
		name string
		in   appstream.UpdateFleetInput
		want string
		// desired is the instance count afterwards (when want is "").
		desired int32
	}{
		{"DesiredInstances on a multi-session fleet", appstream.UpdateFleetInput{ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(1)}}, "InvalidParameterCombinationException", 0},
		{"set and delete sessions per instance", appstream.UpdateFleetInput{MaxSessionsPerInstance: aws.Int32(2), AttributesToDelete: []astypes.FleetAttribute{astypes.FleetAttributeMaxSessionsPerInstance}}, "InvalidParameterCombinationException", 0},
		{"DesiredSessions", appstream.UpdateFleetInput{ComputeCapacity: &astypes.ComputeCapacity{DesiredSessions: aws.Int32(5)}}, "", 2},
		{"fewer sessions per instance keeps the sessions", appstream.UpdateFleetInput{MaxSessionsPerInstance: aws.Int32(2)}, "", 3},
		{"back to single-session keeps the instances", appstream.UpdateFleetInput{AttributesToDelete: []astypes.FleetAttribute{astypes.FleetAttributeMaxSessionsPerInstance}}, "", 3},
		{"DesiredSessions on a single-session fleet", appstream.UpdateFleetInput{ComputeCapacity: &astypes.ComputeCapacity{DesiredSessions: aws.Int32(5)}}, "InvalidParameterCombinationException", 0},
		{"multi-session again: as many sessions as the instances hold", appstream.UpdateFleetInput{MaxSessionsPerInstance: aws.Int32(5)}, "", 3},
	}
	for _, u := range updates {
		t.Run(u.name, func(t *testing.T) {
			before := e.fleet("multi")
			in := u.in
			in.Name = aws.String("multi")
			_, err := e.as.UpdateFleet(e.ctx, &in)
			if got := errorCode(err); got != u.want {
				t.Fatalf("UpdateFleet: %q (%v), want %q", got, err, u.want)
			}
			after := e.fleet("multi")
			if u.want != "" {
				if diff := cmp.Diff(before.ComputeCapacityStatus, after.ComputeCapacityStatus, cmp.AllowUnexported(astypes.ComputeCapacityStatus{})); diff != "" {
					t.Errorf("a refused update changed the capacity:\n%s", diff)
				}
				return
			}
			if got := aws.ToInt32(after.ComputeCapacityStatus.Desired); got != u.desired {
				t.Errorf("Desired = %d, want %d", got, u.desired)
			}
		})
	}
	if got := aws.ToInt32(e.fleet("multi").ComputeCapacityStatus.DesiredUserSessions); got != 15 {
		t.Errorf("DesiredUserSessions after turning multi-session with 3 instances of 5 = %d, want 15", got)
	}
}

func TestMultiSession_PackingAndCapacity(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.multiFleet("m", "img-1", 4, 10)
	e.stack("s", "m")
	if diff := cmp.Diff(multiCapacity{3, 3, 0, 3, 12, 12, 0, 12, 0, 0, 0, true}, e.multiCapacity("m")); diff != "" {
		t.Errorf("idle fleet (-want +got):\n%s", diff)
	}
	byInstance := map[string]int{}
	var order []string
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		_, in := e.sessionInstance("m", "s", u)
		if byInstance[in] == 0 {
			order = append(order, in)
		}
		byInstance[in]++
	}
	// The fullest instance with a free slot first: 4 on the first, then 2 on the second.
	if len(order) != 2 || byInstance[order[0]] != 4 || byInstance[order[1]] != 2 {
		t.Errorf("packing: %v in order %v, want 4 then 2", byInstance, order)
	}
	if diff := cmp.Diff(multiCapacity{3, 3, 2, 1, 12, 6, 6, 12, 0, 0, 0, true}, e.multiCapacity("m")); diff != "" {
		t.Errorf("6 sessions (-want +got):\n%s", diff)
	}
	for id, s := range e.sessionsOf("m", "s") {
		if s[1] != "ACTIVE" || byInstance[s[0]] == 0 {
			t.Errorf("session %s: instance %s, drain status %s; want a known instance, ACTIVE", id, s[0], s[1])
		}
	}
	for _, in := range e.instances("m") {
		if in.DrainStatus != "ACTIVE" || in.SessionId != "" || len(in.SessionIds) != byInstance[in.InstanceId] || in.ImageName != "img-1" {
			t.Errorf("control API instance %+v: want ACTIVE, %d SessionIds, no SessionId, image img-1", in, byInstance[in.InstanceId])
		}
	}
	// Filling the fleet: 12 slots, then no more.
	for i := range 6 {
		e.session("m", "s", "v"+string(rune('a'+i)))
	}
	if _, err := e.sim.StartSession(sim.SessionSpec{FleetName: "m", StackName: "s", UserId: "late"}); err == nil {
		t.Error("a 13th session started on 12 slots")
	}
}

func TestMultiSession_DrainSessionInstance(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.image("img-2", "WINDOWS_SERVER_2022")
	e.multiFleet("m", "img-1", 4, 8)
	e.stack("s", "m")
	var first []string
	var hostA string
	for _, u := range []string{"u1", "u2", "u3"} {
		id, in := e.sessionInstance("m", "s", u)
		first, hostA = append(first, id), in
	}

	errs := []struct {
		name, session, want string
	}{
		{"unknown session", "nope", "ResourceNotFoundException"},
		{"empty session id", "", "ValidationException"},
	}
	for _, c := range errs {
		_, err := e.as.DrainSessionInstance(e.ctx, &appstream.DrainSessionInstanceInput{SessionId: aws.String(c.session)})
		if got := errorCode(err); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if _, err := e.as.DrainSessionInstance(e.ctx, &appstream.DrainSessionInstanceInput{SessionId: aws.String(first[0])}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.DrainSessionInstance(e.ctx, &appstream.DrainSessionInstanceInput{SessionId: aws.String(first[1])}); err != nil {
		t.Errorf("draining a draining instance again: %v, want success", err)
	}
	for id, s := range e.sessionsOf("m", "s") {
		if s[0] != hostA || s[1] != "DRAINING" {
			t.Errorf("session %s: %v, want on %s DRAINING", id, s, hostA)
		}
	}
	// Draining instance: 3 active sessions, 1 unusable slot; the other instance has 4 free.
	if diff := cmp.Diff(multiCapacity{2, 2, 1, 1, 7, 4, 3, 7, 1, 3, 1, true}, e.multiCapacity("m")); diff != "" {
		t.Errorf("after drain (-want +got):\n%s", diff)
	}
	// New sessions avoid the draining instance.
	if _, in := e.sessionInstance("m", "s", "new"); in == hostA {
		t.Errorf("a new session landed on draining instance %s", in)
	}
	// The image changes meanwhile; the drained instance is replaced from the current image.
	if _, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("m"), ImageName: aws.String("img-2")}); err != nil {
		t.Fatal(err)
	}
	for i, id := range first {
		if _, err := e.as.ExpireSession(e.ctx, &appstream.ExpireSessionInput{SessionId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		var state string
		live := 0
		for _, in := range e.instances("m") {
			if in.InstanceId == hostA {
				state = in.State
			}
			if in.State != sim.InstanceTerminating {
				live++
			}
		}
		want := sim.InstanceRunning
		if i == len(first)-1 {
			want = sim.InstanceTerminating
		}
		if state != want {
			t.Errorf("after %d of 3 sessions ended: drained instance %s, want %s", i+1, state, want)
		}
		if live != 2 {
			t.Errorf("after %d of 3 sessions ended: %d live instances, want 2 (replacement only once empty)", i+1, live)
		}
	}
	e.advance(sim.DefaultTimings.InstanceProvision)
	var images []string
	for _, in := range e.instances("m") {
		if in.InstanceId == hostA {
			t.Errorf("drained instance still there: %+v", in)
		}
		images = append(images, in.ImageName)
	}
	if len(images) != 2 || images[1] != "img-2" {
		t.Errorf("instances' images %v, want the replacement on img-2", images)
	}
	c := e.multiCapacity("m")
	if c.Draining != 0 || c.DrainActive != 0 || c.DrainUnused != 0 || c.ActiveUS != 1 {
		t.Errorf("after the drain: %+v", c)
	}

	// Single-session fleets cannot drain.
	e.runningFleet("single", "img-1", 1)
	e.stack("s2", "single")
	id := e.session("single", "s2", "alice")
	_, err := e.as.DrainSessionInstance(e.ctx, &appstream.DrainSessionInstanceInput{SessionId: aws.String(id)})
	if got := errorCode(err); got != "OperationNotPermittedException" {
		t.Errorf("drain on a single-session fleet: %q, want OperationNotPermittedException", got)
	}
	if s := e.sessionsOf("single", "s2")[id]; s[1] != "NOT_APPLICABLE" || s[0] == "" {
		t.Errorf("single-session session: %v, want an instance and NOT_APPLICABLE", s)
	}
}

func TestMultiSession_ScaleInKeepsInstancesWithSessions(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.multiFleet("m", "img-1", 4, 12)
	e.stack("s", "m")
	var onSecond string
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		id, _ := e.sessionInstance("m", "s", u)
		onSecond = id // the fifth lands on the second instance
	}
	if _, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("m"),
		ComputeCapacity: &astypes.ComputeCapacity{DesiredSessions: aws.Int32(1)}}); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.InstanceTerminate)
	c := e.multiCapacity("m")
	if c.Desired != 1 || c.Running != 2 || c.InUse != 2 || c.ActiveUS != 5 {
		t.Errorf("after scale-in to 1 instance: %+v; want Desired 1 with both instances in use kept", c)
	}
	// The emptied instance goes once its session ends; the slot freed on it is not reused first.
	if _, err := e.as.ExpireSession(e.ctx, &appstream.ExpireSessionInput{SessionId: aws.String(onSecond)}); err != nil {
		t.Fatal(err)
	}
	e.advance(sim.DefaultTimings.InstanceTerminate)
	c = e.multiCapacity("m")
	if c.Running != 1 || c.InUse != 1 || c.ActiveUS != 4 || c.AvailableUS != 0 {
		t.Errorf("after the second instance emptied: %+v; want 1 running instance, full", c)
	}
	// ExpireSession frees a slot that a new session can take.
	for id := range e.sessionsOf("m", "s") {
		if _, err := e.as.ExpireSession(e.ctx, &appstream.ExpireSessionInput{SessionId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		break
	}
	if got := e.multiCapacity("m").AvailableUS; got != 1 {
		t.Errorf("AvailableUserSessions after ExpireSession = %d, want 1", got)
	}
	e.session("m", "s", "again")
}

func TestMultiSession_ImageRollOver(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.image("img-2", "WINDOWS_SERVER_2022")
	e.multiFleet("m", "img-1", 2, 4)
	e.stack("s", "m")
	id, oldHost := e.sessionInstance("m", "s", "alice")
	if _, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{Name: aws.String("m"), ImageName: aws.String("img-2")}); err != nil {
		t.Fatal(err)
	}
	// Until a new-image instance is up, a new session still lands on the old image.
	if _, in := e.sessionInstance("m", "s", "bob"); in != oldHost {
		t.Errorf("bob on %s, want the fullest old instance %s", in, oldHost)
	}
	e.advance(sim.DefaultTimings.ImageReplace + sim.DefaultTimings.InstanceProvision)
	_, in := e.sessionInstance("m", "s", "carol")
	for _, x := range e.instances("m") {
		if x.InstanceId == in && x.ImageName != "img-2" {
			t.Errorf("carol on %s (%s), want a new-image instance", in, x.ImageName)
		}
		if x.InstanceId == oldHost && (x.State != sim.InstanceRunning || x.ImageName != "img-1") {
			t.Errorf("the old instance in use: %+v, want RUNNING on img-1", x)
		}
	}
	// The old instance is replaced once empty.
	for sid, s := range e.sessionsOf("m", "s") {
		if s[0] == oldHost {
			if _, err := e.as.ExpireSession(e.ctx, &appstream.ExpireSessionInput{SessionId: aws.String(sid)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = id
	e.advance(sim.DefaultTimings.InstanceProvision)
	for _, x := range e.instances("m") {
		if x.ImageName != "img-2" {
			t.Errorf("after the old instance emptied: %+v still on the old image", x)
		}
	}
}

// FuzzPoliciesAndMultiSession sends arbitrary bodies to the scaling-policy operations and the
// multi-session AppStream operations, then lets an hour pass so that whatever was stored is
// evaluated: the emulator must answer each with a well-formed AWS response, never a panic or
// an internal failure.
func FuzzPoliciesAndMultiSession(f *testing.F) {
	targets := []string{
		"AnyScaleFrontendService.PutScalingPolicy", "AnyScaleFrontendService.DescribeScalingPolicies",
		"AnyScaleFrontendService.DeleteScalingPolicy", "AnyScaleFrontendService.RegisterScalableTarget",
		"AnyScaleFrontendService.DescribeScalingActivities", "PhotonAdminProxyService.DrainSessionInstance",
		"PhotonAdminProxyService.CreateFleet", "PhotonAdminProxyService.UpdateFleet", "PhotonAdminProxyService.ExpireSession",
	}
	seeds := []string{
		`{}`, `null`, `[`,
		`{"ServiceNamespace":"appstream","ResourceId":"fleet/m","ScalableDimension":"appstream:fleet:DesiredCapacity","PolicyName":"p","PolicyType":"TargetTrackingScaling","TargetTrackingScalingPolicyConfiguration":{"TargetValue":50,"PredefinedMetricSpecification":{"PredefinedMetricType":"AppStreamAverageCapacityUtilization"}}}`,
		`{"ServiceNamespace":"appstream","ResourceId":"fleet/m","ScalableDimension":"appstream:fleet:DesiredCapacity","PolicyName":"s","PolicyType":"StepScaling","StepScalingPolicyConfiguration":{"AdjustmentType":"PercentChangeInCapacity","MinAdjustmentMagnitude":1,"StepAdjustments":[{"MetricIntervalLowerBound":0,"ScalingAdjustment":-50}]}}`,
		`{"ServiceNamespace":"appstream","ResourceId":"fleet/m","ScalableDimension":"appstream:fleet:DesiredCapacity","PolicyName":"p","PolicyType":"StepScaling"}`,
		`{"ServiceNamespace":"appstream","MaxResults":1,"NextToken":"x"}`,
		`{"SessionId":"nope"}`, `{"Name":"m","MaxSessionsPerInstance":2,"ComputeCapacity":{"DesiredSessions":3}}`,
		`{"Name":"m","ComputeCapacity":{"DesiredSessions":2147483647}}`,
		`{"Name":"n","InstanceType":"stream.standard.xlarge","ImageName":"img-1","MaxSessionsPerInstance":2147483647,"ComputeCapacity":{"DesiredSessions":2147483647}}`,
		`{"ServiceNamespace":"appstream","ResourceId":"fleet/m","ScalableDimension":"appstream:fleet:DesiredCapacity","MinCapacity":0,"MaxCapacity":2147483647}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		clock := sim.NewManualClock(epoch)
		s := sim.New(sim.Options{Clock: clock, RandSeed: 1})
		call := func(target, body string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("X-Amz-Target", target)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			return rec
		}
		if _, err := s.CreateImage(sim.ImageSpec{Name: "img-1"}); err != nil {
			t.Fatal(err)
		}
		setup := [][2]string{
			{"PhotonAdminProxyService.CreateFleet", `{"Name":"m","InstanceType":"stream.standard.xlarge","ImageName":"img-1","FleetType":"ALWAYS_ON","MaxSessionsPerInstance":4,"ComputeCapacity":{"DesiredSessions":8}}`},
			{"PhotonAdminProxyService.StartFleet", `{"Name":"m"}`},
			{"PhotonAdminProxyService.CreateStack", `{"Name":"s"}`},
			{"PhotonAdminProxyService.AssociateFleet", `{"FleetName":"m","StackName":"s"}`},
			{"AnyScaleFrontendService.RegisterScalableTarget", `{"ServiceNamespace":"appstream","ResourceId":"fleet/m","ScalableDimension":"appstream:fleet:DesiredCapacity","MinCapacity":0,"MaxCapacity":40}`},
		}
		for _, c := range setup {
			if rec := call(c[0], c[1]); rec.Code != 200 {
				t.Fatalf("setup %s: %d %s", c[0], rec.Code, rec.Body)
			}
		}
		if err := s.Advance(sim.DefaultTimings.FleetStart); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"alice", "bob", "carol"} {
			if _, err := s.StartSession(sim.SessionSpec{FleetName: "m", StackName: "s", UserId: u}); err != nil {
				t.Fatal(err)
			}
		}
		target := targets[int(op)%len(targets)]
		rec := call(target, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", target, body, rec.Code, rec.Body)
		}
		if rec.Code != 200 && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("error without X-Amzn-ErrorType: %d %s", rec.Code, rec.Body)
		}
		if err := s.Advance(time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2]string{
			{"PhotonAdminProxyService.DescribeFleets", `{}`},
			{"PhotonAdminProxyService.DescribeSessions", `{"FleetName":"m","StackName":"s"}`},
			{"AnyScaleFrontendService.DescribeScalingPolicies", `{"ServiceNamespace":"appstream"}`},
			{"AnyScaleFrontendService.DescribeScalingActivities", `{"ServiceNamespace":"appstream","IncludeNotScaledActivities":true}`},
		} {
			if rec := call(c[0], c[1]); rec.Code != 200 {
				t.Fatalf("after %s %q: %s: %d %s", target, body, c[0], rec.Code, rec.Body)
			}
		}
	})
}
