// Package sns emulates the part of Amazon SNS that delivers to HTTP(S) endpoints: subscriptions
// with the real confirmation handshake (SubscriptionConfirmation, then ConfirmSubscription by GET
// on the SubscribeURL), signed messages in the exact HTTP delivery format, and delivery with
// retries from a small pool of goroutines that never holds the caller's locks.
//
// It knows nothing about what is published; the emulator decides (CloudWatch alarms).
package sns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Namespace is the XML namespace of SNS query responses.
const Namespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// Version is the SNS API version of query requests.
const Version = "2010-03-31"

// CertPath is where the emulator serves its signing certificate; it is the path of every
// message's SigningCertURL.
const CertPath = "/_sim/sns/SimpleNotificationService-deskpilot-sim.pem"

// Message types (the x-amz-sns-message-type header and the Type member).
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// Subscription states as the control API reports them.
const (
	StatusPending   = "pending confirmation"
	StatusConfirmed = "confirmed"
)

// tokenLifetime is how long a confirmation token is valid.
const tokenLifetime = 48 * time.Hour

var topicARNPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)

// Subscription is an HTTP(S) subscription to a topic.
type Subscription struct {
	SubscriptionArn  string
	TopicArn         string
	Protocol         string
	Endpoint         string
	SignatureVersion string
	// Status is "pending confirmation" or "confirmed".
	Status string
}

type subscription struct {
	Subscription
	token        string
	tokenExpires time.Time
	// baseURL is the emulator's URL as the subscriber reached it: SubscribeURL, SigningCertURL
	// and UnsubscribeURL point there.
	baseURL string
}

// Backend is the SNS emulation. All methods are safe for concurrent use.
type Backend struct {
	now     func() time.Time
	region  string
	client  *http.Client
	backoff time.Duration

	signOnce sync.Once
	signer   *signer
	signErr  error
	// signWith, when set, is the backend whose key signs this one's messages (ShareSigner).
	signWith *Backend

	mu   sync.Mutex
	subs []*subscription
	dq   deliveryQueue
}

// New returns an SNS emulation on the given clock.
func New(now func() time.Time, region string) *Backend {
	b := &Backend{
		now:     now,
		region:  region,
		client:  newClient(),
		backoff: retryBackoff,
	}
	b.dq.changed = make(chan struct{})
	return b
}

// Reset forgets every subscription and delivery record; deliveries under way finish without
// being recorded. The signing key is kept.
func (b *Backend) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = nil
	b.dq.reset()
}

// ShareSigner makes b sign with other's key, so that every message verifies against the one
// certificate other serves. Call it before b signs anything.
func (b *Backend) ShareSigner(other *Backend) {
	if other != b {
		b.signWith = other
	}
}

func (b *Backend) sign() (*signer, error) {
	if b.signWith != nil {
		return b.signWith.sign()
	}
	b.signOnce.Do(func() { b.signer, b.signErr = newSigner(b.now(), b.region) })
	return b.signer, b.signErr
}

// CertificatePEM returns the certificate that verifies every signature, PEM-encoded.
func (b *Backend) CertificatePEM() ([]byte, error) {
	sg, err := b.sign()
	if err != nil {
		return nil, err
	}
	return sg.certPEM, nil
}

// Subscribe adds an HTTP(S) subscription and sends it a SubscriptionConfirmation. baseURL is
// the emulator as the subscriber can reach it (scheme and host, no path). Subscribing the same
// endpoint to the same topic again returns the existing subscription and, while it is pending,
// sends the confirmation again, as SNS does. Errors are invalid arguments.
func (b *Backend) Subscribe(baseURL, topicArn, endpoint, signatureVersion string) (Subscription, error) {
	if !topicARNPattern.MatchString(topicArn) {
		return Subscription{}, fmt.Errorf("TopicArn %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", topicArn)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Subscription{}, fmt.Errorf("Endpoint %q is not an http or https URL", endpoint)
	}
	if signatureVersion != "1" && signatureVersion != "2" {
		return Subscription{}, fmt.Errorf("SignatureVersion must be \"1\" (SHA1withRSA) or \"2\" (SHA256withRSA), not %q", signatureVersion)
	}
	if _, err := url.Parse(baseURL); err != nil || baseURL == "" {
		return Subscription{}, fmt.Errorf("the emulator's own URL is unknown (%q)", baseURL)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sub := range b.subs {
		if sub.TopicArn == topicArn && sub.Endpoint == endpoint {
			if sub.Status == StatusPending {
				sub.SignatureVersion = signatureVersion
				sub.tokenExpires = b.now().Add(tokenLifetime)
				b.enqueueLocked(b.confirmation(sub))
			}
			return sub.Subscription, nil
		}
	}
	sub := &subscription{
		Subscription: Subscription{
			SubscriptionArn: topicArn + ":" + newUUID(), TopicArn: topicArn, Protocol: u.Scheme,
			Endpoint: endpoint, SignatureVersion: signatureVersion, Status: StatusPending,
		},
		token: randomHex(64), tokenExpires: b.now().Add(tokenLifetime), baseURL: baseURL,
	}
	b.subs = append(b.subs, sub)
	b.enqueueLocked(b.confirmation(sub))
	return sub.Subscription, nil
}

// Subscriptions returns every subscription in the order they were made.
func (b *Backend) Subscriptions() []Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Subscription, 0, len(b.subs))
	for _, sub := range b.subs {
		out = append(out, sub.Subscription)
	}
	return out
}

// confirmation builds the SubscriptionConfirmation for sub.
func (b *Backend) confirmation(sub *subscription) *job {
	m := &envelope{
		Type: TypeSubscriptionConfirmation, MessageId: newUUID(), Token: sub.token, TopicArn: sub.TopicArn,
		Message: "You have chosen to subscribe to the topic " + sub.TopicArn +
			".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		// AWS writes the ARN unescaped; its characters are all safe in a query string.
		SubscribeURL: sub.baseURL + "/?Action=ConfirmSubscription&TopicArn=" + sub.TopicArn + "&Token=" + sub.token,
		Timestamp:    timestamp(b.now()), SignatureVersion: sub.SignatureVersion,
		SigningCertURL: sub.baseURL + CertPath,
	}
	return &job{sub: sub.Subscription, msg: m}
}

// Publication is what publishing produced: one message per topic with confirmed subscribers.
type Publication struct {
	// MessageIds has one id per topic, shared by all its subscribers as in SNS.
	MessageIds []string
	// Deliveries is how many deliveries were queued (one per confirmed subscription).
	Deliveries int
}

// Publish sends a Notification to every confirmed subscription. build makes the subject and the
// message for a topic (an alarm names the topic it notifies); at is the message's Timestamp.
func (b *Backend) Publish(at time.Time, build func(topicArn string) (subject, message string)) Publication {
	b.mu.Lock()
	defer b.mu.Unlock()
	pub := Publication{MessageIds: []string{}}
	ids := map[string]*envelope{}
	for _, sub := range b.subs {
		if sub.Status != StatusConfirmed {
			continue
		}
		base, ok := ids[sub.TopicArn]
		if !ok {
			subject, message := build(sub.TopicArn)
			base = &envelope{Type: TypeNotification, MessageId: newUUID(), TopicArn: sub.TopicArn,
				Subject: subject, Message: message, Timestamp: timestamp(at)}
			ids[sub.TopicArn] = base
			pub.MessageIds = append(pub.MessageIds, base.MessageId)
		}
		m := *base
		m.SignatureVersion = sub.SignatureVersion
		m.SigningCertURL = sub.baseURL + CertPath
		m.UnsubscribeURL = sub.baseURL + "/?Action=Unsubscribe&SubscriptionArn=" + sub.SubscriptionArn
		b.enqueueLocked(&job{sub: sub.Subscription, msg: &m})
		pub.Deliveries++
	}
	return pub
}

// envelope is an SNS message as delivered over HTTP, members in AWS's order.
type envelope struct {
	Type             string `json:"Type"`
	MessageId        string `json:"MessageId"`
	Token            string `json:"Token,omitempty"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject,omitempty"`
	Message          string `json:"Message"`
	SubscribeURL     string `json:"SubscribeURL,omitempty"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	UnsubscribeURL   string `json:"UnsubscribeURL,omitempty"`
}

// fields returns the members that may be signed, as the receiver decodes them.
func (m *envelope) fields() map[string]string {
	f := map[string]string{"Type": m.Type, "MessageId": m.MessageId, "TopicArn": m.TopicArn, "Message": m.Message, "Timestamp": m.Timestamp}
	if m.Subject != "" {
		f["Subject"] = m.Subject
	}
	if m.Type != TypeNotification {
		f["Token"], f["SubscribeURL"] = m.Token, m.SubscribeURL
	}
	return f
}

// body marshals the envelope without HTML escaping, as SNS writes '&' in URLs literally.
func (m *envelope) body() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Action returns the SNS action a query request asks for (from the URL or the form).
func Action(r *http.Request) string {
	_ = r.ParseForm()
	return r.Form.Get("Action")
}

// ServeQuery answers the query-protocol actions a subscriber uses: ConfirmSubscription (a GET on
// the SubscribeURL, or a POST from an SDK) and Unsubscribe (a GET on the UnsubscribeURL).
func (b *Backend) ServeQuery(w http.ResponseWriter, r *http.Request) {
	action := Action(r)
	switch action {
	case "ConfirmSubscription":
		arn, err := b.confirm(r.Form.Get("TopicArn"), r.Form.Get("Token"))
		if err != nil {
			wire.WriteQueryError(w, Namespace, err)
			return
		}
		type result struct {
			SubscriptionArn string `xml:"SubscriptionArn"`
		}
		wire.WriteQuery(w, struct {
			XMLName  xml.Name `xml:"ConfirmSubscriptionResponse"`
			Xmlns    string   `xml:"xmlns,attr"`
			Result   result   `xml:"ConfirmSubscriptionResult"`
			Metadata metadata `xml:"ResponseMetadata"`
		}{Xmlns: Namespace, Result: result{arn}, Metadata: metadataOf(w)})
	case "Unsubscribe":
		if err := b.unsubscribe(r.Form.Get("SubscriptionArn")); err != nil {
			wire.WriteQueryError(w, Namespace, err)
			return
		}
		wire.WriteQuery(w, struct {
			XMLName  xml.Name `xml:"UnsubscribeResponse"`
			Xmlns    string   `xml:"xmlns,attr"`
			Metadata metadata `xml:"ResponseMetadata"`
		}{Xmlns: Namespace, Metadata: metadataOf(w)})
	default:
		wire.WriteQueryError(w, Namespace, &wire.Error{Code: "InvalidAction", Status: http.StatusBadRequest,
			Message: "The action " + action + " is not valid for this web service (deskpilot sim emulates ConfirmSubscription and Unsubscribe)."})
	}
}

type metadata struct {
	RequestID string `xml:"RequestId"`
}

func metadataOf(w http.ResponseWriter) metadata {
	return metadata{RequestID: w.Header().Get("X-Amzn-Requestid")}
}

// confirm confirms the subscription a token was issued for. Confirming again succeeds.
func (b *Backend) confirm(topicArn, token string) (string, *wire.Error) {
	if topicArn == "" || token == "" {
		return "", &wire.Error{Code: "InvalidParameter", Status: http.StatusBadRequest, Message: "Invalid parameter: TopicArn and Token are required"}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	topicKnown := false
	for _, sub := range b.subs {
		if sub.TopicArn != topicArn {
			continue
		}
		topicKnown = true
		if sub.token != token {
			continue
		}
		if sub.Status == StatusPending && b.now().After(sub.tokenExpires) {
			return "", &wire.Error{Code: "InvalidParameter", Status: http.StatusBadRequest, Message: "Invalid token: the confirmation token has expired"}
		}
		sub.Status = StatusConfirmed
		return sub.SubscriptionArn, nil
	}
	if !topicKnown {
		return "", &wire.Error{Code: "NotFound", Status: http.StatusNotFound, Message: "Topic does not exist"}
	}
	return "", &wire.Error{Code: "InvalidParameter", Status: http.StatusBadRequest, Message: "Invalid token"}
}

func (b *Backend) unsubscribe(arn string) *wire.Error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, sub := range b.subs {
		if sub.SubscriptionArn == arn {
			b.subs = append(b.subs[:i], b.subs[i+1:]...)
			return nil
		}
	}
	return &wire.Error{Code: "NotFound", Status: http.StatusNotFound, Message: "Subscription does not exist"}
}

// timestamp formats a time as SNS does: UTC with milliseconds and a Z.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	return wire.RequestID()
}
