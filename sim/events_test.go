package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/deskpilot/deskpilot/internal/tagevent"
	"github.com/deskpilot/deskpilot/sim"
)

// control calls the control API and returns the status and the decoded JSON answer.
func (e *env) control(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	status, raw := controlRaw(e.t, method, e.url+path, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s answered %q", method, path, raw)
	}
	return status, out
}

// eventQueue creates a queue and registers it as an event target through the control API.
func (e *env) eventQueue(c *sqs.Client, name string) string {
	e.t.Helper()
	url := mustQueue(e.t, e.ctx, c, name, nil)
	if code, out := e.control(http.MethodPost, "/_sim/events/targets", `{"QueueUrl": "`+url+`"}`); code != http.StatusOK {
		e.t.Fatalf("POST /_sim/events/targets: %d %v", code, out)
	}
	return url
}

func (e *env) tag(arn string, tags map[string]string) error {
	_, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
	return err
}

// events receives what the queue holds and parses each message as deskpilot does.
func (e *env) events(c *sqs.Client, url string) ([]tagevent.Event, []string) {
	e.t.Helper()
	msgs := receive(e.t, e.ctx, c, url)
	var evs []tagevent.Event
	var raw []string
	for _, m := range msgs {
		ev, err := tagevent.Parse([]byte(aws.ToString(m.Body)))
		if err != nil {
			e.t.Fatalf("tagevent.Parse refuses the emulator's event: %v\n%s", err, aws.ToString(m.Body))
		}
		evs = append(evs, ev)
		raw = append(raw, aws.ToString(m.Body))
	}
	return evs, raw
}

func TestEvents_TagAndUntagParse(t *testing.T) {
	e := newEnv(t)
	c := sqs.NewFromConfig(e.cfg)
	arn := e.image("office-2026-12", "")
	url := e.eventQueue(c, "deskpilot-events")

	tagOut, err := e.as.TagResource(e.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn),
		Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.UntagResource(e.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"ScaleImmediately"}}); err != nil {
		t.Fatal(err)
	}
	evs, raw := e.events(c, url)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	want := []struct {
		name string
		keys []string
	}{{tagevent.TagResource, []string{"FleetName", "ScaleImmediately"}}, {tagevent.UntagResource, []string{"ScaleImmediately"}}}
	for i, ev := range evs {
		if ev.Name != want[i].name || ev.Image != "office-2026-12" || !slices.Equal(ev.Keys, want[i].keys) || ev.Failed != "" ||
			ev.Account != "123456789012" || ev.Region != "us-east-1" || ev.ResourceARN != arn || !ev.Time.Equal(epoch) || !ev.Concerns(nil) {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	if evs[0].ID == evs[1].ID || evs[0].CloudTrailID == evs[0].ID || !uuidRE.MatchString(evs[0].ID) || !uuidRE.MatchString(evs[0].CloudTrailID) {
		t.Errorf("ids %s/%s and %s/%s", evs[0].ID, evs[0].CloudTrailID, evs[1].ID, evs[1].CloudTrailID)
	}

	// The rest of the document, as EventBridge sends it.
	var doc struct {
		Version    string   `json:"version"`
		DetailType string   `json:"detail-type"`
		Source     string   `json:"source"`
		Time       string   `json:"time"`
		Resources  []string `json:"resources"`
		Detail     struct {
			EventVersion string `json:"eventVersion"`
			UserIdentity struct {
				Type, PrincipalID, ARN, AccountID, AccessKeyID, UserName string
			} `json:"userIdentity"`
			EventTime          string          `json:"eventTime"`
			EventSource        string          `json:"eventSource"`
			AWSRegion          string          `json:"awsRegion"`
			SourceIPAddress    string          `json:"sourceIPAddress"`
			UserAgent          string          `json:"userAgent"`
			RequestParameters  json.RawMessage `json:"requestParameters"`
			ResponseElements   json.RawMessage `json:"responseElements"`
			RequestID          string          `json:"requestID"`
			ReadOnly           *bool           `json:"readOnly"`
			EventType          string          `json:"eventType"`
			ManagementEvent    *bool           `json:"managementEvent"`
			RecipientAccountID string          `json:"recipientAccountId"`
			EventCategory      string          `json:"eventCategory"`
			ErrorCode          *string         `json:"errorCode"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(raw[0]), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.Detail
	who, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	requestID, _ := awsmiddleware.GetRequestIDMetadata(tagOut.ResultMetadata)
	switch {
	case doc.Version != "0" || doc.DetailType != "AWS API Call via CloudTrail" || doc.Source != "aws.appstream" || doc.Time != "2026-11-22T09:00:00Z" ||
		doc.Resources == nil || len(doc.Resources) != 0:
		t.Errorf("envelope %s", raw[0])
	case d.EventVersion != "1.08" || d.EventTime != doc.Time || d.EventSource != "appstream.amazonaws.com" || d.AWSRegion != "us-east-1" ||
		d.EventType != "AwsApiCall" || d.ReadOnly == nil || *d.ReadOnly || d.ManagementEvent == nil || !*d.ManagementEvent ||
		d.RecipientAccountID != "123456789012" || d.EventCategory != "Management" || string(d.ResponseElements) != "null" || d.ErrorCode != nil:
		t.Errorf("detail %s", raw[0])
	case d.UserIdentity.Type != "IAMUser" || d.UserIdentity.ARN != aws.ToString(who.Arn) || d.UserIdentity.PrincipalID != aws.ToString(who.UserId) ||
		d.UserIdentity.AccountID != "123456789012" || d.UserIdentity.AccessKeyID != "AKIDEXAMPLE" || d.UserIdentity.UserName != "deskpilot-sim":
		t.Errorf("userIdentity %+v, STS says %s %s", d.UserIdentity, aws.ToString(who.Arn), aws.ToString(who.UserId))
	case d.SourceIPAddress != "127.0.0.1" || !strings.Contains(d.UserAgent, "aws-sdk-go-v2") || d.RequestID != requestID || requestID == "":
		t.Errorf("caller %s %q, request %s (the call's: %s)", d.SourceIPAddress, d.UserAgent, d.RequestID, requestID)
	}
	var params map[string]any
	_ = json.Unmarshal(d.RequestParameters, &params)
	if params["resourceArn"] != arn || len(params) != 2 || params["tags"].(map[string]any)["FleetName"] != "fleet-a/fleet-b" {
		t.Errorf("requestParameters %s", d.RequestParameters)
	}
	if !strings.Contains(raw[1], `"requestParameters":{"resourceArn":"`+arn+`","tagKeys":["ScaleImmediately"]}`) {
		t.Errorf("UntagResource requestParameters: %s", raw[1])
	}
	// The queue received them as EventBridge's messages.
	m := receive(t, e.ctx, c, url)
	if len(m) != 0 {
		t.Errorf("%d messages left", len(m))
	}
}

// A failed call is recorded as CloudTrail records it, with errorCode and errorMessage, and
// reaches the targets of the control API (a rule with the bootstrap's pattern would drop it:
// TestCloudFormation_Bootstrap).
func TestEvents_FailedCallsCarryTheirError(t *testing.T) {
	e := newEnv(t)
	c := sqs.NewFromConfig(e.cfg)
	url := e.eventQueue(c, "events")
	missing := "arn:aws:appstream:us-east-1:123456789012:image/no-such-image"
	if err := e.tag(missing, map[string]string{"FleetName": "f"}); errorCode(err) != "ResourceNotFoundException" {
		t.Fatalf("tagging a missing image: %v", err)
	}
	evs, raw := e.events(c, url)
	if len(evs) != 1 || evs[0].Failed != "ResourceNotFoundException" || evs[0].Image != "no-such-image" || evs[0].Concerns(nil) {
		t.Fatalf("events %+v", evs)
	}
	if !strings.Contains(raw[0], `"errorCode":"ResourceNotFoundException","errorMessage":"`) {
		t.Errorf("no errorCode/errorMessage: %s", raw[0])
	}
}

func TestEvents_Drop(t *testing.T) {
	e := newEnv(t)
	c := sqs.NewFromConfig(e.cfg)
	arn := e.image("img-1", "")
	// Without a target an event is lost anyway: it does not use up a drop.
	if code, _ := e.control(http.MethodPost, "/_sim/events/drop", `{"Count": 1}`); code != http.StatusOK {
		t.Fatalf("POST /_sim/events/drop: %d", code)
	}
	if err := e.tag(arn, map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	url := e.eventQueue(c, "events")
	if err := e.tag(arn, map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.tag(arn, map[string]string{"c": "3"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := e.events(c, url)
	if len(evs) != 1 || !slices.Equal(evs[0].Keys, []string{"c"}) {
		t.Errorf("events %+v, want only the tag of c (b's was dropped)", evs)
	}
	_, out := e.control(http.MethodGet, "/_sim/events/targets", "")
	if out["Dropped"] != 1.0 || out["DropNext"] != 0.0 || out["Delivered"] != 1.0 {
		t.Errorf("GET /_sim/events/targets: %v", out)
	}
	e.sim.DropEvents(2)
	if got := e.sim.EventTargets(); got.DropNext != 2 {
		t.Errorf("DropNext %d after DropEvents(2)", got.DropNext)
	}
	for _, bad := range []string{`{"Count": 0}`, `{"Count": "x"}`, `{}`, ``} {
		if code, _ := e.control(http.MethodPost, "/_sim/events/drop", bad); code != http.StatusBadRequest {
			t.Errorf("POST /_sim/events/drop %s: %d, want 400", bad, code)
		}
	}
}

func TestEvents_TargetsControlAPI(t *testing.T) {
	e := newEnv(t)
	c := sqs.NewFromConfig(e.cfg)
	url := mustQueue(t, e.ctx, c, "events", nil)
	for _, tc := range []struct{ body, want string }{
		{`{"QueueUrl": "` + e.url + `/123456789012/missing"}`, "no SQS queue"},
		{`{"QueueUrl": ""}`, "QueueUrl is required"},
		{`{"Queue": "x"}`, "malformed JSON body"},
		{`not json`, "malformed JSON body"},
	} {
		code, out := e.control(http.MethodPost, "/_sim/events/targets", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(out["Error"].(string), tc.want) {
			t.Errorf("POST %s: %d %v, want 400 %q", tc.body, code, out, tc.want)
		}
	}
	for range 2 { // idempotent
		if code, out := e.control(http.MethodPost, "/_sim/events/targets", `{"QueueUrl": "`+url+`"}`); code != http.StatusOK {
			t.Fatalf("POST: %d %v", code, out)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/_sim/events/targets", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var compact bytes.Buffer
	_ = json.Compact(&compact, raw)
	if want := `{"Targets":[{"QueueUrl":"` + url + `"}],"Delivered":0,"Dropped":0,"DropNext":0}`; compact.String() != want {
		t.Errorf("GET /_sim/events/targets = %s, want %s", compact.String(), want)
	}
	if code, out := e.control(http.MethodDelete, "/_sim/events/targets", ""); code != http.StatusOK || len(out["Targets"].([]any)) != 0 {
		t.Errorf("DELETE: %d %v", code, out)
	}
	// A path alone names a queue too (the seed's EventQueues register that way).
	if err := e.sim.AddEventTarget("/123456789012/events"); err != nil {
		t.Errorf("AddEventTarget by path: %v", err)
	}
	e.sim.Reset()
	if got := e.sim.EventTargets(); len(got.Targets) != 0 {
		t.Errorf("targets after Reset: %+v", got)
	}
}

// A long poll on a target queue returns as soon as an event is delivered.
func TestEvents_LongPollWakesOnAnEvent(t *testing.T) {
	e := newEnv(t)
	c := sqs.NewFromConfig(e.cfg)
	arn := e.image("img-1", "")
	url := e.eventQueue(c, "events")
	done := make(chan []sqstypes.Message, 1)
	go func() {
		done <- receive(t, e.ctx, c, url, func(in *sqs.ReceiveMessageInput) { in.WaitTimeSeconds = 20 })
	}()
	waitPolling(t, e.sim, 1)
	if err := e.tag(arn, map[string]string{"FleetName": "f"}); err != nil {
		t.Fatal(err)
	}
	select {
	case msgs := <-done:
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		if _, err := tagevent.Parse([]byte(aws.ToString(msgs[0].Body))); err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not see the event")
	}
}

// Seeds can make event queues (the end-to-end tests do).
func TestEvents_SeedEventQueues(t *testing.T) {
	e := newEnv(t)
	if err := e.sim.ApplySeed(sim.Seed{Images: []sim.ImageSpec{{Name: "img-1"}}, EventQueues: []string{"deskpilot-events"}}); err != nil {
		t.Fatal(err)
	}
	c := sqs.NewFromConfig(e.cfg)
	url, err := c.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("deskpilot-events")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tag("arn:aws:appstream:us-east-1:123456789012:image/img-1", map[string]string{"FleetName": "f"}); err != nil {
		t.Fatal(err)
	}
	if evs, _ := e.events(c, aws.ToString(url.QueueUrl)); len(evs) != 1 || evs[0].Image != "img-1" {
		t.Errorf("events %+v", evs)
	}
}
