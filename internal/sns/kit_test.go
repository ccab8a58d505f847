package sns

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// now is the tests' clock: five minutes after the sample alarm's state change.
var now = time.Date(2024, 5, 1, 10, 10, 0, 0, time.UTC)

func clock() time.Time { return now }

const (
	testTopic = "arn:aws:sns:us-east-1:123456789012:desk-alarms"
	wsID      = "ws-dk1xzr417"
)

// sampleAlarm is the alarm document of aws-semantics.md §5.2, verbatim.
const sampleAlarm = `{
  "AlarmName": "ws-unhealthy-ws-dk1xzr417",
  "AlarmDescription": "WorkSpace unhealthy",
  "AWSAccountId": "123456789012",
  "AlarmConfigurationUpdatedTimestamp": "2024-05-01T09:00:00.000+0000",
  "NewStateValue": "ALARM",
  "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (01/05/24 10:04:00)] was greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).",
  "StateChangeTime": "2024-05-01T10:05:12.345+0000",
  "Region": "US East (N. Virginia)",
  "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ws-unhealthy-ws-dk1xzr417",
  "OldStateValue": "OK",
  "OKActions": [],
  "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:desk-alarms"],
  "InsufficientDataActions": [],
  "Trigger": {
    "MetricName": "Unhealthy",
    "Namespace": "AWS/WorkSpaces",
    "StatisticType": "Statistic",
    "Statistic": "MAXIMUM",
    "Unit": null,
    "Dimensions": [ { "value": "ws-dk1xzr417", "name": "WorkspaceId" } ],
    "Period": 300,
    "EvaluationPeriods": 1,
    "DatapointsToAlarm": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "Threshold": 1.0,
    "TreatMissingData": "missing",
    "EvaluateLowSampleCountPercentile": ""
  }
}`

// mathAlarm is a metric-math alarm over two WorkSpaces' SessionDisconnect.
const mathAlarm = `{
  "AlarmName": "desk-disconnects",
  "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:desk-disconnects",
  "NewStateValue": "ALARM",
  "OldStateValue": "INSUFFICIENT_DATA",
  "StateChangeTime": "2024-05-01T10:05:12.345+0000",
  "Region": "US East (N. Virginia)",
  "Trigger": {
    "Period": 60,
    "EvaluationPeriods": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "Threshold": 1.0,
    "TreatMissingData": "notBreaching",
    "Metrics": [
      {"Expression": "m1+m2", "Id": "e1", "Label": "disconnects", "ReturnData": true},
      {"Id": "m1", "ReturnData": false, "MetricStat": {"Metric": {"Dimensions": [{"value": "ws-aaaaaaaa1", "name": "WorkspaceId"}], "MetricName": "SessionDisconnect", "Namespace": "AWS/WorkSpaces"}, "Period": 60, "Stat": "Sum"}},
      {"Id": "m2", "ReturnData": false, "MetricStat": {"Metric": {"Dimensions": [{"name": "WorkspaceId", "value": "ws-bbbbbbbb2"}], "MetricName": "SessionDisconnect", "Namespace": "AWS/WorkSpaces"}, "Period": 60, "Stat": "Sum", "Unit": "Count"}},
      {"Id": "m3", "ReturnData": false, "MetricStat": {"Metric": {"Dimensions": [{"value": "ws-aaaaaaaa1", "name": "WorkspaceId"}], "MetricName": "SessionDisconnect", "Namespace": "AWS/WorkSpaces"}, "Period": 60, "Stat": "Sum"}}
    ]
  }
}`

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

// testKey is an RSA key shared by all tests; generating one takes a while.
func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		key = k
	})
	return key
}

// certPEM is a self-signed certificate (SHA-256) for k, valid in [from, to].
func certPEM(t testing.TB, k *rsa.PrivateKey, from, to time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
		NotBefore:    from,
		NotAfter:     to,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// files is an HTTP server of fixed files that counts requests per path. It
// stands for the SNS certificate host (and the confirmation endpoint).
type files struct {
	*httptest.Server
	mu    sync.Mutex
	body  map[string][]byte
	hits  map[string]int
	total atomic.Int64
}

func newFiles(t testing.TB, body map[string][]byte) *files {
	f := &files{body: body, hits: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.total.Add(1)
		f.mu.Lock()
		f.hits[r.URL.Path]++
		b, ok := f.body[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *files) set(path string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body[path] = b
}

func (f *files) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// sign sets m's SignatureVersion and Signature, signing with k.
func sign(t testing.TB, k *rsa.PrivateKey, m *Message, version string) {
	t.Helper()
	text, err := StringToSign(*m)
	if err != nil {
		t.Fatal(err)
	}
	var hash crypto.Hash
	var digest []byte
	switch version {
	case "1":
		d := sha1.Sum([]byte(text))
		hash, digest = crypto.SHA1, d[:]
	case "2":
		d := sha256.Sum256([]byte(text))
		hash, digest = crypto.SHA256, d[:]
	default:
		t.Fatalf("sign: version %q", version)
	}
	sig, err := rsa.SignPKCS1v15(nil, k, hash, digest)
	if err != nil {
		t.Fatal(err)
	}
	m.SignatureVersion = version
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

// notification is an unsigned alarm Notification for testTopic, sent one
// second before now.
func notification(id, alarm string) Message {
	return Message{
		Type:           TypeNotification,
		MessageID:      id,
		TopicArn:       testTopic,
		Subject:        `ALARM: "ws-unhealthy-ws-dk1xzr417" in US East (N. Virginia)`,
		hasSubject:     true,
		Message:        alarm,
		Timestamp:      now.Add(-time.Second).Format("2006-01-02T15:04:05.000Z"),
		UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + testTopic + ":c9135db0",
	}
}

// confirmation is an unsigned SubscriptionConfirmation for testTopic.
func confirmation(id, subscribeURL string) Message {
	return Message{
		Type:         TypeSubscriptionConfirmation,
		MessageID:    id,
		Token:        "2336412f37fb687f5d51e6e241d09c805a5a57b30d",
		TopicArn:     testTopic,
		Message:      "You have chosen to subscribe to the topic " + testTopic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SubscribeURL: subscribeURL,
		Timestamp:    now.Add(-time.Second).Format("2006-01-02T15:04:05.000Z"),
	}
}

// encode is the JSON body SNS would deliver for m: AWS's key spellings,
// Subject only if present, empty optional fields left out.
func encode(m Message) []byte {
	obj := map[string]string{"Type": m.Type, "Message": m.Message}
	opt := map[string]string{
		"MessageId": m.MessageID, "Token": m.Token, "TopicArn": m.TopicArn, "Timestamp": m.Timestamp,
		"SignatureVersion": m.SignatureVersion, "Signature": m.Signature, "SigningCertURL": m.SigningCertURL,
		"SubscribeURL": m.SubscribeURL, "UnsubscribeURL": m.UnsubscribeURL,
	}
	for k, v := range opt {
		if v != "" {
			obj[k] = v
		}
	}
	if m.hasSubject || m.Subject != "" {
		obj["Subject"] = m.Subject
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return b
}

// flip changes the character at i of s to another.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'x' {
		b[i] = 'y'
	} else {
		b[i] = 'x'
	}
	return string(b)
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}
