package metrics

import (
	"fmt"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// kind is a metric's Prometheus type.
type kind string

const (
	counter   kind = "counter"
	gauge     kind = "gauge"
	histogram kind = "histogram"
)

// def is one metric: everything the registry, the exposition's HELP line, the package
// documentation and Doc are made from, so that none of them can say something the others do
// not.
type def struct {
	name    string
	kind    kind
	labels  []string
	help    string
	buckets []float64 // histograms only, in seconds
}

// The metrics, in the order Doc lists them.
var (
	defBuildInfo = def{
		name: "deskpilot_build_info", kind: gauge, labels: []string{"version", "goversion"},
		help: "Always 1; the labels name the running build (version) and the Go release it was built with (goversion).",
	}
	defRollouts = def{
		name: "deskpilot_rollouts", kind: gauge, labels: []string{"account", "region", "state"},
		help: "Rollouts in the store by account, region and state (pending, running, succeeded, failed, cancelled, superseded, refused, rolled-back), read at each scrape.",
	}
	defSteps = def{
		name: "deskpilot_rollout_steps_total", kind: counter, labels: []string{"account", "region", "result"},
		help: "Fleet steps that reached a final state, by the fleet's account and region and that state: " + strings.Join(stepResults, ", ") + ".",
	}
	defDrained = def{
		name: "deskpilot_fleets_drained", kind: gauge, labels: []string{"account", "region"},
		help: "Fleets held at 0/0 now, by account and region, whose saved Min/Max deskpilot has yet to restore, read at each scrape. Above 0 for long outside a window means a restore is stuck.",
	}
	defDrain = def{
		name: "deskpilot_drain_duration_seconds", kind: histogram, labels: []string{"account", "region"},
		help:    "Time from scaling a fleet to 0/0 until it had no available instance left (or the drain timed out), by the fleet's account and region.",
		buckets: seconds(5*time.Second, 15*time.Second, 30*time.Second, time.Minute, 2*time.Minute, 5*time.Minute, 10*time.Minute, 20*time.Minute, 30*time.Minute, time.Hour, 2*time.Hour, 4*time.Hour, 8*time.Hour),
	}
	defRestoreLag = def{
		name: "deskpilot_restore_lag_seconds", kind: histogram, labels: []string{"account", "region"},
		help:    "Time from a drained fleet's restore becoming due until its saved Min/Max was registered again, by the fleet's account and region.",
		buckets: seconds(500*time.Millisecond, time.Second, 2*time.Second, 5*time.Second, 10*time.Second, 20*time.Second, 30*time.Second, time.Minute, 2*time.Minute, 5*time.Minute, 10*time.Minute),
	}
	defResets = def{
		name: "deskpilot_workspace_resets_total", kind: counter, labels: []string{"account", "region", "outcome"},
		help: "Decisions about a WorkSpace's due reset, by the WorkSpace's account and region and the outcome: " + strings.Join(resetOutcomes, ", ") + " (reset: rebuilt or restored).",
	}
	defResetsPending = def{
		name: "deskpilot_workspace_resets_pending", kind: gauge, labels: []string{"account", "region"},
		help: "Tracked WorkSpaces, by account and region, whose user logged off and whose reset is not finished (in grace, being reset, or waiting to be AVAILABLE again), read at each scrape.",
	}
	defAWSCalls = def{
		name: "deskpilot_aws_calls_total", kind: counter, labels: []string{"account", "region", "service", "operation", "class"},
		help: "AWS operations called, once per call with the SDK's retries included, by target account (empty for deskpilot's own calls: STS AssumeRole and GetCallerIdentity, SES), signing region, SDK service ID, operation and final result: ok, or the error's class (" + strings.Join(faultClasses(), ", ") + ").",
	}
	defOutbox = def{
		name: "deskpilot_outbox_depth", kind: gauge,
		help: "Notification deliveries not yet sent and not failed for good (those waiting to retry included), read at each scrape.",
	}
	defNotifyFailures = def{
		name: "deskpilot_notification_failures_total", kind: counter, labels: []string{"sender", "class"},
		help: "Failed notification delivery attempts, by sender name and the error's class.",
	}
	defLastPass = def{
		name: "deskpilot_last_successful_pass_timestamp_seconds", kind: gauge, labels: []string{"controller"},
		help: "Unix time of each loop's latest pass that ended without an error (scan, events, rollouts, resets, outbox, housekeeping; with targets, a target's loops are \"scan ACCOUNT/REGION\" and so on).",
	}
	defTagEvents = def{
		name: "deskpilot_tag_events_total", kind: counter, labels: []string{"account", "region", "outcome"},
		help: "Messages from the tag-event queue (rollouts.events.queue), by the queue's account and region and the outcome: " + strings.Join(tagEventOutcomes, ", ") + ".",
	}
	defTagEventLag = def{
		name: "deskpilot_tag_event_lag_seconds", kind: histogram, labels: []string{"account", "region"},
		help:    "Time from an image's TagResource or UntagResource call (the event's time) until deskpilot had reconciled the image, by the queue's account and region.",
		buckets: seconds(500*time.Millisecond, time.Second, 2*time.Second, 5*time.Second, 10*time.Second, 30*time.Second, time.Minute, 5*time.Minute, 15*time.Minute),
	}
	defTargetUp = def{
		name: "deskpilot_target_up", kind: gauge, labels: []string{"account", "region"},
		help: "1 when every loop of the target (an account and region deskpilot serves) passed its latest pass, 0 when one failed (an outage, a region denied by an SCP, a role that cannot be assumed or credentials that expired); updated after each of the target's passes.",
	}
	defLeader = def{
		name: "deskpilot_leader", kind: gauge, labels: []string{"holder"},
		help: "1 when this replica holds the leader lease (store.postgres.url with several replicas) and acts, 0 when it serves read-only; holder is this replica's name in the lease. Absent without PostgreSQL.",
	}
	defLeaderEpoch = def{
		name: "deskpilot_leader_epoch", kind: gauge, labels: []string{"holder"},
		help: "Epoch of the leader lease this replica last saw (it grows by one at every change of leader).",
	}
	defScrapeErrors = def{
		name: "deskpilot_scrape_errors_total", kind: counter, labels: []string{"source"},
		help: "Store reads that failed or timed out during a scrape, by the metric they were for (" + strings.Join(sources, ", ") + "); that metric is left out of the scrape.",
	}
)

var defs = []*def{
	&defBuildInfo, &defRollouts, &defSteps, &defDrained, &defDrain, &defRestoreLag, &defResets,
	&defResetsPending, &defAWSCalls, &defOutbox, &defNotifyFailures, &defLastPass, &defTagEvents, &defTagEventLag, &defTargetUp, &defLeader, &defLeaderEpoch, &defScrapeErrors,
}

// faultClasses names every fault.Class, the values of a class label besides "ok".
func faultClasses() []string {
	var out []string
	for c := fault.Transient; c <= fault.Invalid; c++ {
		out = append(out, c.String())
	}
	return out
}

func seconds(ds ...time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// meaning is the help text with the buckets of a histogram.
func (d *def) meaning() string {
	if d.kind != histogram {
		return d.help
	}
	bs := make([]string, len(d.buckets))
	for i, b := range d.buckets {
		bs[i] = short(time.Duration(b * float64(time.Second)))
	}
	return d.help + " Buckets: " + strings.Join(bs, ", ") + "."
}

// short writes a bucket bound as people do: 500ms, 30s, 5m, 2h.
func short(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// Doc returns the table of every metric deskpilot exposes, in Markdown, for
// docs/operations.md. It is made from the same definitions as the metrics themselves.
func Doc() string {
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, d := range defs {
		labels := "—"
		if len(d.labels) > 0 {
			labels = "`" + strings.Join(d.labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.name, d.kind, labels, d.meaning())
	}
	return b.String()
}

// goDoc is d's item in the package documentation's list (see doc.go).
func (d *def) goDoc() string {
	name := d.name
	if len(d.labels) > 0 {
		name += "{" + strings.Join(d.labels, ", ") + "}"
	}
	return fmt.Sprintf("%s (%s): %s", name, d.kind, d.meaning())
}
