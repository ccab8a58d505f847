package sim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/deskpilot/deskpilot/sim"
)

func trackingConfig(target float64, mod func(*aastypes.TargetTrackingScalingPolicyConfiguration)) *aastypes.TargetTrackingScalingPolicyConfiguration {
	c := &aastypes.TargetTrackingScalingPolicyConfiguration{
		TargetValue: aws.Float64(target),
		PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{
			PredefinedMetricType: aastypes.MetricTypeAppStreamAverageCapacityUtilization,
		},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func (e *env) putPolicy(fleet, name string, tt *aastypes.TargetTrackingScalingPolicyConfiguration, step *aastypes.StepScalingPolicyConfiguration) (*applicationautoscaling.PutScalingPolicyOutput, error) {
	in := &applicationautoscaling.PutScalingPolicyInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, PolicyName: aws.String(name),
		TargetTrackingScalingPolicyConfiguration: tt, StepScalingPolicyConfiguration: step,
	}
	switch {
	case tt != nil:
		in.PolicyType = aastypes.PolicyTypeTargetTrackingScaling
	case step != nil:
		in.PolicyType = aastypes.PolicyTypeStepScaling
	}
	return e.aas.PutScalingPolicy(e.ctx, in)
}

func (e *env) mustPutPolicy(fleet, name string, tt *aastypes.TargetTrackingScalingPolicyConfiguration, step *aastypes.StepScalingPolicyConfiguration) {
	e.t.Helper()
	if _, err := e.putPolicy(fleet, name, tt, step); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) policies(in *applicationautoscaling.DescribeScalingPoliciesInput) []string {
	e.t.Helper()
	in.ServiceNamespace = aastypes.ServiceNamespaceAppstream
	var names []string
	for {
		out, err := e.aas.DescribeScalingPolicies(e.ctx, in)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, p := range out.ScalingPolicies {
			names = append(names, aws.ToString(p.ResourceId)+":"+aws.ToString(p.PolicyName))
		}
		if out.NextToken == nil {
			return names
		}
		in.NextToken = out.NextToken
	}
}

func (e *env) activities(fleet string, notScaled bool) []aastypes.ScalingActivity {
	e.t.Helper()
	out, err := e.aas.DescribeScalingActivities(e.ctx, &applicationautoscaling.DescribeScalingActivitiesInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		IncludeNotScaledActivities: aws.Bool(notScaled),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.ScalingActivities
}

func (e *env) suspend(fleet string, in, out bool) {
	e.t.Helper()
	_, err := e.aas.RegisterScalableTarget(e.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		SuspendedState:    &aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(in), DynamicScalingOutSuspended: aws.Bool(out)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestScalingPolicies_PutDescribeDelete(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	for _, f := range []string{"a", "b"} {
		e.runningFleet(f, "img-1", 1)
		if err := e.register(f, 1, 5); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.putPolicy("nope", "p", trackingConfig(70, nil), nil)
	if code := errorCode(err); code != "ValidationException" && code != "ObjectNotFoundException" {
		t.Fatalf("policy on an unknown fleet: %s", code)
	}
	e.runningFleet("unregistered", "img-1", 1)
	if _, err := e.putPolicy("unregistered", "p", trackingConfig(70, nil), nil); errorCode(err) != "ObjectNotFoundException" {
		t.Errorf("policy without a scalable target: %v, want ObjectNotFoundException", err)
	}

	out, err := e.putPolicy("a", "track", trackingConfig(70, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.PolicyARN)
	if !strings.HasPrefix(arn, "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:") || !strings.HasSuffix(arn, ":resource/appstream/fleet/a:policyName/track") {
		t.Errorf("PolicyARN = %s", arn)
	}
	if len(out.Alarms) != 2 || !strings.HasPrefix(aws.ToString(out.Alarms[0].AlarmName), "TargetTracking-fleet/a-AlarmHigh-") ||
		!strings.HasPrefix(aws.ToString(out.Alarms[1].AlarmName), "TargetTracking-fleet/a-AlarmLow-") ||
		!strings.HasPrefix(aws.ToString(out.Alarms[0].AlarmARN), "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-fleet/a-AlarmHigh-") {
		t.Errorf("Alarms = %+v, want AlarmHigh and AlarmLow", out.Alarms)
	}
	// An update keeps the ARN; disabling scale-in drops AlarmLow.
	out2, err := e.putPolicy("a", "track", trackingConfig(60, func(c *aastypes.TargetTrackingScalingPolicyConfiguration) { c.DisableScaleIn = aws.Bool(true) }), nil)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out2.PolicyARN) != arn || len(out2.Alarms) != 1 || aws.ToString(out2.Alarms[0].AlarmName) != aws.ToString(out.Alarms[0].AlarmName) {
		t.Errorf("update: ARN %s alarms %+v; want the same ARN and AlarmHigh only", aws.ToString(out2.PolicyARN), out2.Alarms)
	}
	step := &aastypes.StepScalingPolicyConfiguration{
		AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, Cooldown: aws.Int32(120),
		MetricAggregationType: aastypes.MetricAggregationTypeAverage,
		StepAdjustments:       []aastypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(75), ScalingAdjustment: aws.Int32(2)}},
	}
	sout, err := e.putPolicy("a", "step-out", nil, step)
	if err != nil {
		t.Fatal(err)
	}
	if len(sout.Alarms) != 0 {
		t.Errorf("step policy alarms %+v, want none (the caller's alarm drives it)", sout.Alarms)
	}
	for i := range 12 {
		e.mustPutPolicy("b", fmt.Sprintf("p%02d", i), trackingConfig(50, nil), nil)
	}

	// Describe: filters and pages (MaxResults 1–10).
	got, err := e.aas.DescribeScalingPolicies(e.ctx, &applicationautoscaling.DescribeScalingPoliciesInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/a"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ScalingPolicies) != 2 {
		t.Fatalf("policies of a: %d", len(got.ScalingPolicies))
	}
	sp, tp := got.ScalingPolicies[0], got.ScalingPolicies[1]
	if sp.PolicyType != aastypes.PolicyTypeStepScaling || sp.StepScalingPolicyConfiguration == nil ||
		sp.StepScalingPolicyConfiguration.AdjustmentType != aastypes.AdjustmentTypeChangeInCapacity ||
		aws.ToInt32(sp.StepScalingPolicyConfiguration.Cooldown) != 120 ||
		aws.ToFloat64(sp.StepScalingPolicyConfiguration.StepAdjustments[0].MetricIntervalLowerBound) != 75 ||
		sp.StepScalingPolicyConfiguration.StepAdjustments[0].MetricIntervalUpperBound != nil || sp.Alarms == nil {
		t.Errorf("step policy = %+v", sp)
	}
	if tp.PolicyType != aastypes.PolicyTypeTargetTrackingScaling || aws.ToFloat64(tp.TargetTrackingScalingPolicyConfiguration.TargetValue) != 60 ||
		tp.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType != aastypes.MetricTypeAppStreamAverageCapacityUtilization ||
		!aws.ToBool(tp.TargetTrackingScalingPolicyConfiguration.DisableScaleIn) || tp.CreationTime == nil || !tp.CreationTime.Equal(epoch.Add(3*sim.DefaultTimings.FleetStart)) ||
		aws.ToString(tp.PolicyARN) != arn || tp.ScalableDimension != aastypes.ScalableDimensionAppstreamFleetDesiredCapacity {
		t.Errorf("target tracking policy = %+v (created %v)", tp, tp.CreationTime)
	}
	filters := []struct {
		name string
		in   applicationautoscaling.DescribeScalingPoliciesInput
		want int
	}{
		{"all, over pages", applicationautoscaling.DescribeScalingPoliciesInput{}, 14},
		{"pages of one", applicationautoscaling.DescribeScalingPoliciesInput{MaxResults: aws.Int32(1), ResourceId: aws.String("fleet/a")}, 2},
		{"by name", applicationautoscaling.DescribeScalingPoliciesInput{PolicyNames: []string{"p03", "track"}}, 2},
		{"by name and resource", applicationautoscaling.DescribeScalingPoliciesInput{PolicyNames: []string{"p03", "track"}, ResourceId: aws.String("fleet/b")}, 1},
		{"dimension", applicationautoscaling.DescribeScalingPoliciesInput{ResourceId: aws.String("fleet/b"), ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity}, 12},
		{"another dimension", applicationautoscaling.DescribeScalingPoliciesInput{ResourceId: aws.String("fleet/b"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount}, 0},
	}
	for _, f := range filters {
		in := f.in
		if got := e.policies(&in); len(got) != f.want {
			t.Errorf("%s: %d policies %v, want %d", f.name, len(got), got, f.want)
		}
	}
	for _, c := range []struct {
		name string
		in   applicationautoscaling.DescribeScalingPoliciesInput
		want string
	}{
		{"MaxResults 11", applicationautoscaling.DescribeScalingPoliciesInput{MaxResults: aws.Int32(11)}, "ValidationException"},
		{"dimension without resource", applicationautoscaling.DescribeScalingPoliciesInput{ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity}, "ValidationException"},
		{"bad token", applicationautoscaling.DescribeScalingPoliciesInput{NextToken: aws.String("garbage")}, "InvalidNextTokenException"},
	} {
		in := c.in
		in.ServiceNamespace = aastypes.ServiceNamespaceAppstream
		if _, err := e.aas.DescribeScalingPolicies(e.ctx, &in); errorCode(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}

	del := func(fleet, name string) error {
		_, err := e.aas.DeleteScalingPolicy(e.ctx, &applicationautoscaling.DeleteScalingPolicyInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, PolicyName: aws.String(name),
		})
		return err
	}
	if err := del("a", "track"); err != nil {
		t.Fatal(err)
	}
	if err := del("a", "track"); errorCode(err) != "ObjectNotFoundException" {
		t.Errorf("deleting twice: %v, want ObjectNotFoundException", err)
	}
	if got := e.policies(&applicationautoscaling.DescribeScalingPoliciesInput{ResourceId: aws.String("fleet/a")}); len(got) != 1 {
		t.Errorf("after delete: %v", got)
	}

	// Deregistering a target deletes its policies and scheduled actions.
	if err := e.putScheduled("b", "night", "cron(0 20 * * ? *)", "", aws.Int32(0), aws.Int32(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.aas.DeregisterScalableTarget(e.ctx, &applicationautoscaling.DeregisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/b"),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.register("b", 1, 5); err != nil {
		t.Fatal(err)
	}
	if got := e.policies(&applicationautoscaling.DescribeScalingPoliciesInput{ResourceId: aws.String("fleet/b")}); len(got) != 0 {
		t.Errorf("policies after deregister and register again: %v", got)
	}
	sa, err := e.aas.DescribeScheduledActions(e.ctx, &applicationautoscaling.DescribeScheduledActionsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/b")})
	if err != nil || len(sa.ScheduledActions) != 0 {
		t.Errorf("scheduled actions after deregister: %v %v", sa, err)
	}
}

func TestScalingPolicies_Validation(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f", "img-1", 1)
	if err := e.register("f", 1, 5); err != nil {
		t.Fatal(err)
	}
	steps := func(typ aastypes.AdjustmentType, mam *int32, adj ...aastypes.StepAdjustment) *aastypes.StepScalingPolicyConfiguration {
		return &aastypes.StepScalingPolicyConfiguration{AdjustmentType: typ, MinAdjustmentMagnitude: mam, StepAdjustments: adj}
	}
	up := func(lo float64, n int32) aastypes.StepAdjustment {
		return aastypes.StepAdjustment{MetricIntervalLowerBound: aws.Float64(lo), ScalingAdjustment: aws.Int32(n)}
	}
	between := func(lo, hi float64, n int32) aastypes.StepAdjustment {
		return aastypes.StepAdjustment{MetricIntervalLowerBound: aws.Float64(lo), MetricIntervalUpperBound: aws.Float64(hi), ScalingAdjustment: aws.Int32(n)}
	}
	cases := []struct {
		name string
		in   applicationautoscaling.PutScalingPolicyInput
		want string
	}{
		{"no policy type on create", applicationautoscaling.PutScalingPolicyInput{TargetTrackingScalingPolicyConfiguration: trackingConfig(50, nil)}, "ValidationException"},
		{"predictive", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypePredictiveScaling,
			PredictiveScalingPolicyConfiguration: &aastypes.PredictiveScalingPolicyConfiguration{MetricSpecifications: []aastypes.PredictiveScalingMetricSpecification{{TargetValue: aws.Float64(1)}}}}, "ValidationException"},
		{"target tracking without configuration", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling}, "ValidationException"},
		{"another service's metric", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(50),
				PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization}}}, "ValidationException"},
		{"no metric", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(50)}}, "ValidationException"},
		{"target 0", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: trackingConfig(0, nil)}, "ValidationException"},
		{"target 101", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: trackingConfig(101, nil)}, "ValidationException"},
		{"resource label", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: trackingConfig(50,
			func(c *aastypes.TargetTrackingScalingPolicyConfiguration) {
				c.PredefinedMetricSpecification.ResourceLabel = aws.String("x")
			})}, "ValidationException"},
		{"negative cooldown", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: trackingConfig(50,
			func(c *aastypes.TargetTrackingScalingPolicyConfiguration) { c.ScaleInCooldown = aws.Int32(-1) })}, "ValidationException"},
		{"step configuration on target tracking", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: trackingConfig(50, nil), StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeChangeInCapacity, nil, up(0, 1))}, "ValidationException"},
		{"step without adjustment type", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: steps("", nil, up(0, 1))}, "ValidationException"},
		{"step without steps", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeChangeInCapacity, nil)}, "ValidationException"},
		{"overlapping steps", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling,
			StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeChangeInCapacity, nil, between(50, 80, 1), up(70, 2))}, "ValidationException"},
		{"a gap between steps", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling,
			StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeChangeInCapacity, nil, between(50, 60, 1), up(70, 2))}, "ValidationException"},
		{"upper not above lower", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling,
			StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeChangeInCapacity, nil, between(50, 50, 1))}, "ValidationException"},
		{"negative exact capacity", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling,
			StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeExactCapacity, nil, up(0, -1))}, "ValidationException"},
		{"MinAdjustmentMagnitude without percent", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling,
			StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypeChangeInCapacity, aws.Int32(2), up(0, 1))}, "ValidationException"},
		{"bad policy name", applicationautoscaling.PutScalingPolicyInput{PolicyName: aws.String("tab\there"), PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: trackingConfig(50, nil)}, "ValidationException"},
		{"contiguous steps", applicationautoscaling.PutScalingPolicyInput{PolicyType: aastypes.PolicyTypeStepScaling,
			StepScalingPolicyConfiguration: steps(aastypes.AdjustmentTypePercentChangeInCapacity, aws.Int32(2), between(50, 80, 10), up(80, 50))}, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			in.ServiceNamespace, in.ScalableDimension = aastypes.ServiceNamespaceAppstream, aastypes.ScalableDimensionAppstreamFleetDesiredCapacity
			in.ResourceId = aws.String("fleet/f")
			if in.PolicyName == nil {
				in.PolicyName = aws.String(fmt.Sprintf("p%d", i))
			}
			_, err := e.aas.PutScalingPolicy(e.ctx, &in)
			if got := errorCode(err); got != c.want {
				t.Fatalf("PutScalingPolicy: %q (%v), want %q", got, err, c.want)
			}
			n := len(e.policies(&applicationautoscaling.DescribeScalingPoliciesInput{PolicyNames: []string{*in.PolicyName}}))
			if (c.want == "") != (n == 1) {
				t.Errorf("%d policies stored after %q", n, c.want)
			}
		})
	}
}

// TestTargetTracking_ScalesOutAndIn follows one target tracking policy through a working day.
func TestTargetTracking_ScalesOutAndIn(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f", "img-1", 2)
	e.stack("s", "f")
	if err := e.register("f", 1, 6); err != nil {
		t.Fatal(err)
	}
	e.mustPutPolicy("f", "util-50", trackingConfig(50, func(c *aastypes.TargetTrackingScalingPolicyConfiguration) {
		c.ScaleOutCooldown, c.ScaleInCooldown = aws.Int32(1200), aws.Int32(600)
	}), nil)
	a := e.session("f", "s", "alice")
	b := e.session("f", "s", "bob") // 100% utilization

	// AlarmHigh needs three one-minute datapoints above the target.
	e.advance(2 * time.Minute)
	if got := e.capacity("f").Desired; got != 2 {
		t.Fatalf("after 2 min at 100%%: Desired %d, want 2 (alarm not yet)", got)
	}
	e.advance(time.Minute)
	if got := e.capacity("f").Desired; got != 4 {
		t.Fatalf("after 3 min at 100%%: Desired %d, want 4 (2 in use at 50%%)", got)
	}
	acts := e.activities("f", false)
	if len(acts) != 1 || aws.ToString(acts[0].Description) != "Setting desired capacity to 4." || acts[0].StatusCode != aastypes.ScalingActivityStatusCodeSuccessful ||
		!strings.Contains(aws.ToString(acts[0].Cause), "-AlarmHigh-") || !strings.Contains(aws.ToString(acts[0].Cause), "triggered policy util-50") {
		t.Errorf("activities %+v", acts)
	}
	// Four users on four instances: 100% again, but the scale-out cooldown (20 min) holds.
	e.advance(sim.DefaultTimings.InstanceProvision)
	e.session("f", "s", "carol")
	e.session("f", "s", "dave")
	e.advance(5 * time.Minute) // t = 18 min
	if got := e.capacity("f").Desired; got != 4 {
		t.Fatalf("inside the scale-out cooldown: Desired %d, want 4", got)
	}
	e.advance(5 * time.Minute) // t = 23 min: cooldown over, capped at Max 6
	if got := e.capacity("f").Desired; got != 6 {
		t.Fatalf("after the cooldown: Desired %d, want 6 (Max)", got)
	}
	// Everyone leaves. Their instances are recycled, so until the replacements are up (10 min)
	// there is no running capacity and no datapoint; then AlarmLow needs 15 datapoints below
	// 45% before the fleet goes back to Min.
	for id := range e.sessionsOf("f", "s") {
		if err := e.sim.EndSession(id); err != nil {
			t.Fatal(err)
		}
	}
	e.advance(sim.DefaultTimings.InstanceProvision + 12*time.Minute)
	if got := e.capacity("f").Desired; got != 6 {
		t.Fatalf("13 datapoints idle: Desired %d, want 6", got)
	}
	e.advance(3 * time.Minute)
	if got := e.capacity("f").Desired; got != 1 {
		t.Fatalf("16 datapoints idle: Desired %d, want 1 (Min)", got)
	}
	_, _ = a, b
}

// TestDynamicScaling_SuspendedState checks that policies honour DynamicScalingOutSuspended and
// DynamicScalingInSuspended, for target tracking and step scaling alike.
func TestDynamicScaling_SuspendedState(t *testing.T) {
	outStep := &aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, Cooldown: aws.Int32(0),
		StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(75), ScalingAdjustment: aws.Int32(1)}}}
	inStep := &aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, Cooldown: aws.Int32(0),
		StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalUpperBound: aws.Float64(25), ScalingAdjustment: aws.Int32(-1)}}}
	cases := []struct {
		name     string
		tt       *aastypes.TargetTrackingScalingPolicyConfiguration
		step     *aastypes.StepScalingPolicyConfiguration
		busy     bool // sessions fill the fleet (scale-out pressure) or none (scale-in pressure)
		in, out  bool // suspended
		want     int32
		resumed  int32 // Desired once both are resumed and the alarm has had time again
		waitDays time.Duration
	}{
		{"tracking out, not suspended", trackingConfig(50, nil), nil, true, false, false, 4, 4, 0},
		{"tracking out, out suspended", trackingConfig(50, nil), nil, true, false, true, 2, 4, 0},
		{"tracking out, only in suspended", trackingConfig(50, nil), nil, true, true, false, 4, 4, 0},
		{"tracking in, not suspended", trackingConfig(50, nil), nil, false, false, false, 1, 1, 0},
		{"tracking in, in suspended", trackingConfig(50, nil), nil, false, true, false, 2, 1, 0},
		{"tracking in, only out suspended", trackingConfig(50, nil), nil, false, false, true, 1, 1, 0},
		{"tracking in, scale-in disabled", trackingConfig(50, func(c *aastypes.TargetTrackingScalingPolicyConfiguration) { c.DisableScaleIn = aws.Bool(true) }), nil, false, false, false, 2, 2, 0},
		{"step out, out suspended", nil, outStep, true, false, true, 2, 6, 0},
		{"step out, not suspended", nil, outStep, true, false, false, 6, 6, 0},
		{"step in, in suspended", nil, inStep, false, true, false, 2, 1, 0},
		{"step in, not suspended", nil, inStep, false, false, false, 1, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.t = t
			e.image("img-1", "WINDOWS_SERVER_2022")
			e.runningFleet("f", "img-1", 2)
			e.stack("s", "f")
			if err := e.register("f", 1, 6); err != nil {
				t.Fatal(err)
			}
			e.suspend("f", c.in, c.out)
			if c.busy {
				e.session("f", "s", "alice")
				e.session("f", "s", "bob")
			}
			e.mustPutPolicy("f", "p", c.tt, c.step)
			e.advance(20 * time.Minute)
			if got := e.capacity("f").Desired; got != c.want {
				t.Errorf("suspended in=%v out=%v: Desired %d, want %d", c.in, c.out, got, c.want)
			}
			ss := e.target("f").SuspendedState
			if aws.ToBool(ss.DynamicScalingInSuspended) != c.in || aws.ToBool(ss.DynamicScalingOutSuspended) != c.out {
				t.Errorf("SuspendedState %+v", ss)
			}
			if bounds := e.bounds("f"); bounds != [2]int32{1, 6} {
				t.Errorf("registering only SuspendedState changed the bounds to %v", bounds)
			}
			e.suspend("f", false, false)
			e.advance(20 * time.Minute)
			if got := e.capacity("f").Desired; got != c.resumed {
				t.Errorf("after resuming: Desired %d, want %d", got, c.resumed)
			}
		})
	}
}

func TestStepScaling_AtMaxIsNotScaled(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.runningFleet("f", "img-1", 2)
	e.stack("s", "f")
	if err := e.register("f", 1, 2); err != nil {
		t.Fatal(err)
	}
	e.mustPutPolicy("f", "out", nil, &aastypes.StepScalingPolicyConfiguration{
		AdjustmentType: aastypes.AdjustmentTypePercentChangeInCapacity, MinAdjustmentMagnitude: aws.Int32(2),
		StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(50), ScalingAdjustment: aws.Int32(10)}},
	})
	e.session("f", "s", "alice")
	e.advance(10 * time.Minute)
	if got := e.capacity("f").Desired; got != 2 {
		t.Fatalf("Desired %d, want 2 (Max)", got)
	}
	if acts := e.activities("f", false); len(acts) != 0 {
		t.Errorf("activities without not-scaled ones: %+v", acts)
	}
	acts := e.activities("f", true)
	if len(acts) != 1 || len(acts[0].NotScaledReasons) != 1 || aws.ToString(acts[0].NotScaledReasons[0].Code) != "AlreadyAtMaxCapacity" ||
		aws.ToInt32(acts[0].NotScaledReasons[0].CurrentCapacity) != 2 || aws.ToString(acts[0].Description) != "Setting desired capacity to 4." {
		t.Errorf("not-scaled activities (one per breach): %+v", acts)
	}
	// Raising Max lets the policy act: +10% of 2 is below the magnitude of 2, so +2.
	if err := e.register("f", 1, 10); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	if got := e.capacity("f").Desired; got != 4 {
		t.Errorf("after raising Max: Desired %d, want 4", got)
	}
}

func TestTargetTracking_MultiSessionScalesSessions(t *testing.T) {
	e := newEnv(t)
	e.image("img-1", "WINDOWS_SERVER_2022")
	e.multiFleet("m", "img-1", 4, 8)
	e.stack("s", "m")
	if err := e.register("m", 4, 40); err != nil {
		t.Fatal(err)
	}
	e.mustPutPolicy("m", "util", trackingConfig(50, nil), nil)
	for i := range 6 {
		e.session("m", "s", fmt.Sprintf("user%d", i)) // 6 of 8 slots: 75%
	}
	e.advance(3 * time.Minute)
	c := e.multiCapacity("m")
	// 6 sessions at 50% need 12 sessions: 3 instances.
	if c.Desired != 3 || c.DesiredUS != 8+4 {
		t.Errorf("after scale-out: %+v, want Desired 3 and 12 desired user sessions", c)
	}
	if acts := e.activities("m", false); len(acts) == 0 || aws.ToString(acts[0].Description) != "Setting desired capacity to 12." {
		t.Errorf("activities %+v, want desired capacity 12 (sessions)", acts)
	}
	// A registration clamps in sessions too.
	if err := e.register("m", 20, 40); err != nil {
		t.Fatal(err)
	}
	if c := e.multiCapacity("m"); c.Desired != 5 {
		t.Errorf("after Min 20 sessions: Desired %d instances, want 5", c.Desired)
	}
}
