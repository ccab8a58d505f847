package sim

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Scaling policies (PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy) and the
// periodic evaluation that stands in for the CloudWatch alarms behind them.

const (
	policyTargetTracking = "TargetTrackingScaling"
	policyStep           = "StepScaling"
	policyPredictive     = "PredictiveScaling"

	// appStreamUtilization is the predefined metric for AppStream fleets: CapacityUtilization.
	appStreamUtilization = "AppStreamAverageCapacityUtilization"

	// maxScalingPolicies is Application Auto Scaling's default quota of scaling policies per
	// scalable target.
	maxScalingPolicies = 50
	// defaultPolicyCooldown is AWS's default cooldown (seconds) for AppStream fleets, for target
	// tracking's scale-out and scale-in and for step scaling.
	defaultPolicyCooldown = 300

	// policyPeriod is how often policies are evaluated: CloudWatch's one-minute datapoints.
	policyPeriod = time.Minute
	// Target tracking's alarms, as Application Auto Scaling creates them: AlarmHigh fires after
	// 3 consecutive datapoints above the target, AlarmLow after 15 below 90% of it.
	highDatapoints = 3
	lowDatapoints  = 15
	lowFraction    = 0.9
)

func init() {
	tokenErrorCodes["DescribeScalingPolicies"] = "InvalidNextTokenException"
}

var (
	policyTypes      = []string{policyStep, policyTargetTracking, policyPredictive}
	adjustmentTypes  = []string{"ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"}
	aggregationTypes = []string{"Average", "Minimum", "Maximum"}
	metricStatistics = []string{"Average", "Minimum", "Maximum", "SampleCount", "Sum"}
	// metricTypes is the model's MetricType enum.
	metricTypes = []string{"DynamoDBReadCapacityUtilization", "DynamoDBWriteCapacityUtilization", "ALBRequestCountPerTarget",
		"RDSReaderAverageCPUUtilization", "RDSReaderAverageDatabaseConnections", "EC2SpotFleetRequestAverageCPUUtilization",
		"EC2SpotFleetRequestAverageNetworkIn", "EC2SpotFleetRequestAverageNetworkOut", "SageMakerVariantInvocationsPerInstance",
		"ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization", appStreamUtilization, "ComprehendInferenceUtilization",
		"LambdaProvisionedConcurrencyUtilization", "CassandraReadCapacityUtilization", "CassandraWriteCapacityUtilization",
		"KafkaBrokerStorageUtilization", "ElastiCacheEngineCPUUtilization", "ElastiCacheDatabaseMemoryUsagePercentage",
		"ElastiCachePrimaryEngineCPUUtilization", "ElastiCacheReplicaEngineCPUUtilization",
		"ElastiCacheDatabaseMemoryUsageCountedForEvictPercentage", "NeptuneReaderAverageCPUUtilization",
		"SageMakerVariantProvisionedConcurrencyUtilization", "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage",
		"SageMakerInferenceComponentInvocationsPerCopy", "WorkSpacesAverageUserSessionsCapacityUtilization",
		"SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution", "SageMakerVariantConcurrentRequestsPerModelHighResolution"}
)

// scalingPolicy is a stored PutScalingPolicy.
type scalingPolicy struct {
	name, resourceID, arn, policyType string
	created                           time.Time
	tt                                *targetTrackingConfig
	step                              *stepScalingConfig
	alarms                            []wireAlarm
	// high and low count consecutive evaluations above the target and below 90% of it
	// (target tracking's AlarmHigh and AlarmLow).
	high, low int
	// notScaledNoted tells that the current breach already has its not-scaled activity.
	notScaledNoted bool
}

type wireAlarm struct {
	AlarmName string `json:"AlarmName"`
	AlarmARN  string `json:"AlarmARN"`
}

// targetTrackingConfig is TargetTrackingScalingPolicyConfiguration, decoded from the request and
// answered as given.
type targetTrackingConfig struct {
	TargetValue                   *float64          `json:"TargetValue"`
	PredefinedMetricSpecification *predefinedMetric `json:",omitempty"`
	CustomizedMetricSpecification *customizedMetric `json:",omitempty"`
	ScaleOutCooldown              *int32            `json:",omitempty"`
	ScaleInCooldown               *int32            `json:",omitempty"`
	DisableScaleIn                *bool             `json:",omitempty"`
}

type predefinedMetric struct {
	PredefinedMetricType *string `json:"PredefinedMetricType"`
	ResourceLabel        *string `json:",omitempty"`
}

type customizedMetric struct {
	MetricName *string `json:",omitempty"`
	Namespace  *string `json:",omitempty"`
	Dimensions []struct {
		Name  *string `json:"Name"`
		Value *string `json:"Value"`
	} `json:",omitempty"`
	Statistic *string          `json:",omitempty"`
	Unit      *string          `json:",omitempty"`
	Metrics   []map[string]any `json:",omitempty"`
}

// stepScalingConfig is StepScalingPolicyConfiguration, decoded from the request and answered as
// given.
type stepScalingConfig struct {
	AdjustmentType         *string          `json:",omitempty"`
	StepAdjustments        []stepAdjustment `json:",omitempty"`
	MinAdjustmentMagnitude *int32           `json:",omitempty"`
	Cooldown               *int32           `json:",omitempty"`
	MetricAggregationType  *string          `json:",omitempty"`
}

type stepAdjustment struct {
	MetricIntervalLowerBound *float64 `json:",omitempty"`
	MetricIntervalUpperBound *float64 `json:",omitempty"`
	ScalingAdjustment        *int32   `json:"ScalingAdjustment"`
}

// evaluable reports whether the emulator can evaluate the policy's metric: the predefined
// AppStream metric, or a customized metric that is AWS/AppStream CapacityUtilization.
func (c *targetTrackingConfig) evaluable() bool {
	if c.PredefinedMetricSpecification != nil {
		return true
	}
	m := c.CustomizedMetricSpecification
	return m != nil && deref(m.MetricName) == "CapacityUtilization" && deref(m.Namespace) == "AWS/AppStream"
}

func cooldown(p *int32) time.Duration {
	if p == nil {
		return defaultPolicyCooldown * time.Second
	}
	return time.Duration(*p) * time.Second
}

// policyNameProblem checks the model's PolicyName pattern \p{Print}+.
func policyNameProblem(name string) bool {
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

func (s *Sim) putScalingPolicy(body []byte) (any, error) {
	var in struct {
		targetKeyInput
		PolicyName                               *string
		PolicyType                               *string
		StepScalingPolicyConfiguration           *stepScalingConfig
		TargetTrackingScalingPolicyConfiguration *targetTrackingConfig
		PredictiveScalingPolicyConfiguration     map[string]any
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	// 1. Model constraints.
	var v validation
	in.check(&v)
	v.required(in.PolicyName != nil, "policyName")
	v.length(in.PolicyName, "policyName", 1, 256)
	if in.PolicyName != nil && policyNameProblem(*in.PolicyName) {
		v.add(*in.PolicyName, "policyName", `Member must satisfy regular expression pattern: \p{Print}+`)
	}
	v.enum(in.PolicyType, "policyType", policyTypes...)
	if c := in.TargetTrackingScalingPolicyConfiguration; c != nil {
		v.required(c.TargetValue != nil, "targetTrackingScalingPolicyConfiguration.targetValue")
		if m := c.PredefinedMetricSpecification; m != nil {
			v.required(m.PredefinedMetricType != nil, "targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType")
			v.enum(m.PredefinedMetricType, "targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType", metricTypes...)
			v.length(m.ResourceLabel, "targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.resourceLabel", 1, 1023)
		}
		if m := c.CustomizedMetricSpecification; m != nil {
			v.enum(m.Statistic, "targetTrackingScalingPolicyConfiguration.customizedMetricSpecification.statistic", metricStatistics...)
		}
	}
	if c := in.StepScalingPolicyConfiguration; c != nil {
		v.enum(c.AdjustmentType, "stepScalingPolicyConfiguration.adjustmentType", adjustmentTypes...)
		v.enum(c.MetricAggregationType, "stepScalingPolicyConfiguration.metricAggregationType", aggregationTypes...)
		for i, a := range c.StepAdjustments {
			v.required(a.ScalingAdjustment != nil, fmt.Sprintf("stepScalingPolicyConfiguration.stepAdjustments.%d.member.scalingAdjustment", i+1))
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	// 2. The target must be registered.
	t, err := s.registeredTarget(&in.targetKeyInput)
	if err != nil {
		return nil, err
	}
	// 3. Merge with the stored policy into a candidate, which replaces it only when valid.
	name := *in.PolicyName
	old, exists := t.policies[name]
	p := &scalingPolicy{name: name, resourceID: t.resourceID, created: s.now}
	if exists {
		p.arn, p.created, p.policyType, p.tt, p.step, p.alarms = old.arn, old.created, old.policyType, old.tt, old.step, old.alarms
	}
	if in.PolicyType != nil && *in.PolicyType != p.policyType {
		p.policyType, p.tt, p.step, p.alarms = *in.PolicyType, nil, nil, nil
	}
	switch p.policyType {
	case "":
		return nil, wire.Errorf("ValidationException", "PolicyType is required to create scaling policy %s.", name)
	case policyPredictive:
		return nil, wire.Errorf("ValidationException", "PredictiveScaling policies are supported only for Amazon ECS, not for service namespace %s.", appStreamNamespace)
	case policyTargetTracking:
		if in.StepScalingPolicyConfiguration != nil {
			return nil, wire.Errorf("ValidationException", "StepScalingPolicyConfiguration is not allowed for a %s policy.", policyTargetTracking)
		}
		if c := in.TargetTrackingScalingPolicyConfiguration; c != nil {
			p.tt = c
		}
		if p.tt == nil {
			return nil, wire.Errorf("ValidationException", "TargetTrackingScalingPolicyConfiguration is required for a %s policy.", policyTargetTracking)
		}
		if err := checkTargetTracking(p.tt); err != nil {
			return nil, err
		}
	case policyStep:
		if in.TargetTrackingScalingPolicyConfiguration != nil {
			return nil, wire.Errorf("ValidationException", "TargetTrackingScalingPolicyConfiguration is not allowed for a %s policy.", policyStep)
		}
		p.step = mergeStep(p.step, in.StepScalingPolicyConfiguration)
		if p.step == nil {
			return nil, wire.Errorf("ValidationException", "StepScalingPolicyConfiguration is required for a %s policy.", policyStep)
		}
		if err := checkStep(p.step); err != nil {
			return nil, err
		}
	}
	if !exists && len(t.policies) >= maxScalingPolicies {
		return nil, wire.Errorf("LimitExceededException", "You have reached the maximum number of scaling policies (%d) for scalable target %s.", maxScalingPolicies, t.resourceID)
	}
	// 4. Store it, with the alarms AWS would have created, and evaluate it from now on.
	if p.arn == "" {
		p.arn = fmt.Sprintf("arn:aws:autoscaling:%s:%s:scalingPolicy:%s:resource/%s/%s:policyName/%s",
			s.opts.Region, s.opts.AccountID, newUUID(s), appStreamNamespace, t.resourceID, name)
	}
	p.alarms = s.policyAlarms(p, t)
	if t.policies == nil {
		t.policies = map[string]*scalingPolicy{}
	}
	t.policies[name] = p
	s.armPolicyEvaluation(t)
	out := map[string]any{"PolicyARN": p.arn}
	if len(p.alarms) > 0 {
		out["Alarms"] = p.alarms
	}
	return out, nil
}

// checkTargetTracking enforces what Application Auto Scaling checks beyond the model for an
// AppStream target tracking policy.
func checkTargetTracking(c *targetTrackingConfig) error {
	pre, cust := c.PredefinedMetricSpecification, c.CustomizedMetricSpecification
	switch {
	case pre == nil && cust == nil:
		return wire.Errorf("ValidationException", "Either PredefinedMetricSpecification or CustomizedMetricSpecification is required.")
	case pre != nil && cust != nil:
		return wire.Errorf("ValidationException", "PredefinedMetricSpecification and CustomizedMetricSpecification cannot both be specified.")
	case pre != nil && *pre.PredefinedMetricType != appStreamUtilization:
		return wire.Errorf("ValidationException", "The predefined metric type %s is not supported for service namespace %s; use %s.", *pre.PredefinedMetricType, appStreamNamespace, appStreamUtilization)
	case pre != nil && pre.ResourceLabel != nil:
		return wire.Errorf("ValidationException", "ResourceLabel can be specified only for the predefined metric type ALBRequestCountPerTarget.")
	case pre != nil && (*c.TargetValue <= 0 || *c.TargetValue > 100):
		return wire.Errorf("ValidationException", "The target value %v for %s must be greater than 0 and at most 100 (percent).", *c.TargetValue, appStreamUtilization)
	case cust != nil && cust.MetricName == nil && len(cust.Metrics) == 0:
		return wire.Errorf("ValidationException", "CustomizedMetricSpecification needs MetricName or Metrics.")
	}
	for _, cd := range []*int32{c.ScaleInCooldown, c.ScaleOutCooldown} {
		if cd != nil && *cd < 0 {
			return wire.Errorf("ValidationException", "Cooldown must be at least 0 seconds, not %d.", *cd)
		}
	}
	return nil
}

// mergeStep applies a request's step configuration over the stored one: members the request
// gives replace the stored ones.
func mergeStep(stored, given *stepScalingConfig) *stepScalingConfig {
	if given == nil {
		return stored
	}
	if stored == nil {
		return given
	}
	out := *stored
	if given.AdjustmentType != nil {
		out.AdjustmentType = given.AdjustmentType
	}
	if given.StepAdjustments != nil {
		out.StepAdjustments = given.StepAdjustments
	}
	if given.MinAdjustmentMagnitude != nil {
		out.MinAdjustmentMagnitude = given.MinAdjustmentMagnitude
	}
	if given.Cooldown != nil {
		out.Cooldown = given.Cooldown
	}
	if given.MetricAggregationType != nil {
		out.MetricAggregationType = given.MetricAggregationType
	}
	return &out
}

// checkStep enforces the step scaling rules Application Auto Scaling documents: an adjustment
// type and at least one step, intervals that neither overlap nor leave a gap (at most one
// without a lower bound and one without an upper bound), non-negative exact capacities, and a
// MinAdjustmentMagnitude only for PercentChangeInCapacity.
func checkStep(c *stepScalingConfig) error {
	switch {
	case c.AdjustmentType == nil:
		return wire.Errorf("ValidationException", "AdjustmentType is required for a step scaling policy configuration.")
	case len(c.StepAdjustments) == 0:
		return wire.Errorf("ValidationException", "At least one step adjustment is required for a step scaling policy configuration.")
	case c.MinAdjustmentMagnitude != nil && *c.AdjustmentType != "PercentChangeInCapacity":
		return wire.Errorf("ValidationException", "MinAdjustmentMagnitude can be specified only with the adjustment type PercentChangeInCapacity.")
	case c.MinAdjustmentMagnitude != nil && *c.MinAdjustmentMagnitude < 1:
		return wire.Errorf("ValidationException", "MinAdjustmentMagnitude must be at least 1, not %d.", *c.MinAdjustmentMagnitude)
	case c.Cooldown != nil && *c.Cooldown < 0:
		return wire.Errorf("ValidationException", "Cooldown must be at least 0 seconds, not %d.", *c.Cooldown)
	}
	steps := slices.Clone(c.StepAdjustments)
	noLower, noUpper := 0, 0
	for _, st := range steps {
		lo, hi := bound(st.MetricIntervalLowerBound, math.Inf(-1)), bound(st.MetricIntervalUpperBound, math.Inf(1))
		if st.MetricIntervalLowerBound == nil {
			noLower++
		}
		if st.MetricIntervalUpperBound == nil {
			noUpper++
		}
		if hi <= lo {
			return wire.Errorf("ValidationException", "The upper bound of a step adjustment must be greater than its lower bound.")
		}
		if *c.AdjustmentType == "ExactCapacity" && *st.ScalingAdjustment < 0 {
			return wire.Errorf("ValidationException", "ScalingAdjustment must be non-negative for the adjustment type ExactCapacity.")
		}
	}
	if noLower > 1 || noUpper > 1 {
		return wire.Errorf("ValidationException", "Only one step adjustment can have a null lower bound, and only one a null upper bound.")
	}
	sort.Slice(steps, func(i, j int) bool {
		return bound(steps[i].MetricIntervalLowerBound, math.Inf(-1)) < bound(steps[j].MetricIntervalLowerBound, math.Inf(-1))
	})
	for i := 1; i < len(steps); i++ {
		if bound(steps[i-1].MetricIntervalUpperBound, math.Inf(1)) != bound(steps[i].MetricIntervalLowerBound, math.Inf(-1)) {
			return wire.Errorf("ValidationException", "Step adjustment intervals must not overlap or leave a gap between them.")
		}
	}
	return nil
}

func bound(p *float64, none float64) float64 {
	if p == nil {
		return none
	}
	return *p
}

// policyAlarms are the CloudWatch alarms Application Auto Scaling creates for a policy: a
// target tracking policy gets AlarmHigh and, unless scale-in is disabled, AlarmLow (names kept
// across updates); a step scaling policy gets none, its alarm being the caller's.
func (s *Sim) policyAlarms(p *scalingPolicy, t *scalableTarget) []wireAlarm {
	if p.tt == nil {
		return []wireAlarm{}
	}
	kept := map[string]wireAlarm{}
	for _, a := range p.alarms {
		if strings.Contains(a.AlarmName, "-AlarmHigh-") {
			kept["High"] = a
		} else {
			kept["Low"] = a
		}
	}
	kinds := []string{"High", "Low"}
	if p.tt.DisableScaleIn != nil && *p.tt.DisableScaleIn {
		kinds = kinds[:1]
	}
	out := []wireAlarm{}
	for _, kind := range kinds {
		a, ok := kept[kind]
		if !ok {
			name := fmt.Sprintf("TargetTracking-%s-Alarm%s-%s", t.resourceID, kind, newUUID(s))
			a = wireAlarm{AlarmName: name, AlarmARN: fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.opts.Region, s.opts.AccountID, name)}
		}
		out = append(out, a)
	}
	return out
}

type wireScalingPolicy struct {
	PolicyARN                                string                `json:"PolicyARN"`
	PolicyName                               string                `json:"PolicyName"`
	ServiceNamespace                         string                `json:"ServiceNamespace"`
	ResourceId                               string                `json:"ResourceId"`
	ScalableDimension                        string                `json:"ScalableDimension"`
	PolicyType                               string                `json:"PolicyType"`
	StepScalingPolicyConfiguration           *stepScalingConfig    `json:",omitempty"`
	TargetTrackingScalingPolicyConfiguration *targetTrackingConfig `json:",omitempty"`
	Alarms                                   []wireAlarm           `json:"Alarms"`
	CreationTime                             wire.Time             `json:"CreationTime"`
}

func (s *Sim) describeScalingPolicies(body []byte) (any, error) {
	in, err := readTargetQuery(body, "policyNames", 10)
	if err != nil {
		return nil, err
	}
	var matched []*scalingPolicy
	for _, id := range sortedKeys(s.targets) {
		t := s.targets[id]
		for _, n := range sortedKeys(t.policies) {
			if in.matches(id, n) {
				matched = append(matched, t.policies[n])
			}
		}
	}
	policies, next, err := page(matched, in.NextToken, in.pageSize, "DescribeScalingPolicies")
	if err != nil {
		return nil, err
	}
	out := make([]wireScalingPolicy, 0, len(policies))
	for _, p := range policies {
		out = append(out, wireScalingPolicy{
			PolicyARN: p.arn, PolicyName: p.name, ServiceNamespace: appStreamNamespace, ResourceId: p.resourceID,
			ScalableDimension: fleetDimension, PolicyType: p.policyType, StepScalingPolicyConfiguration: p.step,
			TargetTrackingScalingPolicyConfiguration: p.tt, Alarms: p.alarms, CreationTime: wire.Time(p.created),
		})
	}
	return paged("ScalingPolicies", out, next), nil
}

func (s *Sim) deleteScalingPolicy(body []byte) (any, error) {
	var in struct {
		targetKeyInput
		PolicyName *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	in.check(&v)
	v.required(in.PolicyName != nil, "policyName")
	v.length(in.PolicyName, "policyName", 1, 1600)
	if err := v.err(); err != nil {
		return nil, err
	}
	t := s.targets[*in.ResourceId]
	var p *scalingPolicy
	if t != nil && *in.ServiceNamespace == appStreamNamespace && *in.ScalableDimension == fleetDimension {
		p = t.policies[*in.PolicyName]
	}
	if p == nil {
		return nil, wire.Errorf("ObjectNotFoundException", "No scaling policy found for service namespace: %s, resource ID: %s, scalable dimension: %s, policy name: %s",
			*in.ServiceNamespace, *in.ResourceId, *in.ScalableDimension, *in.PolicyName)
	}
	delete(t.policies, p.name)
	return struct{}{}, nil
}

// armPolicyEvaluation sets the timer of a target's next policy evaluation, one policyPeriod
// (divided by the speed) from now, unless one is set or the target has no policy. The timer
// stops once the target is deregistered or its last policy deleted.
func (s *Sim) armPolicyEvaluation(t *scalableTarget) {
	if t.evaluating || len(t.policies) == 0 {
		return
	}
	t.evaluating = true
	s.after(max(s.scale(policyPeriod), time.Millisecond), func() {
		t.evaluating = false
		if s.targets[t.resourceID] != t || len(t.policies) == 0 {
			return
		}
		s.evaluatePolicies(t)
		s.armPolicyEvaluation(t)
	})
}

// proposal is a capacity a policy asks for at an evaluation.
type proposal struct {
	p        *scalingPolicy
	capacity int32
	cause    string
	cooldown time.Duration
}

// evaluatePolicies is one evaluation of a target's policies against the fleet's
// CapacityUtilization, as Application Auto Scaling acts on its alarms:
//
//  1. No datapoint (fleet not RUNNING, or no running capacity): nothing happens.
//  2. Each policy proposes a capacity: target tracking the capacity at which utilization would
//     equal its target, once AlarmHigh or AlarmLow has fired; step scaling its matching step.
//  3. Scale out wins: if any policy asks for more, the largest request past its scale-out
//     cooldown is applied, unless DynamicScalingOutSuspended.
//  4. Otherwise scale in, only when every target tracking policy that may scale in agrees, to the
//     largest capacity asked for past its scale-in cooldown, unless DynamicScalingInSuspended.
//  5. The result stays within [Min, Max]; a request the bounds stop entirely is recorded as a
//     not-scaled activity, once per breach.
func (s *Sim) evaluatePolicies(t *scalableTarget) {
	f := s.fleets[strings.TrimPrefix(t.resourceID, "fleet/")]
	if f == nil || f.state != FleetRunning || f.fleetType == FleetElastic {
		return
	}
	used, capacity := f.utilization()
	if capacity == 0 {
		return
	}
	util := float64(used) / float64(capacity) * 100
	current := f.scalingCapacity()
	var out, in []proposal
	tracking, trackingReady := 0, 0
	for _, name := range sortedKeys(t.policies) {
		p := t.policies[name]
		switch {
		case p.tt != nil && p.tt.evaluable():
			target := *p.tt.TargetValue
			needed := int32(min(math.Ceil(float64(used)*100/target-1e-9), math.MaxInt32))
			p.high, p.low = streak(p.high, util > target), streak(p.low, util < target*lowFraction)
			if p.high < highDatapoints && p.low < lowDatapoints {
				p.notScaledNoted = false // neither alarm in ALARM: the breach is over
			}
			if p.high >= highDatapoints && needed > current {
				out = append(out, proposal{p, needed, s.alarmCause(p, "High"), cooldown(p.tt.ScaleOutCooldown)})
			}
			if p.tt.DisableScaleIn == nil || !*p.tt.DisableScaleIn {
				tracking++
				if p.low >= lowDatapoints && needed < current {
					trackingReady++
					in = append(in, proposal{p, needed, s.alarmCause(p, "Low"), cooldown(p.tt.ScaleInCooldown)})
				}
			}
		case p.step != nil:
			want, ok := p.step.propose(util, current)
			if !ok {
				p.notScaledNoted = false
				continue
			}
			cause := fmt.Sprintf("emulated CapacityUtilization alarm (%.1f%%) triggered policy %s", util, p.name)
			pr := proposal{p, want, cause, cooldown(p.step.Cooldown)}
			switch {
			case want > current:
				out = append(out, pr)
			case want < current:
				in = append(in, pr)
			}
		}
	}
	switch {
	case len(out) > 0:
		if !t.outSuspended {
			s.applyProposals(t, f, out, current, t.lastOut, true)
		}
	case len(in) > 0 && trackingReady == tracking:
		if !t.inSuspended {
			s.applyProposals(t, f, in, current, latest(t.lastIn, t.lastOut), false)
		}
	}
}

// utilization is what CapacityUtilization divides: instances in use over running instances
// (single-session), or active sessions over the session slots of running instances not in drain
// mode plus the active sessions (multi-session).
func (f *fleet) utilization() (used, capacity int32) {
	if f.multiSession() {
		c := f.sessionCapacity()
		return c.active, c.actual
	}
	running, inUse, _ := f.capacity()
	return inUse, running
}

func streak(n int, breaching bool) int {
	if breaching {
		return n + 1
	}
	return 0
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *Sim) alarmCause(p *scalingPolicy, kind string) string {
	for _, a := range p.alarms {
		if strings.Contains(a.AlarmName, "-Alarm"+kind+"-") {
			return fmt.Sprintf("monitor alarm %s in state ALARM triggered policy %s", a.AlarmName, p.name)
		}
	}
	return fmt.Sprintf("policy %s was triggered", p.name)
}

// propose is the capacity a step policy asks for when utilization falls in one of its steps.
// The emulator has no CloudWatch alarm to take a threshold from, so the threshold is 0: the
// bounds are utilization percentages, lower bound inclusive and upper bound exclusive.
func (c *stepScalingConfig) propose(util float64, current int32) (int32, bool) {
	for _, st := range c.StepAdjustments {
		lo, hi := bound(st.MetricIntervalLowerBound, math.Inf(-1)), bound(st.MetricIntervalUpperBound, math.Inf(1))
		if util < lo || util >= hi {
			continue
		}
		adj := int64(*st.ScalingAdjustment)
		var want int64
		switch *c.AdjustmentType {
		case "ExactCapacity":
			want = adj
		case "PercentChangeInCapacity":
			delta := float64(current) * float64(adj) / 100
			d := int64(delta) // toward zero
			if d == 0 && delta != 0 {
				d = int64(math.Copysign(1, delta))
			}
			if m := c.MinAdjustmentMagnitude; m != nil && d != 0 && abs64(d) < int64(*m) {
				d = int64(math.Copysign(float64(*m), float64(d)))
			}
			want = int64(current) + d
		default: // ChangeInCapacity
			want = int64(current) + adj
		}
		return int32(min(max(want, 0), math.MaxInt32)), true
	}
	return 0, false
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// applyProposals applies the largest capacity among proposals whose cooldown (counted from
// since) has passed, within the target's bounds, and records the scaling activity.
func (s *Sim) applyProposals(t *scalableTarget, f *fleet, props []proposal, current int32, since time.Time, scaleOut bool) {
	var best *proposal
	for i := range props {
		pr := &props[i]
		if !since.IsZero() && s.now.Before(since.Add(s.scale(pr.cooldown))) {
			continue
		}
		if best == nil || pr.capacity > best.capacity {
			best = pr
		}
	}
	if best == nil {
		return
	}
	want := min(max(best.capacity, t.min), t.max)
	if want == current || (scaleOut && want < current) || (!scaleOut && want > current) {
		if best.p.notScaledNoted {
			return
		}
		best.p.notScaledNoted = true
		reason := notScaledReason{code: "AlreadyAtMaxCapacity", current: current, minCap: t.min, maxCap: t.max}
		if !scaleOut {
			reason.code = "AlreadyAtMinCapacity"
		}
		s.activity = append(s.activity, &scalingActivity{
			id: newUUID(s), resourceID: t.resourceID,
			description: fmt.Sprintf("Setting desired capacity to %d.", best.capacity),
			cause:       fmt.Sprintf("%s at %s", best.cause, s.now.Format("2006-01-02T15:04:05Z")),
			status:      "Failed",
			message:     fmt.Sprintf("Failed to set desired capacity to %d.", best.capacity),
			start:       s.now, end: s.now, notScaled: []notScaledReason{reason},
		})
		return
	}
	best.p.notScaledNoted = false
	if scaleOut {
		t.lastOut = s.now
	} else {
		t.lastIn = s.now
	}
	s.activity = append(s.activity, &scalingActivity{
		id: newUUID(s), resourceID: t.resourceID,
		description: fmt.Sprintf("Setting desired capacity to %d.", want),
		cause:       fmt.Sprintf("%s at %s", best.cause, s.now.Format("2006-01-02T15:04:05Z")),
		status:      "Successful",
		message:     fmt.Sprintf("Successfully set desired capacity to %d. Change successfully fulfilled by appstream.", want),
		start:       s.now, end: s.now,
	})
	s.setScalingCapacity(f, want)
}
