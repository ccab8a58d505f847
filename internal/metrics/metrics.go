package metrics

import (
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultSourceTimeout bounds all of a scrape's reads from the Source together. It is well
// under Prometheus's default scrape timeout (10 s), so that a slow store costs the scrape its
// store-backed gauges, not the whole scrape.
const DefaultSourceTimeout = 3 * time.Second

// Known label values, reported as 0 from the start so that rate() and increase() see a counter
// appear at 0 rather than at its first increment.
var (
	stepResults   = []string{"done", "skipped", "failed", "cancelled", "rolled-back"}
	resetOutcomes = []string{"reset", "skipped", "cancelled", "failed"}
	// tagEventOutcomes are tagevent's Outcome values.
	tagEventOutcomes = []string{"handled", "ignored", "malformed", "foreign", "replayed", "failed"}
)

// Metrics is deskpilot's Prometheus metrics, on a registry of its own (never the global one,
// so tests and several daemons in one process do not share counters). It is safe for
// concurrent use. Every recording method does nothing on a nil *Metrics, so a component can
// hold one whether or not metrics are on.
type Metrics struct {
	reg    *prometheus.Registry
	logger atomic.Pointer[slog.Logger]

	buildInfo      *prometheus.GaugeVec
	steps          *prometheus.CounterVec
	drain          *prometheus.HistogramVec
	restoreLag     *prometheus.HistogramVec
	resets         *prometheus.CounterVec
	awsCalls       *prometheus.CounterVec
	notifyFailures *prometheus.CounterVec
	lastPass       *prometheus.GaugeVec
	tagEvents      *prometheus.CounterVec
	tagEventLag    *prometheus.HistogramVec
	targetUp       *prometheus.GaugeVec
	leader         *prometheus.GaugeVec
	leaderEpoch    *prometheus.GaugeVec
}

// New returns the metrics, with the store-backed gauges read from src at each scrape (src may
// be nil: those gauges are then absent). The build_info version is the module version from
// the binary's build information; SetVersion replaces it.
func New(src Source) *Metrics { return newMetrics(src, DefaultSourceTimeout) }

func newMetrics(src Source, timeout time.Duration) *Metrics {
	m := &Metrics{
		reg:            prometheus.NewRegistry(),
		buildInfo:      gaugeVec(defBuildInfo),
		steps:          counterVec(defSteps),
		drain:          newHistogram(defDrain),
		restoreLag:     newHistogram(defRestoreLag),
		resets:         counterVec(defResets),
		awsCalls:       counterVec(defAWSCalls),
		notifyFailures: counterVec(defNotifyFailures),
		lastPass:       gaugeVec(defLastPass),
		tagEvents:      counterVec(defTagEvents),
		tagEventLag:    newHistogram(defTagEventLag),
		targetUp:       gaugeVec(defTargetUp),
		leader:         gaugeVec(defLeader),
		leaderEpoch:    gaugeVec(defLeaderEpoch),
	}
	m.logger.Store(slog.New(slog.DiscardHandler))
	m.reg.MustRegister(m.buildInfo, m.steps, m.drain, m.restoreLag, m.resets, m.awsCalls,
		m.notifyFailures, m.lastPass, m.tagEvents, m.tagEventLag, m.targetUp, m.leader, m.leaderEpoch)
	if src != nil {
		m.reg.MustRegister(newSourceCollector(src, timeout, m.log))
	}
	m.SetVersion("")
	return m
}

// SetVersion sets the version label of deskpilot_build_info (the -ldflags version the CLI
// prints, say); "" means the module version from the build information, or "(devel)".
func (m *Metrics) SetVersion(version string) {
	if m == nil {
		return
	}
	if version == "" {
		version = "(devel)"
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
			version = info.Main.Version
		}
	}
	m.buildInfo.Reset()
	set(m.buildInfo, 1, version, runtime.Version())
}

// SetLogger sets where failed Source reads and other scrape errors are logged; nil discards
// them (the default). Call it before Handler.
func (m *Metrics) SetLogger(l *slog.Logger) {
	if m == nil {
		return
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	m.logger.Store(l)
}

func (m *Metrics) log() *slog.Logger { return m.logger.Load() }

// Handler serves the metrics in the Prometheus exposition formats. A metric that cannot be
// gathered is left out and logged; the others are still served with 200, so that a broken
// store does not hide the AWS and notification counters.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log().Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// StepFinished counts a fleet step that reached its final state result (done, skipped,
// failed, cancelled or rolled-back).
func (m *Metrics) StepFinished(result string) { m.untargeted().StepFinished(result) }

// ObserveDrain records how long a fleet took to drain. A negative d (a clock step) counts as 0.
func (m *Metrics) ObserveDrain(d time.Duration) {
	if m == nil {
		return
	}
	m.untargeted().ObserveDrain(d)
}

// ObserveRestoreLag records how long a drained fleet waited for its Min/Max to be restored
// once the restore was due. A negative d counts as 0.
func (m *Metrics) ObserveRestoreLag(d time.Duration) {
	if m == nil {
		return
	}
	m.untargeted().ObserveRestoreLag(d)
}

// ResetOutcome counts a decision about a WorkSpace's due reset (reset, skipped, cancelled or
// failed).
func (m *Metrics) ResetOutcome(outcome string) { m.untargeted().ResetOutcome(outcome) }

// TagEvent counts a message of the tag-event queue by outcome, and for a handled one how long
// after the tag call its image was reconciled. It implements tagevent.Observer.
func (m *Metrics) TagEvent(outcome string, lag time.Duration) {
	m.untargeted().TagEvent(outcome, lag)
}

// untargeted records with empty account and region labels, without creating zero series.
func (m *Metrics) untargeted() *Target {
	if m == nil {
		return nil
	}
	return &Target{m: m}
}

// Target is the metrics of one account and region deskpilot serves: what it records carries
// their labels. A nil *Target records nothing.
type Target struct {
	m               *Metrics
	account, region string
}

// Target returns the metrics of account and region, with their counters' known label values
// at 0 from the start (nil on a nil *Metrics).
func (m *Metrics) Target(account, region string) *Target {
	if m == nil {
		return nil
	}
	for _, r := range stepResults {
		m.steps.WithLabelValues(account, region, r)
	}
	for _, o := range resetOutcomes {
		m.resets.WithLabelValues(account, region, o)
	}
	for _, o := range tagEventOutcomes {
		m.tagEvents.WithLabelValues(account, region, o)
	}
	return &Target{m: m, account: account, region: region}
}

// StepFinished counts a fleet step of the target that reached its final state result.
func (t *Target) StepFinished(result string) {
	if t == nil {
		return
	}
	inc(t.m.steps, t.account, t.region, result)
}

// ObserveDrain records how long a fleet of the target took to drain; a negative d counts as 0.
func (t *Target) ObserveDrain(d time.Duration) {
	if t != nil {
		observe(t.m.drain, max(d, 0).Seconds(), t.account, t.region)
	}
}

// ObserveRestoreLag records a drained fleet's restore lag; a negative d counts as 0.
func (t *Target) ObserveRestoreLag(d time.Duration) {
	if t != nil {
		observe(t.m.restoreLag, max(d, 0).Seconds(), t.account, t.region)
	}
}

// ResetOutcome counts a decision about a due reset of one of the target's WorkSpaces.
func (t *Target) ResetOutcome(outcome string) {
	if t == nil {
		return
	}
	inc(t.m.resets, t.account, t.region, outcome)
}

// TagEvent counts a message of the target's tag-event queue by outcome, and for a handled one
// how long after the tag call its image was reconciled. It implements tagevent.Observer.
func (t *Target) TagEvent(outcome string, lag time.Duration) {
	if t == nil {
		return
	}
	inc(t.m.tagEvents, t.account, t.region, outcome)
	if outcome == "handled" {
		observe(t.m.tagEventLag, max(lag, 0).Seconds(), t.account, t.region)
	}
}

// SetUp reports whether the target's loops all passed their latest pass.
func (t *Target) SetUp(up bool) {
	if t == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	set(t.m.targetUp, v, t.account, t.region)
}

// SetLeader reports whether this replica (holder) leads, and the lease's epoch. The two gauges
// appear at the first call: a daemon without a lease never has them.
func (m *Metrics) SetLeader(holder string, leading bool, epoch int64) {
	if m == nil {
		return
	}
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.WithLabelValues(holder).Set(v)
	m.leaderEpoch.WithLabelValues(holder).Set(float64(epoch))
}

// NotificationFailed counts a failed delivery attempt by sender, with class the error's
// fault class name (fault.Classify(err).String()).
func (m *Metrics) NotificationFailed(sender, class string) {
	if m == nil {
		return
	}
	inc(m.notifyFailures, sender, class)
}

// PassSucceeded records that a pass of controller (the loop's name: scan, rollouts, resets,
// outbox, housekeeping) ended without an error at at.
func (m *Metrics) PassSucceeded(controller string, at time.Time) {
	if m == nil {
		return
	}
	set(m.lastPass, float64(at.UnixMilli())/1e3, controller)
}

// inc and set ignore label values the client refuses (not UTF-8): a bad label must cost its
// sample, never a panic in a controller.
func inc(v *prometheus.CounterVec, labels ...string) {
	if c, err := v.GetMetricWithLabelValues(labels...); err == nil {
		c.Inc()
	}
}

func set(v *prometheus.GaugeVec, value float64, labels ...string) {
	if g, err := v.GetMetricWithLabelValues(labels...); err == nil {
		g.Set(value)
	}
}

func counterVec(d def) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.name, Help: d.help}, d.labels)
}

func gaugeVec(d def) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.name, Help: d.help}, d.labels)
}

func newHistogram(d def) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.name, Help: d.help, Buckets: d.buckets}, d.labels)
}

// observe records v in the histogram of account and region, ignoring labels the client refuses.
func observe(v *prometheus.HistogramVec, seconds float64, labels ...string) {
	if h, err := v.GetMetricWithLabelValues(labels...); err == nil {
		h.Observe(seconds)
	}
}
