package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source is the state the gauges report, read at each scrape (from the store, in the daemon)
// rather than kept up to date by the controllers: a gauge then says what the store holds, even
// across restarts. It must be safe for concurrent use; each method gets a context bounded by
// the scrape's Source budget (DefaultSourceTimeout).
type Source interface {
	// RolloutCounts returns how many rollouts are in each state (Count.Label), by account and
	// region. A state it leaves out is not reported at all, so list every state, zeros
	// included, for series that never vanish.
	RolloutCounts(ctx context.Context) ([]Count, error)
	// DrainedFleets returns how many fleets are at 0/0 with their Min/Max saved now, by
	// account and region.
	DrainedFleets(ctx context.Context) ([]Count, error)
	// PendingResets returns how many tracked WorkSpaces have a reset begun and not finished
	// (in grace, resetting or in flight), by account and region.
	PendingResets(ctx context.Context) ([]Count, error)
	// OutboxDepth returns how many deliveries are not yet sent and not failed for good.
	OutboxDepth(ctx context.Context) (int, error)
}

// Count is how many things one account and region has; Label is the state counted, or "".
type Count struct {
	Account, Region, Label string
	N                      int
}

// The source label values of deskpilot_scrape_errors_total: each store-backed metric's name
// without the prefix.
const (
	srcRollouts = "rollouts"
	srcDrained  = "fleets_drained"
	srcPending  = "workspace_resets_pending"
	srcOutbox   = "outbox_depth"
)

var sources = []string{srcRollouts, srcDrained, srcPending, srcOutbox}

// sourceCollector reads the Source at each scrape. It owns the scrape error counter and
// reports it after the reads, so a scrape's own failures are in that scrape.
type sourceCollector struct {
	src     Source
	timeout time.Duration
	log     func() *slog.Logger

	rollouts, drained, pending, outbox *prometheus.Desc
	errors                             *prometheus.CounterVec
}

func newSourceCollector(src Source, timeout time.Duration, log func() *slog.Logger) *sourceCollector {
	c := &sourceCollector{
		src: src, timeout: timeout, log: log,
		rollouts: desc(defRollouts), drained: desc(defDrained), pending: desc(defResetsPending),
		outbox: desc(defOutbox), errors: counterVec(defScrapeErrors),
	}
	for _, s := range sources {
		c.errors.WithLabelValues(s)
	}
	return c
}

func desc(d def) *prometheus.Desc { return prometheus.NewDesc(d.name, d.help, d.labels, nil) }

// Describe implements prometheus.Collector.
func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rollouts
	ch <- c.drained
	ch <- c.pending
	ch <- c.outbox
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector. The four reads share one deadline: a store that
// hangs costs the scrape at most the timeout, and every read it failed is counted and logged
// and its metric left out (a gauge at a made-up 0 would be worse than none).
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	for _, g := range []struct {
		source string
		desc   *prometheus.Desc
		read   func(context.Context) ([]Count, error)
		label  bool
	}{
		{srcRollouts, c.rollouts, c.src.RolloutCounts, true},
		{srcDrained, c.drained, c.src.DrainedFleets, false},
		{srcPending, c.pending, c.src.PendingResets, false},
	} {
		counts, err := g.read(ctx)
		if !c.ok(g.source, err) {
			continue
		}
		for _, n := range counts {
			labels := []string{n.Account, n.Region}
			if g.label {
				labels = append(labels, n.Label)
			}
			// A label that is not UTF-8 is refused by the client; it is dropped, not a panic.
			if m, err := prometheus.NewConstMetric(g.desc, prometheus.GaugeValue, float64(n.N), labels...); err == nil {
				ch <- m
			}
		}
	}
	if n, err := c.src.OutboxDepth(ctx); c.ok(srcOutbox, err) {
		ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(n))
	}
	c.errors.Collect(ch)
}

// ok reports whether the read for source succeeded, counting and logging it if not.
func (c *sourceCollector) ok(source string, err error) bool {
	if err == nil {
		return true
	}
	c.errors.WithLabelValues(source).Inc()
	c.log().Warn("metrics: cannot read from the store", "metric", "deskpilot_"+source, "err", err)
	return false
}
