package cloud

import (
	"context"
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
func (s *Scaler) Targets(ctx context.Context, fleets []string) (map[string]rollout.Capacity, error) {
	out := make(map[string]rollout.Capacity, len(fleets))
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

func (s *Scaler) describe(ctx context.Context, fleets []string, out map[string]rollout.Capacity) error {
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
			out[name] = rollout.Capacity{Min: aws.ToInt32(t.MinCapacity), Max: aws.ToInt32(t.MaxCapacity)}
		}
	}
	return nil
}

// SetCapacity registers a fleet's target with new Min/Max (an update of an existing target).
func (s *Scaler) SetCapacity(ctx context.Context, fleet string, c rollout.Capacity) error {
	_, err := s.api.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		MinCapacity:       aws.Int32(c.Min), MaxCapacity: aws.Int32(c.Max),
	})
	return wrap("register scalable target of fleet "+fleet+" at "+c.String(), err)
}
