package e2e

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/tagevent"
	"github.com/deskpilot/deskpilot/sim"
)

// eventsConfig turns the event pipeline on with an hour between full scans, so that what
// reaches Status=Pending in seconds came through the queue.
const eventsConfig = `
rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  scan_interval: 1h
  poll_interval: 10s
  drain_poll_interval: 5s
  events: {queue: deskpilot-events, resync_interval: 1h}
`

func eventsSeed() sim.Seed {
	s := estate
	s.Images = append(slices.Clone(s.Images), sim.ImageSpec{Name: "img-4"}, sim.ImageSpec{Name: "img-5"})
	s.EventQueues = []string{"deskpilot-events"}
	return s
}

// metric returns the value of one sample of the daemon's /metrics, or -1.
func (h *harness) metric(sample string) float64 {
	rec := httptest.NewRecorder()
	h.app.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// runSeconds runs a second of simulated time at a time until cond holds, failing after limit.
func (h *harness) runSeconds(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	for end := h.clock.Now().Add(limit); !cond(); h.run(time.Second) {
		if !h.clock.Now().Before(end) {
			h.t.Fatalf("after %s of simulated time: still not %s", limit, what)
		}
	}
}

func (h *harness) pending(image string) bool {
	return strings.HasPrefix(h.tags(imageARN(image))["Status"], "Pending/")
}

// The sim's tag events are what internal/tagevent reads.
func TestEvents_SimEventsParse(t *testing.T) {
	s := sim.New(sim.Options{Clock: sim.NewManualClock(saturday)})
	if err := s.ApplySeed(eventsSeed()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	h := &harness{t: t, ctx: t.Context(), url: srv.URL}
	cfg := h.awsConfig()
	h.as = appstream.NewFromConfig(cfg)
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a"})
	h.untagImage("img-2", "FleetName")
	c := sqs.NewFromConfig(cfg)
	url, err := c.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String("deskpilot-events")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 2 {
		t.Fatalf("%d events, want 2", len(out.Messages))
	}
	for i, want := range []string{tagevent.TagResource, tagevent.UntagResource} {
		e, err := tagevent.Parse([]byte(aws.ToString(out.Messages[i].Body)))
		if err != nil {
			t.Fatalf("event %d does not parse: %v\n%s", i, err, aws.ToString(out.Messages[i].Body))
		}
		if e.Name != want || e.Image != "img-2" || !slices.Equal(e.Keys, []string{"FleetName"}) || e.Account != account || e.Region != "us-east-1" {
			t.Errorf("event %d: %+v", i, e)
		}
	}
}

// TestEvents_EndToEnd: with full scans an hour apart, a tag reaches Status=Pending and its
// notice through the queue within seconds; an event lost on purpose is picked up by the
// safety-net scan; a malformed, a foreign-account and a replayed message change nothing and
// are logged and counted.
func TestEvents_EndToEnd(t *testing.T) {
	h := newHarnessWith(t, saturday, eventsConfig, eventsSeed())
	logs := &syncBuffer{}
	h.configure = func(m *app.Main) { m.Logger = slog.New(slog.NewTextHandler(logs, nil)) }
	h.restart()
	h.run(time.Minute) // the startup scan is behind us; the next is an hour away

	// 1. A tag, through the queue.
	tagged := h.clock.Now()
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a/fleet-b"})
	h.runSeconds("img-2 is pending", 30*time.Second, func() bool { return h.pending("img-2") })
	// On the manual clock the daemon polls the queue once per long poll (20 s) of simulated
	// time; a real long poll returns as the message arrives (BenchmarkTagToPending).
	if lag := h.clock.Now().Sub(tagged); lag > 21*time.Second {
		t.Errorf("img-2 pending %s after its tag, want within one long poll (20 s) of simulated time", lag)
	}
	h.runSeconds("the pending notice", 30*time.Second, func() bool { return h.mailCount("") > 0 })
	if got := h.metric(`deskpilot_tag_events_total{account="123456789012",outcome="handled",region="us-east-1"}`); got != 1 {
		t.Errorf("handled events = %v, want 1", got)
	}
	// Cancelling by removing the tag goes through the queue as well.
	h.untagImage("img-2", "FleetName")
	h.runSeconds("img-2 cancelled", 30*time.Second, func() bool { return h.rolloutOf("img-2").State == rollout.Cancelled })

	// 2. A lost event: nothing until the safety-net scan.
	h.sim.DropEvents(1)
	h.tagImage("img-3", map[string]string{"FleetName": "fleet-a"})
	h.run(5 * time.Minute)
	if h.pending("img-3") {
		t.Fatal("img-3 is pending although its event was dropped and no scan ran")
	}
	h.runUntil("the safety-net scan finds img-3", time.Hour, func() bool { return h.pending("img-3") })

	// 3. Messages that must change nothing. img-4 carries a FleetName tag whose event was lost,
	// so that a message acting on it would show.
	h.sim.DropEvents(1)
	h.tagImage("img-4", map[string]string{"FleetName": "fleet-b"})
	c := sqs.NewFromConfig(h.awsConfig())
	qurl, err := c.GetQueueUrl(h.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("deskpilot-events")})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) {
		t.Helper()
		if _, err := c.SendMessage(h.ctx, &sqs.SendMessageInput{QueueUrl: qurl.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	event := func(acct, image, id string) string {
		doc := map[string]any{
			"version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.appstream",
			"account": acct, "time": h.clock.Now().UTC().Format(time.RFC3339), "region": "us-east-1", "resources": []string{},
			"detail": map[string]any{
				"eventSource": "appstream.amazonaws.com", "eventName": "TagResource", "awsRegion": "us-east-1",
				"eventID": id, "eventTime": h.clock.Now().UTC().Format(time.RFC3339), "recipientAccountId": acct,
				"requestParameters": map[string]any{"resourceArn": "arn:aws:appstream:us-east-1:" + acct + ":image/" + image, "tags": map[string]string{"FleetName": "fleet-b"}},
			},
		}
		b, _ := json.Marshal(doc)
		return string(b)
	}
	send("{not an event")
	send(event("999999999999", "img-4", "0b9c2f1e-0000-4000-8000-000000000001"))
	h.run(30 * time.Second)
	if h.pending("img-4") {
		t.Fatal("a malformed or foreign-account message made img-4 pending")
	}
	if got := h.metric(`deskpilot_tag_events_total{account="123456789012",outcome="malformed",region="us-east-1"}`); got != 1 {
		t.Errorf("malformed = %v, want 1", got)
	}
	if got := h.metric(`deskpilot_tag_events_total{account="123456789012",outcome="foreign",region="us-east-1"}`); got != 1 {
		t.Errorf("foreign = %v, want 1", got)
	}
	// A valid event, then the same message again: the first acts, the second is a replay.
	genuine := event(account, "img-5", "0b9c2f1e-0000-4000-8000-000000000002")
	h.sim.DropEvents(1)
	h.tagImage("img-5", map[string]string{"FleetName": "fleet-b"})
	send(genuine)
	h.runSeconds("img-5 pending", 30*time.Second, func() bool { return h.pending("img-5") })
	h.untagImage("img-5", "Status") // deskpilot's own mark; a replay that acted would write it again
	before := len(h.rollouts())
	send(genuine)
	h.run(30 * time.Second)
	if got := h.metric(`deskpilot_tag_events_total{account="123456789012",outcome="replayed",region="us-east-1"}`); got != 1 {
		t.Errorf("replayed = %v, want 1", got)
	}
	if h.pending("img-5") || len(h.rollouts()) != before {
		t.Error("the replayed message acted again")
	}
	for _, want := range []string{"not an AppStream tag event", "another account or region", "handled before (replayed)"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}
