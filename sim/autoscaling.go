package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// autoScalingOps are the Application Auto Scaling operations the emulator answers
// (X-Amz-Target AnyScaleFrontendService.<Op>). Only AppStream fleets are scalable here.
var autoScalingOps = map[string]jsonOp{
	"RegisterScalableTarget":    (*Sim).registerScalableTarget,
	"DescribeScalableTargets":   (*Sim).describeScalableTargets,
	"DeregisterScalableTarget":  (*Sim).deregisterScalableTarget,
	"DescribeScalingActivities": (*Sim).describeScalingActivities,
	"PutScheduledAction":        (*Sim).putScheduledAction,
	"DescribeScheduledActions":  (*Sim).describeScheduledActions,
	"DeleteScheduledAction":     (*Sim).deleteScheduledAction,
	"PutScalingPolicy":          (*Sim).putScalingPolicy,
	"DescribeScalingPolicies":   (*Sim).describeScalingPolicies,
	"DeleteScalingPolicy":       (*Sim).deleteScalingPolicy,
}

const (
	appStreamNamespace = "appstream"
	fleetDimension     = "appstream:fleet:DesiredCapacity"
)

var serviceNamespaces = []string{"ecs", "elasticmapreduce", "ec2", "appstream", "dynamodb", "rds", "sagemaker", "custom-resource", "comprehend", "lambda", "cassandra", "kafka", "elasticache", "neptune", "workspaces"}

type scalableTarget struct {
	resourceID, arn, roleARN         string
	min, max                         int32
	created                          time.Time
	inSuspended, outSuspended, sched bool
	// policies are the target's scaling policies by name; they go with the target.
	policies map[string]*scalingPolicy
	// evaluating tells whether the periodic policy evaluation timer is set (see
	// armPolicyEvaluation); lastOut and lastIn are the last policy-driven scale-out and
	// scale-in, from which cooldowns run.
	evaluating      bool
	lastOut, lastIn time.Time
}

type scalingActivity struct {
	id, resourceID, description, cause, status, message string
	start, end                                          time.Time
	// notScaled is set on an activity that did not scale (IncludeNotScaledActivities).
	notScaled []notScaledReason
}

type notScaledReason struct {
	code                    string
	current, minCap, maxCap int32
}

type targetKeyInput struct {
	ServiceNamespace  *string
	ResourceId        *string
	ScalableDimension *string
}

// check validates the target identity. Only AppStream fleets can be registered in the emulator;
// other namespaces are answered as AWS answers a resource it cannot find.
func (in *targetKeyInput) check(v *validation) {
	v.required(in.ServiceNamespace != nil, "serviceNamespace")
	v.required(in.ResourceId != nil, "resourceId")
	v.required(in.ScalableDimension != nil, "scalableDimension")
	v.enum(in.ServiceNamespace, "serviceNamespace", serviceNamespaces...)
	v.length(in.ResourceId, "resourceId", 1, 1600)
}

// fleetOfTarget returns the fleet an AppStream target names.
func (s *Sim) fleetOfTarget(namespace, resourceID, dimension string) (*fleet, error) {
	if namespace != appStreamNamespace {
		return nil, wire.Errorf("ValidationException", "deskpilot sim emulates scalable targets for the appstream namespace only, not %s.", namespace)
	}
	if dimension != fleetDimension {
		return nil, wire.Errorf("ValidationException", "Unsupported scalable dimension %s for namespace appstream; use %s.", dimension, fleetDimension)
	}
	name, ok := strings.CutPrefix(resourceID, "fleet/")
	if !ok {
		return nil, wire.Errorf("ValidationException", "Unsupported resource ID %s; AppStream fleets are identified as fleet/<FleetName>.", resourceID)
	}
	f, ok := s.fleets[name]
	if !ok {
		return nil, wire.Errorf("ValidationException", "AppStream fleet %s does not exist.", name)
	}
	return f, nil
}

func (s *Sim) registerScalableTarget(body []byte) (any, error) {
	var in struct {
		targetKeyInput
		MinCapacity    *int32
		MaxCapacity    *int32
		RoleARN        *string
		SuspendedState *struct {
			DynamicScalingInSuspended  *bool
			DynamicScalingOutSuspended *bool
			ScheduledScalingSuspended  *bool
		}
		Tags map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	in.check(&v)
	v.intRange(in.MinCapacity, "minCapacity", 0, 1<<31-1)
	v.intRange(in.MaxCapacity, "maxCapacity", 0, 1<<31-1)
	v.length(in.RoleARN, "roleARN", 1, 1600)
	if err := v.err(); err != nil {
		return nil, err
	}
	f, err := s.fleetOfTarget(*in.ServiceNamespace, *in.ResourceId, *in.ScalableDimension)
	if err != nil {
		return nil, err
	}
	t, exists := s.targets[*in.ResourceId]
	if !exists {
		if in.MinCapacity == nil || in.MaxCapacity == nil {
			return nil, wire.Errorf("ValidationException", "MinCapacity and MaxCapacity are required to register a new scalable target.")
		}
		t = &scalableTarget{
			resourceID: *in.ResourceId,
			arn:        fmt.Sprintf("arn:aws:application-autoscaling:%s:%s:scalable-target/%s", s.opts.Region, s.opts.AccountID, newTargetID(s)),
			roleARN:    fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/appstream.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_AppStreamFleet", s.opts.AccountID),
			created:    s.now,
		}
	}
	oldMin, oldMax := t.min, t.max
	newMin, newMax := t.min, t.max
	if in.MinCapacity != nil {
		newMin = *in.MinCapacity
	}
	if in.MaxCapacity != nil {
		newMax = *in.MaxCapacity
	}
	if newMin > newMax {
		return nil, wire.Errorf("ValidationException", "Maximum capacity (%d) cannot be less than minimum capacity (%d).", newMax, newMin)
	}
	t.min, t.max = newMin, newMax
	if in.RoleARN != nil {
		t.roleARN = *in.RoleARN
	}
	if ss := in.SuspendedState; ss != nil {
		if ss.DynamicScalingInSuspended != nil {
			t.inSuspended = *ss.DynamicScalingInSuspended
		}
		if ss.DynamicScalingOutSuspended != nil {
			t.outSuspended = *ss.DynamicScalingOutSuspended
		}
		if ss.ScheduledScalingSuspended != nil {
			t.sched = *ss.ScheduledScalingSuspended
		}
	}
	s.targets[t.resourceID] = t
	if !exists || newMin != oldMin || newMax != oldMax {
		s.noteTarget(f, TargetChange{MinCapacity: newMin, MaxCapacity: newMax})
	}
	s.clampToTarget(f, t, in.MinCapacity != nil, in.MaxCapacity != nil)
	return map[string]any{"ScalableTargetARN": t.arn}, nil
}

// clampToTarget moves an active fleet's desired capacity into [Min, Max], as Application Auto
// Scaling does on every registration, and records the scaling activity.
func (s *Sim) clampToTarget(f *fleet, t *scalableTarget, minSet, maxSet bool) {
	if f.state != FleetRunning && f.state != FleetStarting {
		return
	}
	current := f.scalingCapacity()
	want := min(max(current, t.min), t.max)
	if want == current {
		return
	}
	cause := fmt.Sprintf("minimum capacity was set to %d", t.min)
	if want < current {
		cause = fmt.Sprintf("maximum capacity was set to %d", t.max)
	}
	if !minSet && !maxSet {
		cause = "scalable target was re-registered"
	}
	s.activity = append(s.activity, &scalingActivity{
		id: newUUID(s), resourceID: t.resourceID,
		description: fmt.Sprintf("Setting desired capacity to %d.", want),
		cause:       fmt.Sprintf("%s at %s", cause, s.now.Format("2006-01-02T15:04:05Z")),
		status:      "Successful",
		message:     fmt.Sprintf("Successfully set desired capacity to %d. Change successfully fulfilled by appstream.", want),
		start:       s.now, end: s.now,
	})
	s.setScalingCapacity(f, want)
}

type wireTarget struct {
	ServiceNamespace  string         `json:"ServiceNamespace"`
	ResourceId        string         `json:"ResourceId"`
	ScalableDimension string         `json:"ScalableDimension"`
	MinCapacity       int32          `json:"MinCapacity"`
	MaxCapacity       int32          `json:"MaxCapacity"`
	RoleARN           string         `json:"RoleARN"`
	CreationTime      wire.Time      `json:"CreationTime"`
	SuspendedState    map[string]any `json:"SuspendedState"`
	ScalableTargetARN string         `json:"ScalableTargetARN"`
}

func (s *Sim) describeScalableTargets(body []byte) (any, error) {
	var in struct {
		ServiceNamespace  *string
		ResourceIds       []string
		ScalableDimension *string
		MaxResults        *int32
		NextToken         *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ServiceNamespace != nil, "serviceNamespace")
	v.enum(in.ServiceNamespace, "serviceNamespace", serviceNamespaces...)
	v.listLen(len(in.ResourceIds), "resourceIds", 0, 50)
	v.intRange(in.MaxResults, "maxResults", 1, 50)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.ScalableDimension != nil && len(in.ResourceIds) == 0 {
		return nil, wire.Errorf("ValidationException", "ScalableDimension can be specified only together with ResourceIds.")
	}
	var matched []*scalableTarget
	if *in.ServiceNamespace == appStreamNamespace && (in.ScalableDimension == nil || *in.ScalableDimension == fleetDimension) {
		want := map[string]bool{}
		for _, id := range in.ResourceIds {
			want[id] = true
		}
		for _, id := range sortedKeys(s.targets) {
			if len(want) == 0 || want[id] {
				matched = append(matched, s.targets[id])
			}
		}
	}
	size := 50
	if in.MaxResults != nil {
		size = int(*in.MaxResults)
	}
	targets, next, err := page(matched, in.NextToken, size, "DescribeScalableTargets")
	if err != nil {
		return nil, err
	}
	out := make([]wireTarget, 0, len(targets))
	for _, t := range targets {
		out = append(out, wireTarget{
			ServiceNamespace: appStreamNamespace, ResourceId: t.resourceID, ScalableDimension: fleetDimension,
			MinCapacity: t.min, MaxCapacity: t.max, RoleARN: t.roleARN, CreationTime: wire.Time(t.created),
			SuspendedState: map[string]any{
				"DynamicScalingInSuspended":  t.inSuspended,
				"DynamicScalingOutSuspended": t.outSuspended,
				"ScheduledScalingSuspended":  t.sched,
			},
			ScalableTargetARN: t.arn,
		})
	}
	return paged("ScalableTargets", out, next), nil
}

func (s *Sim) deregisterScalableTarget(body []byte) (any, error) {
	var in targetKeyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	in.check(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	t, ok := s.targets[*in.ResourceId]
	if !ok || *in.ServiceNamespace != appStreamNamespace || *in.ScalableDimension != fleetDimension {
		return nil, wire.Errorf("ObjectNotFoundException", "No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
			*in.ServiceNamespace, *in.ResourceId, *in.ScalableDimension)
	}
	delete(s.targets, t.resourceID)
	s.forgetTargetActions(t.resourceID)
	if f := s.fleets[strings.TrimPrefix(t.resourceID, "fleet/")]; f != nil {
		s.noteTarget(f, TargetChange{Deregistered: true})
	}
	return struct{}{}, nil
}

func (s *Sim) describeScalingActivities(body []byte) (any, error) {
	var in struct {
		ServiceNamespace           *string
		ResourceId                 *string
		ScalableDimension          *string
		MaxResults                 *int32
		NextToken                  *string
		IncludeNotScaledActivities *bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.ServiceNamespace != nil, "serviceNamespace")
	v.enum(in.ServiceNamespace, "serviceNamespace", serviceNamespaces...)
	v.intRange(in.MaxResults, "maxResults", 1, 50)
	if err := v.err(); err != nil {
		return nil, err
	}
	var matched []*scalingActivity
	includeNotScaled := in.IncludeNotScaledActivities != nil && *in.IncludeNotScaledActivities
	if *in.ServiceNamespace == appStreamNamespace && (in.ScalableDimension == nil || *in.ScalableDimension == fleetDimension) {
		// Newest first, as AWS lists them.
		for i := len(s.activity) - 1; i >= 0; i-- {
			a := s.activity[i]
			if (in.ResourceId == nil || *in.ResourceId == a.resourceID) && (includeNotScaled || len(a.notScaled) == 0) {
				matched = append(matched, a)
			}
		}
	}
	size := 50
	if in.MaxResults != nil {
		size = int(*in.MaxResults)
	}
	acts, next, err := page(matched, in.NextToken, size, "DescribeScalingActivities")
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(acts))
	for _, a := range acts {
		w := map[string]any{
			"ActivityId": a.id, "ServiceNamespace": appStreamNamespace, "ResourceId": a.resourceID,
			"ScalableDimension": fleetDimension, "Description": a.description, "Cause": a.cause,
			"StartTime": wire.Time(a.start), "EndTime": wire.Time(a.end), "StatusCode": a.status,
			"StatusMessage": a.message,
		}
		if len(a.notScaled) > 0 {
			reasons := make([]map[string]any, 0, len(a.notScaled))
			for _, r := range a.notScaled {
				reasons = append(reasons, map[string]any{"Code": r.code, "CurrentCapacity": r.current, "MinCapacity": r.minCap, "MaxCapacity": r.maxCap})
			}
			w["NotScaledReasons"] = reasons
		}
		out = append(out, w)
	}
	return paged("ScalingActivities", out, next), nil
}
