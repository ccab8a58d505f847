package app

import (
	"context"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
)

// metricsSource is what /metrics reads from the store at each scrape.
type metricsSource struct{ st *store.Store }

// rolloutStates are reported even at zero, so that a dashboard's series exist from the start.
var rolloutStates = []rollout.State{rollout.Pending, rollout.Running, rollout.Succeeded, rollout.Failed,
	rollout.Cancelled, rollout.Superseded, rollout.Refused, rollout.RolledBack}

func (s metricsSource) RolloutCounts(ctx context.Context) (map[string]int, error) {
	counts, err := s.st.RolloutCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rolloutStates))
	for _, st := range rolloutStates {
		out[string(st)] = counts[st]
	}
	return out, nil
}

// DrainedFleets counts the fleets with saved capacity: drained, or about to be restored.
func (s metricsSource) DrainedFleets(ctx context.Context) (int, error) { return s.st.SavedCount(ctx) }

func (s metricsSource) PendingResets(ctx context.Context) (int, error) {
	return s.st.PendingResets(ctx)
}

func (s metricsSource) OutboxDepth(ctx context.Context) (int, error) {
	stats, err := s.st.OutboxStats(ctx)
	return stats.Pending, err
}
