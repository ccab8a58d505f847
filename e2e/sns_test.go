package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/sim"
)

const snsTopic = "arn:aws:sns:us-east-1:123456789012:workspaces-disconnect"

// snsConfig polls rarely (30 min), so that only the SNS alarm can make deskpilot notice a logoff
// quickly.
const snsConfig = `
server: {addr: "127.0.0.1:0"}
workspaces:
  reset: {enabled: true, grace: 5m, poll_interval: 30m}
  sns:
    topics: [` + snsTopic + `]
    trusted_cert_urls: ["{{SIM}}/_sim/sns/SimpleNotificationService-deskpilot-sim.pem"]
`

// capture is a second SNS subscriber that confirms itself and keeps every message it gets, so
// the test can replay and forge real ones.
type capture struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
		url := between(string(body), `"SubscribeURL":"`, `"`)
		if resp, err := http.Get(strings.ReplaceAll(url, `\u0026`, "&")); err == nil {
			resp.Body.Close()
		}
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, body)
	c.mu.Unlock()
}

func (c *capture) notification() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bodies {
		if bytes.Contains(b, []byte(`"Type":"Notification"`)) || bytes.Contains(b, []byte(`"Type": "Notification"`)) {
			return b
		}
	}
	return nil
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

func TestReset_SNSAlarmPath(t *testing.T) {
	h := newHarnessWith(t, monday, snsConfig, wsEstate())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.sim.SetBaseURL(h.url)
	cap := &capture{}
	capSrv := httptest.NewServer(cap)
	defer capSrv.Close()
	endpoint := "http://" + h.app.Addr() + "/sns"
	for _, ep := range []string{endpoint, capSrv.URL} {
		if _, err := h.sim.SubscribeSNS(sim.SNSSubscriptionSpec{TopicArn: snsTopic, Endpoint: ep}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sim.WaitDeliveries(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.sim.SNSSubscriptions() {
		if s.Status != "confirmed" {
			t.Fatalf("subscription %s to %s is %s: deskpilot did not confirm it", s.SubscriptionArn, s.Endpoint, s.Status)
		}
	}

	h.run(time.Minute) // first poll: baseline
	h.connect("ws-alice0001")
	h.run(time.Minute)
	h.disconnect("ws-alice0001") // the sim's alarm fires to both subscribers
	if err := h.sim.WaitDeliveries(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for _, d := range h.sim.SNSDeliveries() {
		if d.Type == "Notification" && d.Endpoint == endpoint && d.StatusCode != http.StatusOK {
			t.Fatalf("deskpilot answered the valid alarm with %d (%s)", d.StatusCode, d.Error)
		}
	}
	h.run(10 * time.Second)
	if recs := h.resetRecords("ws-alice0001"); len(recs) == 0 || recs[0].Outcome != "logoff" {
		t.Fatalf("the alarm did not prompt a check: records %+v", recs)
	}
	h.run(6 * time.Minute) // the grace (5 min), long before the next poll (30 min)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Fatalf("rebuilt %d times after the alarm and the grace, want 1", n)
	}

	valid := cap.notification()
	if valid == nil {
		t.Fatal("the capturing subscriber got no notification")
	}
	post := func(body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	before := len(h.resetRecords("ws-alice0001"))
	if code := post(valid); code != http.StatusOK {
		t.Errorf("replayed message answered %d, want 200 (acknowledged, no action)", code)
	}
	forged := bytes.ReplaceAll(valid, []byte("ws-alice0001"), []byte("ws-bob000001"))
	if code := post(forged); code != http.StatusForbidden {
		t.Errorf("forged message answered %d, want 403", code)
	}
	unsigned := bytes.Replace(valid, []byte(`"Signature"`), []byte(`"NotSignature"`), 1)
	if code := post(unsigned); code/100 != 4 {
		t.Errorf("unsigned message answered %d, want a 4xx", code)
	}
	if code := post([]byte("{not json")); code != http.StatusBadRequest {
		t.Errorf("malformed message answered %d, want 400", code)
	}
	h.run(10 * time.Minute)
	if after := len(h.resetRecords("ws-alice0001")); after != before {
		t.Errorf("a replayed or forged message changed the records: %d → %d", before, after)
	}
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("rebuilt %d times, want still 1", n)
	}
	if recs := h.resetRecords("ws-bob000001"); len(recs) != 0 {
		t.Errorf("the forged alarm touched bob's WorkSpace: %+v", recs)
	}
}
