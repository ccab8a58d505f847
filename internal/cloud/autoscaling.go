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

// Targets returns the Min/Max of the named fleets that have a scalable target.
func (s *Scaler) Targets(ctx context.Context, fleets []string) (map[string]rollout.Capacity, error) {
	out := make(map[string]rollout.Capacity, len(fleets))
	for batch := range slices.Chunk(fleets, targetBatch) {
		ids := make([]string, len(batch))
		for i, f := range batch {
			ids[i] = "fleet/" + f
		}
		p := applicationautoscaling.NewDescribeScalableTargetsPaginator(s.api, &applicationautoscaling.DescribeScalableTargetsInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: ids,
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, wrap("describe scalable targets", err)
			}
			for _, t := range page.ScalableTargets {
				name, _ := strings.CutPrefix(aws.ToString(t.ResourceId), "fleet/")
				out[name] = rollout.Capacity{Min: aws.ToInt32(t.MinCapacity), Max: aws.ToInt32(t.MaxCapacity)}
			}
		}
	}
	return out, nil
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
