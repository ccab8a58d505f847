package app

import (
	"context"

	"github.com/deskpilot/deskpilot/internal/metrics"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
)

// metricsSource is what /metrics reads from the store at each scrape. targets are the accounts
// and regions served (read at each scrape: they are built after the metrics), whose series are
// reported even at zero.
type metricsSource struct {
	st      *store.Store
	targets func() [][2]string
}

// rolloutStates are reported even at zero, so that a dashboard's series exist from the start.
var rolloutStates = []rollout.State{rollout.Pending, rollout.Running, rollout.Succeeded, rollout.Failed,
	rollout.Cancelled, rollout.Superseded, rollout.Refused, rollout.RolledBack}

func (s metricsSource) RolloutCounts(ctx context.Context) ([]metrics.Count, error) {
	counts, err := s.st.RolloutCountsByTarget(ctx)
	if err != nil {
		return nil, err
	}
	var labels []string
	for _, st := range rolloutStates {
		labels = append(labels, string(st))
	}
	return s.withZeros(counts, labels), nil
}

// DrainedFleets counts the fleets with saved capacity: drained, or about to be restored.
func (s metricsSource) DrainedFleets(ctx context.Context) ([]metrics.Count, error) {
	counts, err := s.st.SavedCountByTarget(ctx)
	if err != nil {
		return nil, err
	}
	return s.withZeros(counts, []string{""}), nil
}

func (s metricsSource) PendingResets(ctx context.Context) ([]metrics.Count, error) {
	counts, err := s.st.PendingResetsByTarget(ctx)
	if err != nil {
		return nil, err
	}
	return s.withZeros(counts, []string{""}), nil
}

func (s metricsSource) OutboxDepth(ctx context.Context) (int, error) {
	stats, err := s.st.OutboxStats(ctx)
	return stats.Pending, err
}

// withZeros returns the store's counts, and a zero for every served target and label the store
// has none of, so that a target's series exist from its start.
func (s metricsSource) withZeros(counts []store.TargetCount, labels []string) []metrics.Count {
	type key struct{ account, region, label string }
	seen := map[key]bool{}
	out := make([]metrics.Count, 0, len(counts))
	for _, c := range counts {
		seen[key{c.Account, c.Region, c.State}] = true
		out = append(out, metrics.Count{Account: c.Account, Region: c.Region, Label: c.State, N: c.N})
	}
	if s.targets != nil {
		for _, t := range s.targets() {
			for _, l := range labels {
				if !seen[key{t[0], t[1], l}] {
					out = append(out, metrics.Count{Account: t[0], Region: t[1], Label: l})
				}
			}
		}
	}
	return out
}
