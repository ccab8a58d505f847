package sim_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"

	"github.com/deskpilot/deskpilot/sim"
)

// snsSignedKeys are the members SNS signs, per message type, in order (aws-semantics.md §5.4).
var snsSignedKeys = map[string][]string{
	"Notification":             {"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"},
	"SubscriptionConfirmation": {"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"},
	"UnsubscribeConfirmation":  {"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"},
}

// verifySNS checks an SNS message the way a receiver must (aws-semantics.md §5.4), except that
// the certificate is given rather than fetched from an AWS host.
func verifySNS(msg map[string]string, certPEM []byte) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not RSA")
	}
	keys, ok := snsSignedKeys[msg["Type"]]
	if !ok {
		return fmt.Errorf("unknown Type %q", msg["Type"])
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := msg[k]; ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(msg["Signature"])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	switch msg["SignatureVersion"] {
	case "1":
		sum := sha1.Sum([]byte(b.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(b.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	return fmt.Errorf("SignatureVersion %q", msg["SignatureVersion"])
}

// received is a message an SNS endpoint got.
type received struct {
	header http.Header
	msg    map[string]string
}

// snsSink is an HTTP endpoint subscribed to the emulator. It confirms subscriptions by GETting
// the SubscribeURL (unless noConfirm), records every message, and answers notifications with
// the statuses in replies (then 200).
type snsSink struct {
	t         *testing.T
	srv       *httptest.Server
	noConfirm bool
	mu        sync.Mutex
	got       []received
	replies   []int
	block     chan struct{} // when set, notifications wait for it to close
}

func newSink(t *testing.T) *snsSink {
	k := &snsSink{t: t}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *snsSink) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var msg map[string]string
	if err := json.Unmarshal(data, &msg); err != nil {
		k.t.Errorf("sink: body %q: %v", data, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	k.got = append(k.got, received{header: r.Header.Clone(), msg: msg})
	status := http.StatusOK
	if msg["Type"] == "Notification" && len(k.replies) > 0 {
		status, k.replies = k.replies[0], k.replies[1:]
	}
	block := k.block
	k.mu.Unlock()
	if msg["Type"] == "SubscriptionConfirmation" && !k.noConfirm {
		resp, err := http.Get(msg["SubscribeURL"])
		if err != nil {
			k.t.Errorf("sink: confirm: %v", err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "<SubscriptionArn>") {
				k.t.Errorf("sink: confirm answered %d %s", resp.StatusCode, body)
			}
		}
	}
	if block != nil && msg["Type"] == "Notification" {
		<-block
	}
	w.WriteHeader(status)
}

func (k *snsSink) messages(typ string) []received {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []received
	for _, m := range k.got {
		if m.msg["Type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// subscribe subscribes the sink through the control API and waits for the confirmation to be
// delivered (and, unless noConfirm, confirmed).
func (e *env) subscribe(t *testing.T, k *snsSink, body string) sim.SNSSubscription {
	t.Helper()
	n := len(e.sim.SNSDeliveries())
	var sub sim.SNSSubscription
	if status := controlCall(t, "POST", e.url+"/_sim/sns/subscriptions", body, &sub); status != 201 {
		t.Fatalf("subscribe: %d %+v", status, sub)
	}
	e.wait(t, n+1)
	return sub
}

func (e *env) wait(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sim.WaitDeliveries(ctx, n); err != nil {
		t.Fatalf("%v; deliveries: %+v", err, e.sim.SNSDeliveries())
	}
}

func TestSNS_AlarmOnDisconnect(t *testing.T) {
	for _, version := range []string{"1", "2"} {
		t.Run("SignatureVersion "+version, func(t *testing.T) {
			e := newEnv(t)
			ws := "ws-abc123def"
			e.addWorkspace(ws)
			k := newSink(t)
			topic := "arn:aws:sns:us-east-1:123456789012:workspaces-disconnect"
			sub := e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q,"SignatureVersion":%q}`, k.srv.URL+"/sns", version))
			if sub.Status != "pending confirmation" || sub.TopicArn != topic || !strings.HasPrefix(sub.SubscriptionArn, topic+":") {
				t.Errorf("subscription: %+v", sub)
			}

			// The confirmation: headers, body, signature, and the handshake.
			confs := k.messages("SubscriptionConfirmation")
			if len(confs) != 1 {
				t.Fatalf("%d confirmations", len(confs))
			}
			c := confs[0]
			certPEM := fetchCert(t, c.msg["SigningCertURL"])
			if string(certPEM) != string(e.sim.SNSCertificatePEM()) {
				t.Error("served certificate differs from SNSCertificatePEM")
			}
			if err := verifySNS(c.msg, certPEM); err != nil {
				t.Errorf("confirmation signature: %v", err)
			}
			checkHeaders(t, c, "SubscriptionConfirmation", topic)
			if c.header.Get("Accept-Encoding") != "" || c.header.Get("X-Amz-Sns-Subscription-Arn") != "" {
				t.Errorf("unexpected headers: %v", c.header)
			}
			if c.msg["SubscribeURL"] != e.url+"/?Action=ConfirmSubscription&TopicArn="+topic+"&Token="+c.msg["Token"] || len(c.msg["Token"]) < 64 ||
				!strings.HasPrefix(c.msg["Message"], "You have chosen to subscribe to the topic "+topic+".\n") {
				t.Errorf("confirmation: %v", c.msg)
			}
			if subs := e.sim.SNSSubscriptions(); len(subs) != 1 || subs[0].Status != "confirmed" {
				t.Fatalf("after the GET on SubscribeURL: %+v", subs)
			}
			if n := e.sim.CountCalls("sns", "ConfirmSubscription"); n != 1 {
				t.Errorf("ConfirmSubscription calls: %d", n)
			}

			// A disconnect trips the alarm.
			e.must(e.sim.ConnectWorkspace(ws))
			e.advance(90 * time.Second)
			at := e.sim.Now()
			controlCall(t, "POST", e.url+"/_sim/workspaces/"+ws+"/disconnect", "", nil)
			e.wait(t, 2)
			notes := k.messages("Notification")
			if len(notes) != 1 {
				t.Fatalf("%d notifications", len(notes))
			}
			n := notes[0]
			checkHeaders(t, n, "Notification", topic)
			if got := n.header.Get("X-Amz-Sns-Subscription-Arn"); got != sub.SubscriptionArn {
				t.Errorf("subscription ARN header %q, want %q", got, sub.SubscriptionArn)
			}
			if err := verifySNS(n.msg, certPEM); err != nil {
				t.Errorf("notification signature: %v", err)
			}
			noSubject := map[string]string{}
			for key, v := range n.msg {
				if key != "Subject" {
					noSubject[key] = v
				}
			}
			if verifySNS(noSubject, certPEM) == nil {
				t.Error("the signature verifies without Subject: Subject is not signed")
			}
			wantSubject := `ALARM: "SessionDisconnect-ws-abc123def" in US East (N. Virginia)`
			if n.msg["Subject"] != wantSubject || n.msg["SignatureVersion"] != version || n.msg["TopicArn"] != topic ||
				n.msg["Timestamp"] != at.UTC().Format("2006-01-02T15:04:05.000Z") ||
				n.msg["UnsubscribeURL"] != e.url+"/?Action=Unsubscribe&SubscriptionArn="+sub.SubscriptionArn {
				t.Errorf("notification: %v", n.msg)
			}
			checkAlarm(t, n.msg["Message"], ws, topic, at)
		})
	}
}

func fetchCert(t *testing.T, certURL string) []byte {
	t.Helper()
	if !strings.HasSuffix(certURL, "/_sim/sns/SimpleNotificationService-deskpilot-sim.pem") {
		t.Errorf("SigningCertURL %q", certURL)
	}
	resp, err := http.Get(certURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", certURL, resp.StatusCode, data)
	}
	return data
}

func checkHeaders(t *testing.T, m received, typ, topic string) {
	t.Helper()
	want := map[string]string{
		"X-Amz-Sns-Message-Type": typ, "X-Amz-Sns-Message-Id": m.msg["MessageId"], "X-Amz-Sns-Topic-Arn": topic,
		"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
	}
	for h, v := range want {
		if got := m.header.Get(h); got != v || v == "" {
			t.Errorf("header %s = %q, want %q", h, got, v)
		}
	}
}

// checkAlarm checks the CloudWatch alarm document of aws-semantics.md §5.2.
func checkAlarm(t *testing.T, message, ws, topic string, at time.Time) {
	t.Helper()
	if !strings.Contains(message, `"Dimensions":[{"value":"`+ws+`","name":"WorkspaceId"}]`) {
		t.Errorf("dimensions are not lower-case, value first: %s", message)
	}
	if !strings.Contains(message, `"Threshold":1.0`) || !strings.Contains(message, "OK -> ALARM") {
		t.Errorf("threshold or reason: %s", message)
	}
	var doc struct {
		AlarmName, AWSAccountId, NewStateValue, OldStateValue, StateChangeTime, Region, AlarmArn string
		AlarmConfigurationUpdatedTimestamp, NewStateReason                                       string
		AlarmActions, OKActions                                                                  []string
		Trigger                                                                                  struct {
			MetricName, Namespace, StatisticType, Statistic, ComparisonOperator string
			Period, EvaluationPeriods                                           int
			Threshold                                                           float64
			Dimensions                                                          []map[string]string
		}
	}
	if err := json.Unmarshal([]byte(message), &doc); err != nil {
		t.Fatalf("alarm document %q: %v", message, err)
	}
	name := "SessionDisconnect-" + ws
	checks := []struct{ what, got, want string }{
		{"AlarmName", doc.AlarmName, name},
		{"AWSAccountId", doc.AWSAccountId, "123456789012"},
		{"NewStateValue", doc.NewStateValue, "ALARM"},
		{"OldStateValue", doc.OldStateValue, "OK"},
		{"StateChangeTime", doc.StateChangeTime, at.UTC().Format("2006-01-02T15:04:05.000") + "+0000"},
		{"AlarmConfigurationUpdatedTimestamp", doc.AlarmConfigurationUpdatedTimestamp, "2026-11-22T09:00:00.000+0000"},
		{"Region", doc.Region, "US East (N. Virginia)"},
		{"AlarmArn", doc.AlarmArn, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + name},
		{"AlarmActions", strings.Join(doc.AlarmActions, ","), topic},
		{"MetricName", doc.Trigger.MetricName, "SessionDisconnect"},
		{"Namespace", doc.Trigger.Namespace, "AWS/WorkSpaces"},
		{"StatisticType", doc.Trigger.StatisticType, "Statistic"},
		{"Statistic", doc.Trigger.Statistic, "SUM"},
		{"ComparisonOperator", doc.Trigger.ComparisonOperator, "GreaterThanOrEqualToThreshold"},
		{"Dimensions", fmt.Sprint(doc.Trigger.Dimensions), fmt.Sprint([]map[string]string{{"name": "WorkspaceId", "value": ws}})},
		{"datapoint", doc.NewStateReason[strings.Index(doc.NewStateReason, "[") : strings.Index(doc.NewStateReason, "]")+1],
			"[1.0 (" + at.UTC().Truncate(time.Minute).Format("02/01/06 15:04:05") + ")]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if doc.OKActions == nil || doc.Trigger.Threshold != 1 || doc.Trigger.Period != 60 || doc.Trigger.EvaluationPeriods != 1 {
		t.Errorf("alarm document: %+v", doc)
	}
}

func TestSNS_PendingSubscriptionGetsNothing(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(wsID(1))
	k := newSink(t)
	k.noConfirm = true
	sub := e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q}`, k.srv.URL))
	pub, err := e.sim.PublishAlarm(wsID(1))
	e.must(err)
	if pub.Deliveries != 0 || len(pub.MessageIds) != 0 {
		t.Errorf("publish to a pending subscription: %+v", pub)
	}
	// Subscribing again resends the confirmation, with the same ARN.
	again := e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q}`, k.srv.URL))
	if again.SubscriptionArn != sub.SubscriptionArn || len(k.messages("SubscriptionConfirmation")) != 2 {
		t.Errorf("resubscribe: %+v, %d confirmations", again, len(k.messages("SubscriptionConfirmation")))
	}
	// The SNS SDK's ConfirmSubscription (a POST form) confirms too.
	token := k.messages("SubscriptionConfirmation")[0].msg["Token"]
	client := sns.NewFromConfig(e.cfg)
	out, err := client.ConfirmSubscription(e.ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(sub.TopicArn), Token: aws.String(token)})
	if err != nil || aws.ToString(out.SubscriptionArn) != sub.SubscriptionArn {
		t.Fatalf("ConfirmSubscription: %v %v", err, out)
	}
	pub, err = e.sim.PublishAlarm(wsID(1))
	e.must(err)
	if pub.Deliveries != 1 || len(pub.MessageIds) != 1 {
		t.Errorf("publish after confirming: %+v", pub)
	}
	e.wait(t, 3)
	_, err = client.ConfirmSubscription(e.ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(sub.TopicArn), Token: aws.String("bad")})
	if code := errorCode(err); code != "InvalidParameter" {
		t.Errorf("bad token: %v", err)
	}
	_, err = client.ConfirmSubscription(e.ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:other"), Token: aws.String(token)})
	if code := errorCode(err); code != "NotFound" {
		t.Errorf("unknown topic: %v", err)
	}
}

func TestSNS_Retries(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(wsID(1))
	k := newSink(t)
	e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q}`, k.srv.URL))
	attempts := func(from int) string {
		var out []string
		for _, d := range e.sim.SNSDeliveries()[from:] {
			out = append(out, fmt.Sprintf("%d:%d:%v", d.Attempt, d.StatusCode, d.Final))
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		name    string
		replies []int
		want    string
	}{
		{"recovers", []int{500, 503}, "1:500:false 2:503:false 3:200:true"},
		{"throttled", []int{429}, "1:429:false 2:200:true"},
		{"permanent", []int{404}, "1:404:true"},
		{"gives up", []int{500, 500, 500, 500, 500}, "1:500:false 2:500:false 3:500:false 4:500:true"},
	}
	done := 1
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k.mu.Lock()
			k.replies = c.replies
			k.mu.Unlock()
			from := len(e.sim.SNSDeliveries())
			_, err := e.sim.PublishAlarm(wsID(1))
			e.must(err)
			done++
			e.wait(t, done)
			if got := attempts(from); got != c.want {
				t.Errorf("attempts %s, want %s", got, c.want)
			}
		})
	}
	last := e.sim.SNSDeliveries()
	if d := last[len(last)-1]; d.Error == "" || d.MessageId == "" || d.Endpoint != k.srv.URL || d.Type != "Notification" {
		t.Errorf("last delivery: %+v", d)
	}
	k.mu.Lock()
	k.replies = nil
	k.mu.Unlock()
	// An endpoint that does not answer at all is retried too.
	k.srv.Close()
	from := len(e.sim.SNSDeliveries())
	_, err := e.sim.PublishAlarm(wsID(1))
	e.must(err)
	e.wait(t, done+1)
	if got := e.sim.SNSDeliveries()[from:]; len(got) != 4 || got[3].StatusCode != 0 || got[3].Error == "" {
		t.Errorf("unreachable endpoint: %+v", got)
	}
}

// TestSNS_DeliveryDoesNotBlock checks that endpoints that hang hold up neither API nor control
// calls.
func TestSNS_DeliveryDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(wsID(1))
	k := newSink(t)
	e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q}`, k.srv.URL))
	block := make(chan struct{})
	k.mu.Lock()
	k.block = block
	k.mu.Unlock()
	defer func() {
		select {
		case <-block:
		default:
			close(block)
		}
	}()
	for range 10 {
		e.must(e.sim.ConnectWorkspace(wsID(1)))
		e.must(e.sim.DisconnectWorkspace(wsID(1)))
	}
	start := time.Now()
	if _, err := e.ws.DescribeWorkspaces(e.ctx, &workspaces.DescribeWorkspacesInput{}); err != nil {
		t.Fatal(err)
	}
	var subs map[string][]sim.SNSSubscription
	controlCall(t, "GET", e.url+"/_sim/sns/subscriptions", "", &subs)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("calls took %v while deliveries hang", d)
	}
	close(block)
	e.wait(t, 11)
	if n := len(k.messages("Notification")); n != 10 {
		t.Errorf("%d notifications, want 10", n)
	}
}

func TestSNS_ControlAPI(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(wsID(1))
	k := newSink(t)
	var errBody map[string]string
	for _, body := range []string{
		`{}`,
		`{"Endpoint":"ftp://example.com/x"}`,
		`{"Endpoint":"http://127.0.0.1:1/sns","SignatureVersion":"3"}`,
		`{"Endpoint":"http://127.0.0.1:1/sns","TopicArn":"not-an-arn"}`,
		`{"Endpoint":"http://127.0.0.1:1/sns","Protocol":"http"}`,
	} {
		if status := controlCall(t, "POST", e.url+"/_sim/sns/subscriptions", body, &errBody); status != 400 || errBody["Error"] == "" {
			t.Errorf("%s: %d %v", body, status, errBody)
		}
	}
	other := "arn:aws:sns:eu-central-1:123456789012:desk-alarms"
	e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q,"TopicArn":%q,"SignatureVersion":"2"}`, k.srv.URL, other))
	var list struct{ Subscriptions []sim.SNSSubscription }
	controlCall(t, "GET", e.url+"/_sim/sns/subscriptions", "", &list)
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].TopicArn != other || list.Subscriptions[0].Status != "confirmed" ||
		list.Subscriptions[0].Protocol != "http" || list.Subscriptions[0].SignatureVersion != "2" {
		t.Errorf("subscriptions: %+v", list)
	}
	var pub sim.AlarmPublication
	if status := controlCall(t, "POST", e.url+"/_sim/sns/publish-alarm", `{"WorkspaceId":"`+wsID(1)+`"}`, &pub); status != 200 || pub.Deliveries != 1 {
		t.Errorf("publish-alarm: %d %+v", status, pub)
	}
	if status := controlCall(t, "POST", e.url+"/_sim/sns/publish-alarm", `{"WorkspaceId":"ws-unknown001"}`, &errBody); status != 404 {
		t.Errorf("publish-alarm of unknown: %d %v", status, errBody)
	}
	e.wait(t, 2)
	var deliveries struct{ Deliveries []sim.SNSDelivery }
	controlCall(t, "GET", e.url+"/_sim/sns/deliveries", "", &deliveries)
	if len(deliveries.Deliveries) != 2 || deliveries.Deliveries[1].Type != "Notification" || deliveries.Deliveries[1].StatusCode != 200 {
		t.Errorf("deliveries: %+v", deliveries)
	}
	n := k.messages("Notification")[0]
	if n.msg["TopicArn"] != other || !strings.Contains(n.msg["Message"], `"AlarmActions":["`+other+`"]`) {
		t.Errorf("notification to another topic: %v", n.msg)
	}
	resp, err := http.Get(e.url + "/_sim/sns/SimpleNotificationService-deskpilot-sim.pem")
	e.must(err)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Errorf("certificate: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Unsubscribing through the UnsubscribeURL stops deliveries.
	resp, err = http.Get(n.msg["UnsubscribeURL"])
	e.must(err)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(e.sim.SNSSubscriptions()) != 0 {
		t.Errorf("unsubscribe: %d, %d subscriptions", resp.StatusCode, len(e.sim.SNSSubscriptions()))
	}
	// Reset forgets subscriptions and deliveries.
	e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q}`, k.srv.URL))
	e.sim.Reset()
	if len(e.sim.SNSSubscriptions()) != 0 || len(e.sim.SNSDeliveries()) != 0 {
		t.Error("reset kept SNS state")
	}

	// SubscribeSNS needs to know the emulator's URL.
	bare := sim.New(sim.Options{Clock: sim.NewManualClock(epoch)})
	var ce *sim.ControlError
	if _, err := bare.SubscribeSNS(sim.SNSSubscriptionSpec{Endpoint: k.srv.URL}); !errors.As(err, &ce) || ce.Status != 409 {
		t.Errorf("SubscribeSNS without a base URL: %v", err)
	}
	e.sim.SetBaseURL(e.url)
	sub, err := e.sim.SubscribeSNS(sim.SNSSubscriptionSpec{Endpoint: k.srv.URL})
	if err != nil || sub.TopicArn != "arn:aws:sns:us-east-1:123456789012:workspaces-disconnect" || sub.SignatureVersion != "1" {
		t.Errorf("SubscribeSNS: %+v %v", sub, err)
	}
	e.wait(t, 1)
}

// TestSNS_ConfirmSubscriptionGET checks the query answers of the SubscribeURL.
func TestSNS_ConfirmSubscriptionGET(t *testing.T) {
	e := newEnv(t)
	k := newSink(t)
	k.noConfirm = true
	sub := e.subscribe(t, k, fmt.Sprintf(`{"Endpoint":%q}`, k.srv.URL))
	get := func(query string) (int, string) {
		resp, err := http.Get(e.url + "/?" + query)
		e.must(err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	topic := url.QueryEscape(sub.TopicArn)
	if status, body := get("Action=ConfirmSubscription&TopicArn=" + topic + "&Token=nope"); status != 400 || !strings.Contains(body, "<Code>InvalidParameter</Code>") {
		t.Errorf("bad token: %d %s", status, body)
	}
	if status, body := get("Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:x&Token=nope"); status != 404 || !strings.Contains(body, "<Code>NotFound</Code>") {
		t.Errorf("unknown topic: %d %s", status, body)
	}
	token := k.messages("SubscriptionConfirmation")[0].msg["Token"]
	e.advance(49 * time.Hour)
	if status, body := get("Action=ConfirmSubscription&TopicArn=" + topic + "&Token=" + token); status != 400 || !strings.Contains(body, "expired") {
		t.Errorf("expired token: %d %s", status, body)
	}
	if n := e.sim.CountCalls("sns", "ConfirmSubscription"); n != 3 {
		t.Errorf("ConfirmSubscription calls %d, want 3", n)
	}
	e.must(e.sim.AddFault(sim.Fault{Service: "sns", Operation: "ConfirmSubscription", ErrorCode: "Throttled", Count: 1}))
	if status, body := get("Action=ConfirmSubscription&TopicArn=" + topic + "&Token=" + token); status != 429 || !strings.Contains(body, "<Code>Throttled</Code>") {
		t.Errorf("fault: %d %s", status, body)
	}
}
