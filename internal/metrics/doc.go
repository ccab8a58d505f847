// Package metrics is deskpilot's Prometheus metrics: counters and histograms the controllers
// record as things happen, gauges read from the store at each scrape (through a Source), and
// AWS call counting as an aws-sdk-go-v2 middleware. Metrics live on a registry of their own,
// never the global one, and Handler serves them.
//
// Every metric's name starts with deskpilot_. The list below, the exposition's HELP lines and
// the table Doc returns (copied into docs/operations.md) are all made from the same
// definitions, and a test fails when this comment or Doc disagrees with what is registered.
//
// # Metrics
//
//   - deskpilot_build_info{version, goversion} (gauge): Always 1; the labels name the running build
//     (version) and the Go release it was built with (goversion).
//   - deskpilot_rollouts{account, region, state} (gauge): Rollouts in the store by account, region
//     and state (pending, running, succeeded, failed, cancelled, superseded, refused, rolled-back),
//     read at each scrape.
//   - deskpilot_rollout_steps_total{account, region, result} (counter): Fleet steps that reached a
//     final state, by the fleet's account and region and that state: done, skipped, failed,
//     cancelled, rolled-back.
//   - deskpilot_fleets_drained{account, region} (gauge): Fleets held at 0/0 now, by account and
//     region, whose saved Min/Max deskpilot has yet to restore, read at each scrape. Above 0 for
//     long outside a window means a restore is stuck.
//   - deskpilot_drain_duration_seconds{account, region} (histogram): Time from scaling a fleet to
//     0/0 until it had no available instance left (or the drain timed out), by the fleet's account
//     and region. Buckets: 5s, 15s, 30s, 1m, 2m, 5m, 10m, 20m, 30m, 1h, 2h, 4h, 8h.
//   - deskpilot_restore_lag_seconds{account, region} (histogram): Time from a drained fleet's
//     restore becoming due until its saved Min/Max was registered again, by the fleet's account and
//     region. Buckets: 500ms, 1s, 2s, 5s, 10s, 20s, 30s, 1m, 2m, 5m, 10m.
//   - deskpilot_workspace_resets_total{account, region, outcome} (counter): Decisions about a
//     WorkSpace's due reset, by the WorkSpace's account and region and the outcome: reset, skipped,
//     cancelled, failed (reset: rebuilt or restored).
//   - deskpilot_workspace_resets_pending{account, region} (gauge): Tracked WorkSpaces, by account
//     and region, whose user logged off and whose reset is not finished (in grace, being reset, or
//     waiting to be AVAILABLE again), read at each scrape.
//   - deskpilot_aws_calls_total{account, region, service, operation, class} (counter): AWS
//     operations called, once per call with the SDK's retries included, by target account (empty
//     for deskpilot's own calls: STS AssumeRole and GetCallerIdentity, SES), signing region, SDK
//     service ID, operation and final result: ok, or the error's class (transient, throttled,
//     conflict, not-found, denied, invalid).
//   - deskpilot_outbox_depth (gauge): Notification deliveries not yet sent and not failed for good
//     (those waiting to retry included), read at each scrape.
//   - deskpilot_notification_failures_total{sender, class} (counter): Failed notification delivery
//     attempts, by sender name and the error's class.
//   - deskpilot_last_successful_pass_timestamp_seconds{controller} (gauge): Unix time of each
//     loop's latest pass that ended without an error (scan, events, rollouts, resets, outbox,
//     housekeeping; with targets, a target's loops are "scan ACCOUNT/REGION" and so on).
//   - deskpilot_tag_events_total{account, region, outcome} (counter): Messages from the tag-event
//     queue (rollouts.events.queue), by the queue's account and region and the outcome: handled,
//     ignored, malformed, foreign, replayed, failed.
//   - deskpilot_tag_event_lag_seconds{account, region} (histogram): Time from an image's
//     TagResource or UntagResource call (the event's time) until deskpilot had reconciled the
//     image, by the queue's account and region. Buckets: 500ms, 1s, 2s, 5s, 10s, 30s, 1m, 5m, 15m.
//   - deskpilot_target_up{account, region} (gauge): 1 when every loop of the target (an account and
//     region deskpilot serves) passed its latest pass, 0 when one failed (an outage, a region
//     denied by an SCP, a role that cannot be assumed or credentials that expired); updated after
//     each of the target's passes.
//   - deskpilot_leader{holder} (gauge): 1 when this replica holds the leader lease
//     (store.postgres.url with several replicas) and acts, 0 when it serves read-only; holder is
//     this replica's name in the lease. Absent without PostgreSQL.
//   - deskpilot_leader_epoch{holder} (gauge): Epoch of the leader lease this replica last saw (it
//     grows by one at every change of leader).
//   - deskpilot_scrape_errors_total{source} (counter): Store reads that failed or timed out during
//     a scrape, by the metric they were for (rollouts, fleets_drained, workspace_resets_pending,
//     outbox_depth); that metric is left out of the scrape.
//
// # Counting AWS calls
//
// AWSMiddleware goes into aws.Config.APIOptions. It counts each operation call once, after the
// SDK's own retries, with the class of the final error (fault.Classify): a throttle the SDK
// retried away is one "ok" call, a throttle that outlasted every attempt one "throttled" call.
//
// # Scrape failures
//
// The gauges marked "read at each scrape" come from the Source, whose reads share a budget of
// DefaultSourceTimeout per scrape. A read that fails or times out leaves its metric out of
// that scrape (rather than report a made-up value), adds one to deskpilot_scrape_errors_total
// and is logged; the rest of the scrape is served as usual, with status 200.
package metrics
