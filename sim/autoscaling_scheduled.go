package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// maxScheduledActions is Application Auto Scaling's default quota of scheduled actions per
// scalable target.
const maxScheduledActions = 200

// scheduledAction is a stored PutScheduledAction. It fires through the event queue: each
// change bumps gen, so a timer set for an earlier version of the action does nothing.
type scheduledAction struct {
	name, resourceID, arn string
	expr, timezone        string // as given; timezone "" means UTC
	loc                   *time.Location
	sched                 schedule
	start, end            time.Time // zero when not given
	min, max              *int32    // ScalableTargetAction; nil when not given
	created               time.Time
	gen                   int
}

func scheduledKey(resourceID, name string) string { return resourceID + "\x00" + name }

// scheduledActionNameProblem checks the model's ScheduledActionName pattern, which RE2 cannot
// express (it uses a look-ahead): no leading or trailing space, no control characters and none
// of ':', '/', '|'.
func scheduledActionNameProblem(name string) bool {
	if strings.HasPrefix(name, " ") || strings.HasSuffix(name, " ") {
		return true
	}
	for _, r := range name {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || r == ':' || r == '/' || r == '|' {
			return true
		}
	}
	return false
}

// registeredTarget returns the scalable target a request names, or ObjectNotFoundException as
// AWS answers for a target that is not registered.
func (s *Sim) registeredTarget(in *targetKeyInput) (*scalableTarget, error) {
	t, ok := s.targets[*in.ResourceId]
	if !ok || *in.ServiceNamespace != appStreamNamespace || *in.ScalableDimension != fleetDimension {
		return nil, wire.Errorf("ObjectNotFoundException", "No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
			*in.ServiceNamespace, *in.ResourceId, *in.ScalableDimension)
	}
	return t, nil
}

// putScheduledAction creates or updates a scheduled action. On an update every member left out
// keeps its stored value, as AWS documents.
func (s *Sim) putScheduledAction(body []byte) (any, error) {
	var in struct {
		targetKeyInput
		ScheduledActionName  *string
		Schedule             *string
		Timezone             *string
		StartTime            *wire.Time
		EndTime              *wire.Time
		ScalableTargetAction *struct {
			MinCapacity *int32
			MaxCapacity *int32
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	// 1. Model constraints.
	var v validation
	in.check(&v)
	v.required(in.ScheduledActionName != nil, "scheduledActionName")
	v.length(in.ScheduledActionName, "scheduledActionName", 1, 256)
	if in.ScheduledActionName != nil && scheduledActionNameProblem(*in.ScheduledActionName) {
		v.add(*in.ScheduledActionName, "scheduledActionName", `Member must satisfy regular expression pattern: (?!((^[ ]+.*)|(.*([\u0000-\u001f]|[\u007f-\u009f]|[:/|])+.*)|(.*[ ]+$))).+`)
	}
	v.length(in.Schedule, "schedule", 1, 1600)
	v.length(in.Timezone, "timezone", 1, 1600)
	if a := in.ScalableTargetAction; a != nil {
		v.intRange(a.MinCapacity, "scalableTargetAction.minCapacity", 0, 1<<31-1)
		v.intRange(a.MaxCapacity, "scalableTargetAction.maxCapacity", 0, 1<<31-1)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	// 2. The target must be registered.
	t, err := s.registeredTarget(&in.targetKeyInput)
	if err != nil {
		return nil, err
	}
	// 3. Merge with the stored action into a candidate, which replaces it only when valid.
	key := scheduledKey(t.resourceID, *in.ScheduledActionName)
	old, exists := s.scheduled[key]
	a := &scheduledAction{name: *in.ScheduledActionName, resourceID: t.resourceID, created: s.now, loc: time.UTC}
	if exists {
		cp := *old
		a = &cp
	} else if in.Schedule == nil {
		return nil, wire.Errorf("ValidationException", "Schedule is required to create scheduled action %s.", a.name)
	}
	if in.Schedule != nil {
		a.expr = *in.Schedule
	}
	if in.Timezone != nil {
		loc, err := time.LoadLocation(*in.Timezone)
		if err != nil || *in.Timezone == "Local" {
			return nil, wire.Errorf("ValidationException", "Timezone %s is not a valid IANA time zone name.", *in.Timezone)
		}
		a.timezone, a.loc = *in.Timezone, loc
	}
	if in.StartTime != nil {
		a.start = time.Time(*in.StartTime).UTC()
	}
	if in.EndTime != nil {
		a.end = time.Time(*in.EndTime).UTC()
	}
	if act := in.ScalableTargetAction; act != nil {
		if act.MinCapacity != nil {
			a.min = act.MinCapacity
		}
		if act.MaxCapacity != nil {
			a.max = act.MaxCapacity
		}
	}
	sched, err := parseSchedule(a.expr, a.loc)
	if err != nil {
		return nil, wire.Errorf("ValidationException", "Invalid schedule expression %s: %v.", a.expr, err)
	}
	a.sched = sched
	if !a.start.IsZero() && !a.end.IsZero() && a.end.Before(a.start) {
		return nil, wire.Errorf("ValidationException", "EndTime cannot be earlier than StartTime.")
	}
	if a.min != nil && a.max != nil && *a.min > *a.max {
		return nil, wire.Errorf("ValidationException", "Maximum capacity (%d) cannot be less than minimum capacity (%d).", *a.max, *a.min)
	}
	if !exists && s.scheduledCount(t.resourceID) >= maxScheduledActions {
		return nil, wire.Errorf("LimitExceededException", "You have reached the maximum number of scheduled actions (%d) for scalable target %s.", maxScheduledActions, t.resourceID)
	}
	// 4. Store it and set its timer.
	if !exists {
		a.arn = fmt.Sprintf("arn:aws:autoscaling:%s:%s:scheduledAction:%s:resource/%s/%s:scheduledActionName/%s",
			s.opts.Region, s.opts.AccountID, newUUID(s), appStreamNamespace, t.resourceID, a.name)
	}
	a.gen++
	s.scheduled[key] = a
	s.armScheduled(a, s.now)
	return struct{}{}, nil
}

func (s *Sim) scheduledCount(resourceID string) int {
	n := 0
	for _, a := range s.scheduled {
		if a.resourceID == resourceID {
			n++
		}
	}
	return n
}

// armScheduled sets a timer for the action's next firing after `after`, if it has one.
func (s *Sim) armScheduled(a *scheduledAction, after time.Time) {
	at, ok := a.sched.next(after, a.created, a.start, a.end, a.loc)
	if !ok {
		return
	}
	gen := a.gen
	s.after(at.Sub(s.now), func() {
		if s.scheduled[scheduledKey(a.resourceID, a.name)] != a || a.gen != gen {
			return // deleted or changed since
		}
		s.fireScheduled(a)
		s.armScheduled(a, s.now)
	})
}

// fireScheduled applies a scheduled action at the current instant, as Application Auto Scaling
// does: the target's Min and/or Max become the action's, and a RUNNING or STARTING fleet's
// desired capacity is clamped into the new range. A target whose ScheduledScalingSuspended is
// true is left alone (AWS skips the action; a recurring one fires again at its next time).
func (s *Sim) fireScheduled(a *scheduledAction) {
	t := s.targets[a.resourceID]
	if t == nil || t.sched {
		return
	}
	newMin, newMax := t.min, t.max
	if a.min != nil {
		newMin = *a.min
	}
	if a.max != nil {
		newMax = *a.max
	}
	act := &scalingActivity{
		id: newUUID(s), resourceID: t.resourceID,
		description: fmt.Sprintf("Setting min capacity to %d and max capacity to %d", newMin, newMax),
		cause:       fmt.Sprintf("scheduled action name %s was triggered", a.name),
		start:       s.now, end: s.now,
	}
	if newMin > newMax {
		act.status = "Failed"
		act.message = fmt.Sprintf("Failed to set min capacity to %d and max capacity to %d: maximum capacity cannot be less than minimum capacity.", newMin, newMax)
		s.activity = append(s.activity, act)
		return
	}
	act.status = "Successful"
	act.message = fmt.Sprintf("Successfully set min capacity to %d and max capacity to %d", newMin, newMax)
	s.activity = append(s.activity, act)
	changed := newMin != t.min || newMax != t.max
	t.min, t.max = newMin, newMax
	f := s.fleets[strings.TrimPrefix(t.resourceID, "fleet/")]
	if f == nil {
		return
	}
	if changed {
		s.noteTarget(f, TargetChange{MinCapacity: newMin, MaxCapacity: newMax, ScheduledAction: a.name})
	}
	s.clampToTarget(f, t, a.min != nil, a.max != nil)
}

// forgetTargetActions deletes the scheduled actions of a target being deregistered, as AWS does.
func (s *Sim) forgetTargetActions(resourceID string) {
	for k, a := range s.scheduled {
		if a.resourceID == resourceID {
			delete(s.scheduled, k)
		}
	}
}

type wireScheduledAction struct {
	ScheduledActionName  string          `json:"ScheduledActionName"`
	ScheduledActionARN   string          `json:"ScheduledActionARN"`
	ServiceNamespace     string          `json:"ServiceNamespace"`
	Schedule             string          `json:"Schedule"`
	Timezone             string          `json:"Timezone,omitempty"`
	ResourceId           string          `json:"ResourceId"`
	ScalableDimension    string          `json:"ScalableDimension"`
	StartTime            *wire.Time      `json:"StartTime,omitempty"`
	EndTime              *wire.Time      `json:"EndTime,omitempty"`
	ScalableTargetAction *map[string]any `json:"ScalableTargetAction,omitempty"`
	CreationTime         wire.Time       `json:"CreationTime"`
}

// targetQuery is the input DescribeScalingPolicies and DescribeScheduledActions share: a
// namespace, optional names (PolicyNames or ScheduledActionNames), an optional target, and a page.
type targetQuery struct {
	ServiceNamespace     *string
	PolicyNames          []string
	ScheduledActionNames []string
	ResourceId           *string
	ScalableDimension    *string
	MaxResults           *int32
	NextToken            *string
	// names are the names asked for, of either kind; appStream says the query can match
	// anything (the AppStream namespace, and the fleet dimension if any).
	names     map[string]bool
	appStream bool
	pageSize  int
}

// readTargetQuery decodes and checks a targetQuery whose names are in member (policyNames or
// scheduledActionNames) and whose pages hold at most maxPage.
func readTargetQuery(body []byte, member string, maxPage int) (targetQuery, error) {
	var q targetQuery
	if err := decode(body, &q); err != nil {
		return q, err
	}
	names := q.PolicyNames
	if member == "scheduledActionNames" {
		names = q.ScheduledActionNames
	}
	var v validation
	v.required(q.ServiceNamespace != nil, "serviceNamespace")
	v.enum(q.ServiceNamespace, "serviceNamespace", serviceNamespaces...)
	v.listLen(len(names), member, 0, 50)
	for i := range names {
		v.length(&names[i], member+".member", 1, 1600)
	}
	v.length(q.ResourceId, "resourceId", 1, 1600)
	v.intRange(q.MaxResults, "maxResults", 1, int64(maxPage))
	if err := v.err(); err != nil {
		return q, err
	}
	if q.ScalableDimension != nil && q.ResourceId == nil {
		return q, wire.Errorf("ValidationException", "ScalableDimension can be specified only together with ResourceId.")
	}
	q.names = map[string]bool{}
	for _, n := range names {
		q.names[n] = true
	}
	q.appStream = *q.ServiceNamespace == appStreamNamespace && (q.ScalableDimension == nil || *q.ScalableDimension == fleetDimension)
	q.pageSize = maxPage
	if q.MaxResults != nil {
		q.pageSize = int(*q.MaxResults)
	}
	return q, nil
}

// matches reports whether the query asks for the named child of target resourceID.
func (q targetQuery) matches(resourceID, name string) bool {
	return q.appStream && (len(q.names) == 0 || q.names[name]) && (q.ResourceId == nil || *q.ResourceId == resourceID)
}

func (s *Sim) describeScheduledActions(body []byte) (any, error) {
	in, err := readTargetQuery(body, "scheduledActionNames", 50)
	if err != nil {
		return nil, err
	}
	var matched []*scheduledAction
	for _, a := range s.scheduled {
		if in.matches(a.resourceID, a.name) {
			matched = append(matched, a)
		}
	}
	sort.Slice(matched, func(i, j int) bool {
		if matched[i].resourceID != matched[j].resourceID {
			return matched[i].resourceID < matched[j].resourceID
		}
		return matched[i].name < matched[j].name
	})
	actions, next, err := page(matched, in.NextToken, in.pageSize, "DescribeScheduledActions")
	if err != nil {
		return nil, err
	}
	out := make([]wireScheduledAction, 0, len(actions))
	for _, a := range actions {
		w := wireScheduledAction{
			ScheduledActionName: a.name, ScheduledActionARN: a.arn, ServiceNamespace: appStreamNamespace,
			Schedule: a.expr, Timezone: a.timezone, ResourceId: a.resourceID, ScalableDimension: fleetDimension,
			CreationTime: wire.Time(a.created),
		}
		if !a.start.IsZero() {
			w.StartTime = wire.TimePtr(a.start)
		}
		if !a.end.IsZero() {
			w.EndTime = wire.TimePtr(a.end)
		}
		if a.min != nil || a.max != nil {
			m := map[string]any{}
			if a.min != nil {
				m["MinCapacity"] = *a.min
			}
			if a.max != nil {
				m["MaxCapacity"] = *a.max
			}
			w.ScalableTargetAction = &m
		}
		out = append(out, w)
	}
	return paged("ScheduledActions", out, next), nil
}

func (s *Sim) deleteScheduledAction(body []byte) (any, error) {
	var in struct {
		targetKeyInput
		ScheduledActionName *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	in.check(&v)
	v.required(in.ScheduledActionName != nil, "scheduledActionName")
	v.length(in.ScheduledActionName, "scheduledActionName", 1, 1600)
	if err := v.err(); err != nil {
		return nil, err
	}
	key := scheduledKey(*in.ResourceId, *in.ScheduledActionName)
	if _, ok := s.scheduled[key]; !ok || *in.ServiceNamespace != appStreamNamespace || *in.ScalableDimension != fleetDimension {
		return nil, wire.Errorf("ObjectNotFoundException", "No scheduled action found for service namespace: %s, resource ID: %s, scalable dimension: %s, scheduled action name: %s",
			*in.ServiceNamespace, *in.ResourceId, *in.ScalableDimension, *in.ScheduledActionName)
	}
	delete(s.scheduled, key)
	return struct{}{}, nil
}
