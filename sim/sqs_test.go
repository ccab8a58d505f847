package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deskpilot/deskpilot/sim"
)

// sqsTarget is an SQS implementation the conformance table runs against: the emulator (here)
// or moto (moto_sqs_test.go).
type sqsTarget struct {
	c *sqs.Client
	// later lets at least d pass: the emulator moves its manual clock, moto sleeps.
	later func(d time.Duration)
	// polling returns once a long poll is waiting: the emulator says so (WaitingPolls); moto
	// cannot, so for it this sleeps.
	polling func()
}

// sqsCase is one behaviour both implementations must share.
type sqsCase struct {
	name string
	run  func(t *testing.T, ctx context.Context, x sqsTarget)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func mustQueue(t *testing.T, ctx context.Context, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func mustSend(t *testing.T, ctx context.Context, c *sqs.Client, url, body string) *sqs.SendMessageOutput {
	t.Helper()
	out, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return out
}

// receive receives up to ten messages at once, with every system attribute.
func receive(t *testing.T, ctx context.Context, c *sqs.Client, url string, opts ...func(*sqs.ReceiveMessageInput)) []sqstypes.Message {
	t.Helper()
	in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}}
	for _, o := range opts {
		o(in)
	}
	out, err := c.ReceiveMessage(ctx, in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func queueAttrs(t *testing.T, ctx context.Context, c *sqs.Client, url string, names ...sqstypes.QueueAttributeName) map[string]string {
	t.Helper()
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes
}

func bodies(msgs []sqstypes.Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, aws.ToString(m.Body))
	}
	return out
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Errorf("%s: error %q (%v), want %s", what, got, err, code)
	}
}

// sqsConformance is what the emulator and moto must both do. Times are whole seconds (moto
// waits them out in real time), kept short.
var sqsConformance = []sqsCase{
	{"create, get the URL, a missing queue", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "orders", nil)
		if !strings.HasSuffix(url, "/123456789012/orders") || !strings.HasPrefix(url, "http") {
			t.Errorf("QueueUrl %q, want …/123456789012/orders", url)
		}
		got, err := x.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
		if err != nil || aws.ToString(got.QueueUrl) != url {
			t.Errorf("GetQueueUrl = %v, %v; want %s", got, err, url)
		}
		_, err = x.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
		wantCode(t, "GetQueueUrl of a missing queue", err, "AWS.SimpleQueueService.NonExistentQueue")
		var typed *sqstypes.QueueDoesNotExist
		if !errors.As(err, &typed) {
			t.Errorf("GetQueueUrl of a missing queue: %T, want *types.QueueDoesNotExist", err)
		}
		_, err = x.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(strings.TrimSuffix(url, "orders") + "missing"), MessageBody: aws.String("x")})
		wantCode(t, "SendMessage to a missing queue", err, "AWS.SimpleQueueService.NonExistentQueue")
		_, err = x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad name!")})
		wantCode(t, "CreateQueue with a bad name", err, "InvalidParameterValue")
	}},
	{"CreateQueue is idempotent only with the same attributes", func(t *testing.T, ctx context.Context, x sqsTarget) {
		attrs := map[string]string{"VisibilityTimeout": "45", "MessageRetentionPeriod": "3600"}
		url := mustQueue(t, ctx, x.c, "idem", attrs)
		if again := mustQueue(t, ctx, x.c, "idem", attrs); again != url {
			t.Errorf("CreateQueue again: %s, want %s", again, url)
		}
		if again := mustQueue(t, ctx, x.c, "idem", nil); again != url {
			t.Errorf("CreateQueue again without attributes: %s, want %s", again, url)
		}
		_, err := x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("idem"), Attributes: map[string]string{"VisibilityTimeout": "46"}})
		wantCode(t, "CreateQueue with another VisibilityTimeout", err, "QueueAlreadyExists")
		var typed *sqstypes.QueueNameExists
		if !errors.As(err, &typed) {
			t.Errorf("QueueAlreadyExists: %T, want *types.QueueNameExists", err)
		}
	}},
	{"send and receive: ids, MD5s, system attributes, in flight", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "basic", nil)
		sent := mustSend(t, ctx, x.c, url, "hello")
		if aws.ToString(sent.MD5OfMessageBody) != "5d41402abc4b2a76b9719d911017c592" || !uuidRE.MatchString(aws.ToString(sent.MessageId)) {
			t.Errorf("SendMessage = MD5 %q, id %q", aws.ToString(sent.MD5OfMessageBody), aws.ToString(sent.MessageId))
		}
		msgs := receive(t, ctx, x.c, url)
		if len(msgs) != 1 {
			t.Fatalf("received %d messages, want 1", len(msgs))
		}
		m := msgs[0]
		if aws.ToString(m.Body) != "hello" || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) ||
			aws.ToString(m.MD5OfBody) != aws.ToString(sent.MD5OfMessageBody) || aws.ToString(m.ReceiptHandle) == "" {
			t.Errorf("received %+v", m)
		}
		if m.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("ApproximateReceiveCount %q, want 1", m.Attributes["ApproximateReceiveCount"])
		}
		for _, k := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
			ms, err := strconv.ParseInt(m.Attributes[k], 10, 64)
			if err != nil || time.UnixMilli(ms).Year() < 2020 { // the emulator's clock is a test's, moto's the machine's
				t.Errorf("%s %q: want epoch milliseconds", k, m.Attributes[k])
			}
		}
		if m.Attributes["SenderId"] == "" {
			t.Error("no SenderId")
		}
		if again := receive(t, ctx, x.c, url); len(again) != 0 {
			t.Errorf("a message in flight was received again: %v", bodies(again))
		}
		a := queueAttrs(t, ctx, x.c, url, sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
		if a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "1" {
			t.Errorf("attributes %v, want 0 visible and 1 not visible", a)
		}
	}},
	{"the visibility timeout runs out: redelivery with a new receipt handle", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "vis", map[string]string{"VisibilityTimeout": "1"})
		mustSend(t, ctx, x.c, url, "again")
		first := receive(t, ctx, x.c, url)
		x.later(1500 * time.Millisecond)
		second := receive(t, ctx, x.c, url)
		if len(first) != 1 || len(second) != 1 {
			t.Fatalf("received %d then %d messages, want 1 and 1", len(first), len(second))
		}
		if second[0].Attributes["ApproximateReceiveCount"] != "2" || aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) {
			t.Errorf("redelivered with count %q, handle changed: %v", second[0].Attributes["ApproximateReceiveCount"],
				aws.ToString(second[0].ReceiptHandle) != aws.ToString(first[0].ReceiptHandle))
		}
		if ms := second[0].Attributes["ApproximateFirstReceiveTimestamp"]; ms != first[0].Attributes["ApproximateFirstReceiveTimestamp"] {
			t.Errorf("ApproximateFirstReceiveTimestamp moved: %s then %s", first[0].Attributes["ApproximateFirstReceiveTimestamp"], ms)
		}
	}},
	{"ReceiveMessage's VisibilityTimeout overrides the queue's", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "override", nil) // 30 s
		mustSend(t, ctx, x.c, url, "m")
		receive(t, ctx, x.c, url, func(in *sqs.ReceiveMessageInput) { in.VisibilityTimeout = 1 })
		x.later(1500 * time.Millisecond)
		if got := receive(t, ctx, x.c, url); len(got) != 1 {
			t.Errorf("after a 1 s visibility: %d messages, want 1", len(got))
		}
	}},
	{"DeleteMessage, twice, and with a handle that is not one", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "del", map[string]string{"VisibilityTimeout": "1"})
		mustSend(t, ctx, x.c, url, "gone")
		m := receive(t, ctx, x.c, url)
		if len(m) != 1 {
			t.Fatalf("received %d messages", len(m))
		}
		for i := range 2 {
			if _, err := x.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m[0].ReceiptHandle}); err != nil {
				t.Errorf("DeleteMessage #%d: %v", i+1, err)
			}
		}
		x.later(1500 * time.Millisecond)
		if left := receive(t, ctx, x.c, url); len(left) != 0 {
			t.Errorf("a deleted message came back: %v", bodies(left))
		}
		_, err := x.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("not-a-receipt-handle")})
		wantCode(t, "DeleteMessage with a made-up handle", err, "ReceiptHandleIsInvalid")
	}},
	{"ChangeMessageVisibility to 0 makes a message receivable at once", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "cmv", nil)
		mustSend(t, ctx, x.c, url, "m")
		m := receive(t, ctx, x.c, url)
		if len(m) != 1 {
			t.Fatalf("received %d messages", len(m))
		}
		if _, err := x.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			t.Fatal(err)
		}
		if again := receive(t, ctx, x.c, url); len(again) != 1 || again[0].Attributes["ApproximateReceiveCount"] != "2" {
			t.Errorf("after ChangeMessageVisibility 0: %v", again)
		}
		_, err := x.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("not-a-receipt-handle"), VisibilityTimeout: 5})
		wantCode(t, "ChangeMessageVisibility with a made-up handle", err, "ReceiptHandleIsInvalid")
	}},
	{"a message received more than maxReceiveCount times moves to the dead-letter queue", func(t *testing.T, ctx context.Context, x sqsTarget) {
		dlq := mustQueue(t, ctx, x.c, "work-dlq", nil)
		dlqArn := queueAttrs(t, ctx, x.c, dlq, sqstypes.QueueAttributeNameQueueArn)["QueueArn"]
		if dlqArn != "arn:aws:sqs:us-east-1:123456789012:work-dlq" {
			t.Errorf("QueueArn %q", dlqArn)
		}
		url := mustQueue(t, ctx, x.c, "work", map[string]string{"VisibilityTimeout": "1",
			"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"2"}`})
		mustSend(t, ctx, x.c, url, "poison")
		for i := 1; i <= 2; i++ {
			got := receive(t, ctx, x.c, url)
			if len(got) != 1 || got[0].Attributes["ApproximateReceiveCount"] != strconv.Itoa(i) {
				t.Fatalf("receive #%d: %v", i, got)
			}
			x.later(1500 * time.Millisecond)
		}
		if third := receive(t, ctx, x.c, url); len(third) != 0 {
			t.Errorf("a third receive, past maxReceiveCount 2: %v", bodies(third))
		}
		dead := receive(t, ctx, x.c, dlq)
		if len(dead) != 1 || aws.ToString(dead[0].Body) != "poison" {
			t.Fatalf("dead-letter queue: %v", bodies(dead))
		}
		var rp struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     int    `json:"maxReceiveCount"`
		}
		raw := queueAttrs(t, ctx, x.c, url, sqstypes.QueueAttributeNameRedrivePolicy)["RedrivePolicy"]
		if err := json.Unmarshal([]byte(raw), &rp); err != nil || rp.DeadLetterTargetArn != dlqArn || rp.MaxReceiveCount != 2 {
			t.Errorf("RedrivePolicy %q", raw)
		}
	}},
	{"a long poll returns as soon as a message is sent", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "poll", nil)
		type result struct {
			msgs []sqstypes.Message
			took time.Duration
			err  error
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			out, err := x.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
			if err != nil {
				done <- result{err: err}
				return
			}
			done <- result{out.Messages, time.Since(start), nil}
		}()
		x.polling()
		mustSend(t, ctx, x.c, url, "wake up")
		r := <-done
		if r.err != nil || len(r.msgs) != 1 || aws.ToString(r.msgs[0].Body) != "wake up" || r.took > 5*time.Second {
			t.Errorf("long poll: %v, %v after %s", r.err, bodies(r.msgs), r.took)
		}
	}},
	{"a long poll with nothing to receive answers empty after WaitTimeSeconds", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "quiet", nil)
		start := time.Now()
		got := receive(t, ctx, x.c, url, func(in *sqs.ReceiveMessageInput) { in.WaitTimeSeconds = 1 })
		if len(got) != 0 || time.Since(start) > 5*time.Second {
			t.Errorf("%d messages after %s", len(got), time.Since(start))
		}
	}},
	{"MaxNumberOfMessages bounds a receive; out-of-range parameters", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "batch", nil)
		for i := range 3 {
			mustSend(t, ctx, x.c, url, "m"+strconv.Itoa(i))
		}
		if got := receive(t, ctx, x.c, url, func(in *sqs.ReceiveMessageInput) { in.MaxNumberOfMessages = 2 }); len(got) != 2 {
			t.Errorf("MaxNumberOfMessages 2: %d messages", len(got))
		}
		_, err := x.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11})
		wantCode(t, "MaxNumberOfMessages 11", err, "InvalidParameterValue")
		_, err = x.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 21})
		wantCode(t, "WaitTimeSeconds 21", err, "InvalidParameterValue")
	}},
	{"DelaySeconds holds a message back", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "delayed", nil)
		if _, err := x.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("later"), DelaySeconds: 1}); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ctx, x.c, url); len(got) != 0 {
			t.Errorf("a delayed message was received at once: %v", bodies(got))
		}
		x.later(1500 * time.Millisecond)
		if got := receive(t, ctx, x.c, url); len(got) != 1 {
			t.Errorf("after its delay: %d messages, want 1", len(got))
		}
	}},
	{"message attributes and their MD5", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "attrs", nil)
		sent, err := x.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("with attributes"),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"kind":  {DataType: aws.String("String"), StringValue: aws.String("tag")},
				"count": {DataType: aws.String("Number"), StringValue: aws.String("3")},
				"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2, 3}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		const want = "4f28030b05bd73bbe06d825b91baa642"
		if got := aws.ToString(sent.MD5OfMessageAttributes); got != want {
			t.Errorf("MD5OfMessageAttributes %s, want %s", got, want)
		}
		got := receive(t, ctx, x.c, url, func(in *sqs.ReceiveMessageInput) { in.MessageAttributeNames = []string{"All"} })
		if len(got) != 1 || len(got[0].MessageAttributes) != 3 || aws.ToString(got[0].MessageAttributes["kind"].StringValue) != "tag" ||
			string(got[0].MessageAttributes["blob"].BinaryValue) != "\x01\x02\x03" || aws.ToString(got[0].MD5OfMessageAttributes) != want {
			t.Errorf("received %+v", got)
		}
	}},
	{"GetQueueAttributes: All, named, and a name SQS does not know", func(t *testing.T, ctx context.Context, x sqsTarget) {
		url := mustQueue(t, ctx, x.c, "attributes", map[string]string{"VisibilityTimeout": "77", "DelaySeconds": "2"})
		all := queueAttrs(t, ctx, x.c, url, sqstypes.QueueAttributeNameAll)
		want := map[string]string{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:attributes", "VisibilityTimeout": "77", "DelaySeconds": "2",
			"MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0", "ApproximateNumberOfMessages": "0",
			"ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "0"}
		for k, v := range want {
			if all[k] != v {
				t.Errorf("%s = %q, want %q", k, all[k], v)
			}
		}
		for _, k := range []string{"CreatedTimestamp", "LastModifiedTimestamp"} {
			if _, err := strconv.ParseFloat(all[k], 64); err != nil { // AWS sends whole seconds, moto fractions
				t.Errorf("%s = %q, want epoch seconds", k, all[k])
			}
		}
		if one := queueAttrs(t, ctx, x.c, url, sqstypes.QueueAttributeNameVisibilityTimeout); len(one) != 1 || one["VisibilityTimeout"] != "77" {
			t.Errorf("named: %v", one)
		}
		_, err := x.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"Bogus"}})
		wantCode(t, "an unknown attribute name", err, "InvalidAttributeName")
	}},
	{"ListQueues by prefix, DeleteQueue, PurgeQueue", func(t *testing.T, ctx context.Context, x sqsTarget) {
		a := mustQueue(t, ctx, x.c, "list-a", nil)
		b := mustQueue(t, ctx, x.c, "list-b", nil)
		mustQueue(t, ctx, x.c, "other", nil)
		out, err := x.c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("list-")})
		if err != nil || len(out.QueueUrls) != 2 || !strings.Contains(strings.Join(out.QueueUrls, " "), a) || !strings.Contains(strings.Join(out.QueueUrls, " "), b) {
			t.Errorf("ListQueues list-: %v, %v", out, err)
		}
		mustSend(t, ctx, x.c, b, "x")
		if _, err := x.c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ctx, x.c, b); len(got) != 0 {
			t.Errorf("after PurgeQueue: %v", bodies(got))
		}
		if _, err := x.c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(a)}); err != nil {
			t.Fatal(err)
		}
		_, err = x.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("list-a")})
		wantCode(t, "GetQueueUrl of a deleted queue", err, "AWS.SimpleQueueService.NonExistentQueue")
	}},
}

// simTarget is the emulator on a manual clock with an SQS client.
func simTarget(t *testing.T) (*env, sqsTarget) {
	e := newEnv(t)
	return e, sqsTarget{c: sqs.NewFromConfig(e.cfg), later: e.advance, polling: func() { waitPolling(t, e.sim, 1) }}
}

// waitPolling returns once n long polls wait in s, failing after 5 s.
func waitPolling(t testing.TB, s *sim.Sim, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.WaitingPolls() < n {
		select {
		case <-deadline:
			t.Fatalf("%d long polls waiting after 5 s, want %d", s.WaitingPolls(), n)
		case <-tick.C:
		}
	}
}

func TestSQS_Conformance(t *testing.T) {
	for _, tc := range sqsConformance {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, x := simTarget(t)
			tc.run(t, e.ctx, x)
		})
	}
}

// The cases below are the emulator's own: moto differs or has no equivalent.

// A handle from before a redelivery is accepted and deletes nothing (the API reference: "If you
// use an old ReceiptHandle, the request will succeed, but the message might not be deleted";
// the emulator picks "not"). moto deletes the message.
func TestSQS_StaleReceiptHandle(t *testing.T) {
	e, x := simTarget(t)
	url := mustQueue(t, e.ctx, x.c, "stale", map[string]string{"VisibilityTimeout": "10"})
	mustSend(t, e.ctx, x.c, url, "m")
	first := receive(t, e.ctx, x.c, url)
	e.advance(11 * time.Second)
	second := receive(t, e.ctx, x.c, url)
	if _, err := x.c.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage with the first handle: %v", err)
	}
	if a := queueAttrs(t, e.ctx, x.c, url, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible); a["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Errorf("the stale handle deleted the message: %v", a)
	}
	_, err := x.c.ChangeMessageVisibility(e.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0})
	wantCode(t, "ChangeMessageVisibility with the stale handle", err, "InvalidParameterValue")
	if _, err := x.c.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if a := queueAttrs(t, e.ctx, x.c, url, sqstypes.QueueAttributeNameAll); a["ApproximateNumberOfMessagesNotVisible"] != "0" || a["ApproximateNumberOfMessages"] != "0" {
		t.Errorf("the latest handle did not delete the message: %v", a)
	}
	// A handle of another queue is not one of this queue's.
	other := mustQueue(t, e.ctx, x.c, "other", nil)
	_, err = x.c.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(other), ReceiptHandle: second[0].ReceiptHandle})
	wantCode(t, "DeleteMessage with another queue's handle", err, "ReceiptHandleIsInvalid")
}

// On a manual clock a long poll ends when the clock passes WaitTimeSeconds, and a message whose
// visibility timeout runs out while it waits is received.
func TestSQS_LongPollFollowsTheManualClock(t *testing.T) {
	e, x := simTarget(t)
	url := mustQueue(t, e.ctx, x.c, "manual", map[string]string{"VisibilityTimeout": "5"})
	done := make(chan []sqstypes.Message, 1)
	poll := func() {
		go func() {
			done <- receive(t, e.ctx, x.c, url, func(in *sqs.ReceiveMessageInput) { in.WaitTimeSeconds = 20 })
		}()
		waitPolling(t, e.sim, 1)
	}
	poll()
	e.advance(20 * time.Second)
	select {
	case got := <-done:
		if len(got) != 0 {
			t.Errorf("received %v from an empty queue", bodies(got))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not end when the manual clock passed its 20 s")
	}
	mustSend(t, e.ctx, x.c, url, "in flight")
	if got := receive(t, e.ctx, x.c, url); len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	poll()
	e.advance(5 * time.Second)
	select {
	case got := <-done:
		if len(got) != 1 || got[0].Attributes["ApproximateReceiveCount"] != "2" {
			t.Errorf("long poll over a visibility timeout: %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not receive the message whose visibility timeout ran out")
	}
}

// A long poll whose client goes away returns at once, holds no lock, and leaves the next
// message for the next receive.
func TestSQS_LongPollEndsWithTheRequest(t *testing.T) {
	e, x := simTarget(t)
	url := mustQueue(t, e.ctx, x.c, "cancel", nil)
	ctx, cancel := context.WithCancel(e.ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := x.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		errc <- err
	}()
	waitPolling(t, e.sim, 1)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled long poll: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll outlived its request")
	}
	mustSend(t, e.ctx, x.c, url, "kept")
	if got := receive(t, e.ctx, x.c, url); len(got) != 1 || got[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("after the cancelled poll: %v", got)
	}
}

// On the wall clock, a long poll waits WaitTimeSeconds of real time.
func TestSQS_LongPollOnTheWallClock(t *testing.T) {
	s, url := cliSim(t)
	c := sqs.NewFromConfig(sdkConfig(t, url, 1))
	ctx := context.Background()
	q := mustQueue(t, ctx, c, "wall", nil)
	start := time.Now()
	got := receive(t, ctx, c, q, func(in *sqs.ReceiveMessageInput) { in.WaitTimeSeconds = 1 })
	if took := time.Since(start); len(got) != 0 || took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("%d messages after %s, want none after about 1 s", len(got), took)
	}
	if n := s.CountCalls(sim.ServiceSQS, "ReceiveMessage"); n != 1 {
		t.Errorf("%d ReceiveMessage calls logged, want 1", n)
	}
}

func TestSQS_Refusals(t *testing.T) {
	e, x := simTarget(t)
	ctx := e.ctx
	_, err := x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs.fifo"), Attributes: map[string]string{"FifoQueue": "true"}})
	wantCode(t, "a FIFO queue", err, "AWS.SimpleQueueService.UnsupportedOperation")
	_, err = x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "43201"}})
	wantCode(t, "VisibilityTimeout 43201", err, "InvalidAttributeValue")
	_, err = x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"QueueArn": "x"}})
	wantCode(t, "a read-only attribute", err, "InvalidAttributeName")
	_, err = x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"),
		Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":3}`}})
	wantCode(t, "a dead-letter queue that does not exist", err, "InvalidParameterValue")
	url := mustQueue(t, ctx, x.c, "q", nil)
	_, err = x.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("")})
	wantCode(t, "an empty body", err, "MissingParameter")
	_, err = x.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("bad \x01")})
	wantCode(t, "a control character", err, "InvalidMessageContents")
	_, err = x.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), DelaySeconds: 901})
	wantCode(t, "DelaySeconds 901", err, "InvalidParameterValue")
	if _, err := x.c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	_, err = x.c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	wantCode(t, "a second purge within 60 s", err, "AWS.SimpleQueueService.PurgeQueueInProgress")
	if _, err := x.c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	_, err = x.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q")})
	wantCode(t, "a queue of a name deleted 0 s ago", err, "AWS.SimpleQueueService.QueueDeletedRecently")
	e.advance(time.Minute)
	mustQueue(t, ctx, x.c, "q", nil)
	// Receiving from a queue in another account's URL.
	_, err = x.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(strings.Replace(url, "123456789012", "210987654321", 1))})
	wantCode(t, "another account's queue", err, "AWS.SimpleQueueService.NonExistentQueue")
}

// SetQueueAttributes changes a queue; the change shows in GetQueueAttributes and in what
// CreateQueue considers the same attributes.
func TestSQS_SetQueueAttributes(t *testing.T) {
	e, x := simTarget(t)
	url := mustQueue(t, e.ctx, x.c, "set", nil)
	if _, err := x.c.SetQueueAttributes(e.ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"VisibilityTimeout": "0090"}}); err != nil {
		t.Fatal(err)
	}
	if a := queueAttrs(t, e.ctx, x.c, url, sqstypes.QueueAttributeNameVisibilityTimeout); a["VisibilityTimeout"] != "90" {
		t.Errorf("VisibilityTimeout %q", a["VisibilityTimeout"])
	}
	if again := mustQueue(t, e.ctx, x.c, "set", map[string]string{"VisibilityTimeout": "90"}); again != url {
		t.Errorf("CreateQueue with the new value: %s", again)
	}
}

// SQS calls are logged and can be faulted, by queue.
func TestSQS_CallLogAndFaults(t *testing.T) {
	e, x := simTarget(t)
	url := mustQueue(t, e.ctx, x.c, "faulty", nil)
	mustQueue(t, e.ctx, x.c, "fine", nil)
	if err := e.sim.AddFault(sim.Fault{Service: sim.ServiceSQS, Operation: "SendMessage", Resource: "faulty", ErrorCode: "RequestThrottled", Count: 1}); err != nil {
		t.Fatal(err)
	}
	fine, _ := x.c.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("fine")})
	mustSend(t, e.ctx, x.c, aws.ToString(fine.QueueUrl), "not faulted")
	x1 := sqs.NewFromConfig(sdkConfig(t, e.url, 1))
	_, err := x1.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("faulted")})
	wantCode(t, "a faulted SendMessage", err, "RequestThrottled")
	calls := e.sim.Calls()
	if calls.Counts["sqs.SendMessage!RequestThrottled"] != 1 || calls.Counts["sqs.SendMessage"] != 2 {
		t.Errorf("counts %v", calls.Counts)
	}
	last := calls.Calls[len(calls.Calls)-1]
	if last.Resource != "faulty" || last.Operation != "SendMessage" {
		t.Errorf("last call %+v", last)
	}
}

// Reset forgets the queues.
func TestSQS_Reset(t *testing.T) {
	e, x := simTarget(t)
	mustQueue(t, e.ctx, x.c, "r", nil)
	e.sim.Reset()
	_, err := x.c.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("r")})
	wantCode(t, "after Reset", err, "AWS.SimpleQueueService.NonExistentQueue")
}

// The AWS CLI's SQS commands work against the emulator.
func TestSQS_AWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed (no `aws` on PATH); CI installs it. Skipping the independent-client check.")
	}
	_, url := cliSim(t)
	env := clientEnv(t, url)
	run := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(awsPath, append([]string{"--endpoint-url", url, "--output", "json", "sqs"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws sqs %v: %v\n%s", args, err, out)
		}
		var v map[string]any
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("aws sqs %v: %v\n%s", args, err, out)
			}
		}
		return v
	}
	q := run("create-queue", "--queue-name", "cli", "--attributes", "VisibilityTimeout=60")["QueueUrl"].(string)
	run("send-message", "--queue-url", q, "--message-body", "from the cli")
	got := run("receive-message", "--queue-url", q, "--wait-time-seconds", "1", "--attribute-names", "All")
	msgs, _ := got["Messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["Body"] != "from the cli" {
		t.Fatalf("receive-message: %v", got)
	}
	m := msgs[0].(map[string]any)
	if m["Attributes"].(map[string]any)["ApproximateReceiveCount"] != "1" {
		t.Errorf("attributes %v", m["Attributes"])
	}
	run("delete-message", "--queue-url", q, "--receipt-handle", m["ReceiptHandle"].(string))
	attrs := run("get-queue-attributes", "--queue-url", q, "--attribute-names", "All")["Attributes"].(map[string]any)
	if attrs["VisibilityTimeout"] != "60" || attrs["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("get-queue-attributes: %v", attrs)
	}
	cmd := exec.Command(awsPath, "--endpoint-url", url, "sqs", "get-queue-url", "--queue-name", "missing")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "NonExistentQueue") {
		t.Errorf("get-queue-url of a missing queue: %v\n%s", err, out)
	}
}
