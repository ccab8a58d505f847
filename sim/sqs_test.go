package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deskpilot/deskpilot/sim"
)

// sqsCase is one step of the SQS conformance table, run against the emulator here and against
// moto in moto_sqs_test.go: both must agree.
func sqsConformance(t *testing.T, ctx context.Context, c *sqs.Client, advance func(time.Duration)) {
	t.Helper()
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("conf-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dlqArn, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := dlqArn.Attributes["QueueArn"]
	if !strings.HasPrefix(arn, "arn:aws:sqs:us-east-1:") || !strings.HasSuffix(arn, ":conf-dlq") {
		t.Errorf("QueueArn %q", arn)
	}
	attrs := map[string]string{"VisibilityTimeout": "2", "RedrivePolicy": `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":"2"}`}
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("conf"), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent with the same attributes.
	if again, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("conf"), Attributes: attrs}); err != nil || aws.ToString(again.QueueUrl) != aws.ToString(q.QueueUrl) {
		t.Errorf("CreateQueue again = %v, %v; want the same URL", again, err)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("conf"), Attributes: map[string]string{"VisibilityTimeout": "7"}}); errorCode(err) != "QueueAlreadyExists" {
		t.Errorf("CreateQueue with other attributes: %v, want QueueAlreadyExists", err)
	}
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("conf")})
	if err != nil || aws.ToString(got.QueueUrl) != aws.ToString(q.QueueUrl) {
		t.Errorf("GetQueueUrl = %v, %v", got, err)
	}
	if _, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")}); errorCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("GetQueueUrl of a missing queue: %v (code %q), want AWS.SimpleQueueService.NonExistentQueue", err, errorCode(err))
	}
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(sent.MD5OfMessageBody) != "5d41402abc4b2a76b9719d911017c592" {
		t.Errorf("MD5OfMessageBody %q", aws.ToString(sent.MD5OfMessageBody))
	}
	recv := func() []sqstypes.Message {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	first := recv()
	if len(first) != 1 || aws.ToString(first[0].Body) != "hello" || aws.ToString(first[0].MessageId) != aws.ToString(sent.MessageId) ||
		first[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("first receive %+v", first)
	}
	if again := recv(); len(again) != 0 {
		t.Errorf("a message in flight was received again: %+v", again)
	}
	advance(3 * time.Second)
	second := recv()
	if len(second) != 1 || second[0].Attributes["ApproximateReceiveCount"] != "2" || aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) {
		t.Fatalf("after the visibility timeout: %+v", second)
	}
	// A third receive would exceed maxReceiveCount 2: the message goes to the dead-letter queue.
	advance(3 * time.Second)
	if third := recv(); len(third) != 0 {
		t.Errorf("received %d times, past maxReceiveCount 2: %+v", 3, third)
	}
	dead, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl})
	if err != nil || len(dead.Messages) != 1 || aws.ToString(dead.Messages[0].Body) != "hello" {
		t.Errorf("dead-letter queue: %+v, %v", dead, err)
	}
	// Delete and visibility.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("bye")}); err != nil {
		t.Fatal(err)
	}
	m := recv()
	if len(m) != 1 {
		t.Fatalf("receive bye: %+v", m)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Errorf("ChangeMessageVisibility: %v", err)
	}
	m = recv()
	if len(m) != 1 {
		t.Fatalf("a message made visible again was not received: %+v", m)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m[0].ReceiptHandle}); err != nil {
		t.Errorf("DeleteMessage: %v", err)
	}
	advance(3 * time.Second)
	if left := recv(); len(left) != 0 {
		t.Errorf("a deleted message came back: %+v", left)
	}
	if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 11}); err == nil {
		t.Error("MaxNumberOfMessages 11 accepted")
	}
}

func sqsEnv(t *testing.T) (*env, *sqs.Client) {
	e := newEnv(t)
	return e, sqs.NewFromConfig(e.cfg)
}

func TestSQS_Conformance(t *testing.T) {
	e, c := sqsEnv(t)
	sqsConformance(t, e.ctx, c, e.advance)
}

func TestSQS_LongPollWakesOnSend(t *testing.T) {
	s := sim.New(sim.Options{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := sqs.NewFromConfig(sdkConfig(t, srv.URL, 1))
	ctx := context.Background()
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("poll")})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []sqstypes.Message, 1)
	go func() {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		got <- out.Messages
	}()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("wake")}); err != nil {
		t.Fatal(err)
	}
	// The poll may have begun before or after the send; either way it returns the message
	// rather than waiting out its 20 s (the test's own timeout would catch a wait).
	select {
	case msgs := <-got:
		if len(msgs) != 1 || aws.ToString(msgs[0].Body) != "wake" {
			t.Errorf("long poll returned %+v", msgs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll did not return the message sent while it waited")
	}
}

func TestEvents_TagCallsReachTheTargets(t *testing.T) {
	e, c := sqsEnv(t)
	e.image("img-1", "")
	url, err := e.sim.CreateQueue("deskpilot-events")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) int {
		resp, err := http.Post(e.url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/_sim/events/targets", `{"QueueUrl":"`+e.url+`/123456789012/missing"}`); code != http.StatusBadRequest {
		t.Errorf("a missing queue as target: %d, want 400", code)
	}
	if code := post("/_sim/events/targets", `{"QueueUrl":"`+url+`"}`); code != http.StatusOK {
		t.Fatalf("POST /_sim/events/targets: %d", code)
	}
	arn := "arn:aws:appstream:us-east-1:123456789012:image/img-1"
	if _, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"FleetName": "fleet-a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn + "-missing"), Tags: map[string]string{"FleetName": "fleet-a"}}); err == nil {
		t.Fatal("tagging a missing image worked")
	}
	if code := post("/_sim/events/drop", `{"Count":1}`); code != http.StatusOK {
		t.Fatalf("POST /_sim/events/drop: %d", code)
	}
	if _, err := e.as.UntagResource(e.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"FleetName"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.UntagResource(e.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"Other"}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 2 {
		t.Fatalf("%d events, want 2 (the tag and the second untag; the failed call is filtered, the first untag dropped)", len(out.Messages))
	}
	var ev struct {
		DetailType string `json:"detail-type"`
		Source     string
		Account    string
		Region     string
		Detail     struct {
			EventName         string
			EventSource       string
			RequestParameters map[string]any
		}
	}
	for i, want := range []string{"TagResource", "UntagResource"} {
		if err := json.Unmarshal([]byte(aws.ToString(out.Messages[i].Body)), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.DetailType != "AWS API Call via CloudTrail" || ev.Source != "aws.appstream" || ev.Account != "123456789012" || ev.Region != "us-east-1" ||
			ev.Detail.EventName != want || ev.Detail.EventSource != "appstream.amazonaws.com" || ev.Detail.RequestParameters["resourceArn"] != arn {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	st := e.sim.Targets()
	if st.Delivered != 2 || st.Dropped != 1 || st.DropNext != 0 || len(st.Targets) != 1 {
		t.Errorf("targets %+v", st)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.url+"/_sim/events/targets", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /_sim/events/targets: %v", err)
	}
	if len(e.sim.Targets().Targets) != 0 {
		t.Error("targets not cleared")
	}
}

// The AWS CLI's SQS commands work against the emulator (JSON protocol, as CLI v2 speaks it).
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
		if len(out) > 0 {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("aws sqs %v: %v\n%s", args, err, out)
			}
		}
		return v
	}
	q := run("create-queue", "--queue-name", "cli")["QueueUrl"].(string)
	run("send-message", "--queue-url", q, "--message-body", "from the cli")
	got := run("receive-message", "--queue-url", q, "--wait-time-seconds", "1")
	msgs, _ := got["Messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["Body"] != "from the cli" {
		t.Fatalf("receive-message: %v", got)
	}
	run("delete-message", "--queue-url", q, "--receipt-handle", msgs[0].(map[string]any)["ReceiptHandle"].(string))
}
