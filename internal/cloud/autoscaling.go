package cloud

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/deskpilot/deskpilot/internal/rollout"
)

// AutoScalingAPI lists the Application Auto Scaling calls deskpilot makes.
type AutoScalingAPI interface {
	DescribeScalableTargets(context.Context, *applicationautoscaling.DescribeScalableTargetsInput, ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DescribeScalableTargetsOutput, error)
	RegisterScalableTarget(context.Context, *applicationautoscaling.RegisterScalableTargetInput, ...func(*applicationautoscaling.Options)) (*applicationautoscaling.RegisterScalableTargetOutput, error)
	DescribeScheduledActions(context.Context, *applicationautoscaling.DescribeScheduledActionsInput, ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DescribeScheduledActionsOutput, error)
}

// Scaler implements rollout.Scaler over the AppStream fleets' scalable targets.
type Scaler struct {
	api AutoScalingAPI
}

var _ rollout.Scaler = (*Scaler)(nil)

// NewScaler wraps an Application Auto Scaling client.
func NewScaler(api AutoScalingAPI) *Scaler { return &Scaler{api: api} }

// targetBatch is DescribeScalableTargets' maximum number of ResourceIds.
const targetBatch = 50

// Targets returns the Min/Max of the named fleets that have a scalable target. A batch that
// fails is read again fleet by fleet; the fleets that still fail are returned in a
// rollout.FleetErrors with the targets that could be read.
func (s *Scaler) Targets(ctx context.Context, fleets []string) (map[string]rollout.Target, error) {
	out := make(map[string]rollout.Target, len(fleets))
	failed := rollout.FleetErrors{}
	for batch := range slices.Chunk(fleets, targetBatch) {
		err := s.describe(ctx, batch, out)
		if err == nil {
			continue
		}
		if len(batch) == 1 {
			failed[batch[0]] = err
			continue
		}
		for _, f := range batch {
			if err := s.describe(ctx, []string{f}, out); err != nil {
				failed[f] = err
			}
		}
	}
	if len(failed) > 0 {
		return out, failed
	}
	return out, nil
}

func (s *Scaler) describe(ctx context.Context, fleets []string, out map[string]rollout.Target) error {
	ids := make([]string, len(fleets))
	for i, f := range fleets {
		ids[i] = "fleet/" + f
	}
	p := applicationautoscaling.NewDescribeScalableTargetsPaginator(s.api, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: ids,
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wrap("describe scalable targets", err)
		}
		for _, t := range page.ScalableTargets {
			name, _ := strings.CutPrefix(aws.ToString(t.ResourceId), "fleet/")
			tg := rollout.Target{Capacity: rollout.Capacity{Min: aws.ToInt32(t.MinCapacity), Max: aws.ToInt32(t.MaxCapacity)}}
			if ss := t.SuspendedState; ss != nil {
				tg.Suspended = rollout.Suspension{DynamicIn: aws.ToBool(ss.DynamicScalingInSuspended), DynamicOut: aws.ToBool(ss.DynamicScalingOutSuspended), Scheduled: aws.ToBool(ss.ScheduledScalingSuspended)}
			}
			out[name] = tg
		}
	}
	return nil
}

// SetCapacity registers a fleet's target with new Min/Max and SuspendedState (an update of an
// existing target). All three suspension flags are always sent, so the target ends exactly as
// asked whatever it was.
func (s *Scaler) SetCapacity(ctx context.Context, fleet string, c rollout.Capacity, sus rollout.Suspension) error {
	_, err := s.api.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		MinCapacity:       aws.Int32(c.Min), MaxCapacity: aws.Int32(c.Max),
		SuspendedState: &aastypes.SuspendedState{
			DynamicScalingInSuspended:  aws.Bool(sus.DynamicIn),
			DynamicScalingOutSuspended: aws.Bool(sus.DynamicOut),
			ScheduledScalingSuspended:  aws.Bool(sus.Scheduled),
		},
	})
	return wrap(fmt.Sprintf("register scalable target of fleet %s at %s (%s)", fleet, c, sus), err)
}

// perFleetActions is how many fleets are read one by one; more are read by listing every
// AppStream scheduled action, which costs fewer calls.
const perFleetActions = 3

// ScheduledActions returns the scheduled actions of the named fleets' targets, by fleet.
func (s *Scaler) ScheduledActions(ctx context.Context, fleets []string) (map[string][]rollout.ScheduledAction, error) {
	want := map[string]bool{}
	for _, f := range fleets {
		want[f] = true
	}
	out := map[string][]rollout.ScheduledAction{}
	list := func(in *applicationautoscaling.DescribeScheduledActionsInput) error {
		p := applicationautoscaling.NewDescribeScheduledActionsPaginator(s.api, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return wrap("describe scheduled actions", err)
			}
			for _, a := range page.ScheduledActions {
				name, _ := strings.CutPrefix(aws.ToString(a.ResourceId), "fleet/")
				if !want[name] || a.ScalableDimension != aastypes.ScalableDimensionAppstreamFleetDesiredCapacity {
					continue
				}
				sa := rollout.ScheduledAction{Name: aws.ToString(a.ScheduledActionName), Schedule: aws.ToString(a.Schedule), Timezone: aws.ToString(a.Timezone),
					Start: aws.ToTime(a.StartTime), End: aws.ToTime(a.EndTime), Created: aws.ToTime(a.CreationTime)}
				if t := a.ScalableTargetAction; t != nil {
					sa.Min, sa.Max = t.MinCapacity, t.MaxCapacity
				}
				out[name] = append(out[name], sa)
			}
		}
		return nil
	}
	if len(fleets) > perFleetActions {
		return out, list(&applicationautoscaling.DescribeScheduledActionsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream})
	}
	for _, f := range fleets {
		if err := list(&applicationautoscaling.DescribeScheduledActionsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream,
			ResourceId: aws.String("fleet/" + f), ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity}); err != nil {
			return out, err
		}
	}
	return out, nil
}
