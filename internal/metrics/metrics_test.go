package metrics_test

import (
	"bytes"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deskpilot/deskpilot/internal/metrics"
)

func TestMetrics_Handler(t *testing.T) {
	src := &fakeSource{counts: map[string]int{"pending": 2, "running": 1, "succeeded": 0}, drained: 3, pending: 4, outbox: 5}
	cases := []struct {
		name   string
		src    metrics.Source // nil: no Source
		record func(m *metrics.Metrics)
		// prefix selects the samples compared with want, all of them exactly; without a prefix
		// the samples in want must be there with those values, others may be too.
		prefix string
		want   map[string]float64
		// absent are metric families that must not be reported.
		absent []string
	}{
		{
			name: "build info", src: src, prefix: "deskpilot_build_info",
			record: func(m *metrics.Metrics) { m.SetVersion("v1.2.3") },
			want:   map[string]float64{`deskpilot_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"}`: 1},
		},
		{
			name: "rollouts by state, from the source", src: src, prefix: "deskpilot_rollouts{",
			want: map[string]float64{
				`deskpilot_rollouts{account="111111111111",region="eu-central-1",state="pending"}`:   2,
				`deskpilot_rollouts{account="111111111111",region="eu-central-1",state="running"}`:   1,
				`deskpilot_rollouts{account="111111111111",region="eu-central-1",state="succeeded"}`: 0,
			},
		},
		{
			name: "gauges from the source", src: src,
			want: map[string]float64{
				`deskpilot_fleets_drained{account="111111111111",region="eu-central-1"}`: 3, `deskpilot_workspace_resets_pending{account="111111111111",region="eu-central-1"}`: 4, "deskpilot_outbox_depth": 5,
				`deskpilot_scrape_errors_total{source="rollouts"}`: 0, `deskpilot_scrape_errors_total{source="outbox_depth"}`: 0,
			},
		},
		{
			name: "steps: known results start at 0 for each target", src: src, prefix: "deskpilot_rollout_steps_total",
			record: func(m *metrics.Metrics) {
				tg := m.Target("111111111111", "eu-central-1")
				tg.StepFinished("done")
				tg.StepFinished("done")
				tg.StepFinished("rolled-back")
			},
			want: map[string]float64{
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="done"}`:        2,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="skipped"}`:     0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="failed"}`:      0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="cancelled"}`:   0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="rolled-back"}`: 1,
			},
		},
		{
			name: "drain durations", src: src, prefix: "deskpilot_drain_duration_seconds",
			record: func(m *metrics.Metrics) {
				m.ObserveDrain(3 * time.Second)
				m.ObserveDrain(45 * time.Minute)
				m.ObserveDrain(-time.Second) // a clock step: counted as 0
			},
			want: map[string]float64{
				`deskpilot_drain_duration_seconds_count{account="",region=""}`:             3,
				`deskpilot_drain_duration_seconds_sum{account="",region=""}`:               3 + 45*60,
				`deskpilot_drain_duration_seconds_bucket{account="",le="5",region=""}`:     2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="15",region=""}`:    2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="30",region=""}`:    2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="60",region=""}`:    2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="120",region=""}`:   2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="300",region=""}`:   2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="600",region=""}`:   2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="1200",region=""}`:  2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="1800",region=""}`:  2,
				`deskpilot_drain_duration_seconds_bucket{account="",le="3600",region=""}`:  3,
				`deskpilot_drain_duration_seconds_bucket{account="",le="7200",region=""}`:  3,
				`deskpilot_drain_duration_seconds_bucket{account="",le="14400",region=""}`: 3,
				`deskpilot_drain_duration_seconds_bucket{account="",le="28800",region=""}`: 3,
				`deskpilot_drain_duration_seconds_bucket{account="",le="+Inf",region=""}`:  3,
			},
		},
		{
			name: "restore lag", src: src, prefix: "deskpilot_restore_lag_seconds",
			record: func(m *metrics.Metrics) {
				m.ObserveRestoreLag(250 * time.Millisecond)
				m.ObserveRestoreLag(90 * time.Second)
				m.ObserveRestoreLag(time.Hour)
			},
			want: map[string]float64{
				`deskpilot_restore_lag_seconds_count{account="",region=""}`:            3,
				`deskpilot_restore_lag_seconds_sum{account="",region=""}`:              0.25 + 90 + 3600,
				`deskpilot_restore_lag_seconds_bucket{account="",le="0.5",region=""}`:  1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="1",region=""}`:    1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="2",region=""}`:    1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="5",region=""}`:    1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="10",region=""}`:   1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="20",region=""}`:   1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="30",region=""}`:   1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="60",region=""}`:   1,
				`deskpilot_restore_lag_seconds_bucket{account="",le="120",region=""}`:  2,
				`deskpilot_restore_lag_seconds_bucket{account="",le="300",region=""}`:  2,
				`deskpilot_restore_lag_seconds_bucket{account="",le="600",region=""}`:  2,
				`deskpilot_restore_lag_seconds_bucket{account="",le="+Inf",region=""}`: 3,
			},
		},
		{
			name: "workspace resets", src: src, prefix: "deskpilot_workspace_resets",
			record: func(m *metrics.Metrics) {
				tg := m.Target("111111111111", "eu-central-1")
				tg.ResetOutcome("reset")
				tg.ResetOutcome("failed")
				tg.ResetOutcome("reset")
			},
			want: map[string]float64{
				`deskpilot_workspace_resets_total{account="111111111111",outcome="reset",region="eu-central-1"}`:     2,
				`deskpilot_workspace_resets_total{account="111111111111",outcome="skipped",region="eu-central-1"}`:   0,
				`deskpilot_workspace_resets_total{account="111111111111",outcome="cancelled",region="eu-central-1"}`: 0,
				`deskpilot_workspace_resets_total{account="111111111111",outcome="failed",region="eu-central-1"}`:    1,
				`deskpilot_workspace_resets_pending{account="111111111111",region="eu-central-1"}`:                   4,
			},
		},
		{
			name: "notification failures", src: src, prefix: "deskpilot_notification_failures_total",
			record: func(m *metrics.Metrics) {
				m.NotificationFailed("ses", "throttled")
				m.NotificationFailed("ses", "throttled")
				m.NotificationFailed("webhook-0a1b2c3d", "invalid")
			},
			want: map[string]float64{
				`deskpilot_notification_failures_total{class="throttled",sender="ses"}`:            2,
				`deskpilot_notification_failures_total{class="invalid",sender="webhook-0a1b2c3d"}`: 1,
			},
		},
		{
			name: "last successful pass", src: src, prefix: "deskpilot_last_successful_pass_timestamp_seconds",
			record: func(m *metrics.Metrics) {
				m.PassSucceeded("rollouts", time.Unix(1_700_000_000, 0))
				m.PassSucceeded("rollouts", time.Unix(1_700_000_060, 500_000_000)) // the latest wins
				m.PassSucceeded("outbox", time.Unix(1_700_000_001, 0))
			},
			want: map[string]float64{
				`deskpilot_last_successful_pass_timestamp_seconds{controller="rollouts"}`: 1_700_000_060.5,
				`deskpilot_last_successful_pass_timestamp_seconds{controller="outbox"}`:   1_700_000_001,
			},
		},
		{
			name: "a label value the client refuses costs its sample, not a panic", src: src, prefix: "deskpilot_rollout_steps_total",
			record: func(m *metrics.Metrics) { m.Target("111111111111", "eu-central-1").StepFinished("\xff") },
			want: map[string]float64{
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="done"}`:        0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="skipped"}`:     0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="failed"}`:      0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="cancelled"}`:   0,
				`deskpilot_rollout_steps_total{account="111111111111",region="eu-central-1",result="rolled-back"}`: 0,
			},
		},
		{
			name:   "no source: no store-backed gauges, no scrape errors",
			record: func(m *metrics.Metrics) { m.SetVersion("v1") },
			want:   map[string]float64{`deskpilot_build_info{goversion="` + runtime.Version() + `",version="v1"}`: 1},
			absent: []string{"deskpilot_rollouts", "deskpilot_fleets_drained", "deskpilot_workspace_resets_pending", "deskpilot_outbox_depth", "deskpilot_scrape_errors_total"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := metrics.New(c.src)
			if c.record != nil {
				c.record(m)
			}
			s := scrapeOnce(t, m)
			for name := range s.families {
				if !strings.HasPrefix(name, "deskpilot_") {
					t.Errorf("metric %s does not start with deskpilot_", name)
				}
			}
			for _, name := range c.absent {
				if _, ok := s.families[name]; ok {
					t.Errorf("%s is reported", name)
				}
			}
			if c.prefix == "" {
				for k, want := range c.want {
					if got, ok := s.samples[k]; !ok || got != want {
						t.Errorf("%s = %v (present: %v), want %v", k, got, ok, want)
					}
				}
				return
			}
			if diff := cmp.Diff(c.want, s.withPrefix(c.prefix)); diff != "" {
				t.Errorf("samples %s* (-want +got):\n%s", c.prefix, diff)
			}
		})
	}
}

func TestMetrics_Handler_failingSource(t *testing.T) {
	cases := []struct {
		name string
		errs map[string]error
		// gone are the metrics the failed reads leave out; kept those still reported.
		gone, kept []string
		want       map[string]float64 // scrape error counters after two scrapes
	}{
		{
			name: "one read fails",
			errs: map[string]error{"OutboxDepth": errors.New("database is locked")},
			gone: []string{"deskpilot_outbox_depth"},
			kept: []string{"deskpilot_rollouts", "deskpilot_fleets_drained", "deskpilot_workspace_resets_pending"},
			want: map[string]float64{
				`deskpilot_scrape_errors_total{source="rollouts"}`:                 0,
				`deskpilot_scrape_errors_total{source="fleets_drained"}`:           0,
				`deskpilot_scrape_errors_total{source="workspace_resets_pending"}`: 0,
				`deskpilot_scrape_errors_total{source="outbox_depth"}`:             2,
			},
		},
		{
			name: "every read fails",
			errs: map[string]error{
				"RolloutCounts": errors.New("disk I/O error"), "DrainedFleets": errors.New("disk I/O error"),
				"PendingResets": errors.New("disk I/O error"), "OutboxDepth": errors.New("disk I/O error"),
			},
			gone: []string{"deskpilot_rollouts", "deskpilot_fleets_drained", "deskpilot_workspace_resets_pending", "deskpilot_outbox_depth"},
			want: map[string]float64{
				`deskpilot_scrape_errors_total{source="rollouts"}`:                 2,
				`deskpilot_scrape_errors_total{source="fleets_drained"}`:           2,
				`deskpilot_scrape_errors_total{source="workspace_resets_pending"}`: 2,
				`deskpilot_scrape_errors_total{source="outbox_depth"}`:             2,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			m := metrics.New(&fakeSource{counts: map[string]int{"running": 1}, drained: 1, pending: 1, outbox: 1, errs: c.errs})
			m.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
			m.StepFinished("done")
			scrapeOnce(t, m)
			s := scrapeOnce(t, m)
			for _, name := range c.gone {
				if _, ok := s.families[name]; ok {
					t.Errorf("%s is reported although its read failed", name)
				}
			}
			for _, name := range append(c.kept, "deskpilot_rollout_steps_total", "deskpilot_build_info") {
				if _, ok := s.families[name]; !ok {
					t.Errorf("%s is missing: a failed read must cost only its own metric", name)
				}
			}
			if diff := cmp.Diff(c.want, s.withPrefix("deskpilot_scrape_errors_total")); diff != "" {
				t.Errorf("scrape errors (-want +got):\n%s", diff)
			}
			for _, err := range c.errs {
				if !strings.Contains(logs.String(), err.Error()) {
					t.Errorf("the log does not say %q:\n%s", err, logs.String())
				}
			}
		})
	}
}

func TestMetrics_Handler_slowSource(t *testing.T) {
	src := &fakeSource{block: true}
	m := metrics.NewWithSourceTimeout(src, 50*time.Millisecond)
	start := time.Now()
	s := scrapeOnce(t, m)
	// All four reads share one budget: a hung store costs one timeout, not four.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the scrape took %s with a 50ms source budget", took)
	}
	want := map[string]float64{
		`deskpilot_scrape_errors_total{source="rollouts"}`:                 1,
		`deskpilot_scrape_errors_total{source="fleets_drained"}`:           1,
		`deskpilot_scrape_errors_total{source="workspace_resets_pending"}`: 1,
		`deskpilot_scrape_errors_total{source="outbox_depth"}`:             1,
	}
	if diff := cmp.Diff(want, s.withPrefix("deskpilot_scrape_errors_total")); diff != "" {
		t.Errorf("scrape errors (-want +got):\n%s", diff)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, ctx := range src.lastCtxs {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("a Source read got a context without a deadline")
		}
	}
}

// Each Metrics has its own registry: two never share a counter, and nothing reaches the
// global registry.
func TestNew_privateRegistry(t *testing.T) {
	a, b := metrics.New(nil), metrics.New(nil)
	a.StepFinished("failed")
	if got := scrapeOnce(t, b).samples[`deskpilot_rollout_steps_total{account="",region="",result="failed"}`]; got != 0 {
		t.Errorf("a second Metrics sees the first one's step: %v", got)
	}
	if got := scrapeOnce(t, a).samples[`deskpilot_rollout_steps_total{account="",region="",result="failed"}`]; got != 1 {
		t.Errorf("steps failed = %v, want 1", got)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "deskpilot_") {
			t.Errorf("%s is on the global registry", mf.GetName())
		}
	}
}

// A nil *Metrics is "metrics off": every method does nothing.
func TestMetrics_nil(t *testing.T) {
	var m *metrics.Metrics
	m.SetVersion("v1")
	m.SetLogger(nil)
	m.StepFinished("done")
	m.ObserveDrain(time.Second)
	m.ObserveRestoreLag(time.Second)
	m.ResetOutcome("reset")
	m.NotificationFailed("ses", "denied")
	m.PassSucceeded("rollouts", time.Now())
	if err := m.AWSMiddleware("")(nil); err != nil {
		t.Errorf("AWSMiddleware of nil Metrics: %v", err)
	}
}
