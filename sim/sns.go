package sim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/sns"
)

// SNSSubscriptionSpec subscribes an HTTP(S) endpoint to a topic, as the recipe's
// `aws sns subscribe --protocol http(s)` does.
type SNSSubscriptionSpec struct {
	// TopicArn defaults to arn:aws:sns:<region>:<account>:workspaces-disconnect.
	TopicArn string `json:",omitempty"`
	Endpoint string
	// SignatureVersion is "1" (SHA1withRSA, the default) or "2" (SHA256withRSA).
	SignatureVersion string `json:",omitempty"`
}

// SNSSubscription is a subscription and its Status: "pending confirmation" until the endpoint
// confirms it, then "confirmed".
type SNSSubscription = sns.Subscription

// SNSDelivery is one attempt to deliver an SNS message to an endpoint.
type SNSDelivery = sns.Delivery

// AlarmPublication is what PublishAlarm sent: one message id per topic with confirmed
// subscriptions, and how many deliveries were queued.
type AlarmPublication = sns.Publication

// DefaultTopicName is the topic SNS subscriptions use when they name none.
const DefaultTopicName = "workspaces-disconnect"

// SetBaseURL tells the emulator the URL its clients reach it at (such as an httptest server's
// URL). SNS messages point there: SubscribeURL, SigningCertURL and UnsubscribeURL. The control
// API does not need it (it uses the Host of each request); SubscribeSNS does.
//
// On the root it is every world's URL (worlds created later get it too).
func (s *Sim) SetBaseURL(url string) {
	worlds := []*Sim{s}
	if s.reg != nil {
		worlds = s.worlds()
	}
	for _, w := range worlds {
		w.mu.Lock()
		w.baseURL = strings.TrimSuffix(url, "/")
		w.mu.Unlock()
	}
}

// SubscribeSNS subscribes an endpoint and immediately sends it a signed SubscriptionConfirmation;
// nothing else is delivered until the endpoint confirms (GET on SubscribeURL). It needs
// SetBaseURL; a bad spec is a 400 ControlError, a missing base URL a 409.
func (s *Sim) SubscribeSNS(spec SNSSubscriptionSpec) (SNSSubscription, error) {
	s.mu.Lock()
	base := s.baseURL
	s.mu.Unlock()
	if base == "" {
		return SNSSubscription{}, conflictf("the emulator does not know its own URL: call SetBaseURL first, or subscribe through POST /_sim/sns/subscriptions")
	}
	return s.subscribeSNS(base, spec)
}

func (s *Sim) subscribeSNS(base string, spec SNSSubscriptionSpec) (SNSSubscription, error) {
	if spec.TopicArn == "" {
		spec.TopicArn = fmt.Sprintf("arn:aws:sns:%s:%s:%s", s.opts.Region, s.opts.AccountID, DefaultTopicName)
	}
	if spec.SignatureVersion == "" {
		spec.SignatureVersion = "1"
	}
	sub, err := s.sns.Subscribe(base, spec.TopicArn, spec.Endpoint, spec.SignatureVersion)
	if err != nil {
		return SNSSubscription{}, badRequestf("%s", err)
	}
	return sub, nil
}

// SNSSubscriptions returns every subscription in the order they were made.
func (s *Sim) SNSSubscriptions() []SNSSubscription { return s.sns.Subscriptions() }

// SNSDeliveries returns every delivery attempt since the last reset, in the order they ended.
func (s *Sim) SNSDeliveries() []SNSDelivery { return s.sns.Deliveries() }

// WaitDeliveries blocks until n SNS deliveries have completed since the last reset (a delivery
// completes when it succeeds or fails for good, after its retries), or ctx ends. It lets tests
// wait for messages without sleeping.
func (s *Sim) WaitDeliveries(ctx context.Context, n int) error { return s.sns.Wait(ctx, n) }

// SNSCertificatePEM returns the certificate that verifies the emulator's SNS signatures (served
// at GET /_sim/sns/SimpleNotificationService-deskpilot-sim.pem). It is nil only if the key
// could not be generated.
func (s *Sim) SNSCertificatePEM() []byte {
	pem, err := s.sns.CertificatePEM()
	if err != nil {
		return nil
	}
	return pem
}

// PublishAlarm sends a WorkSpace's SessionDisconnect alarm to every confirmed subscription, as a
// disconnect does, without changing the WorkSpace.
func (s *Sim) PublishAlarm(workspaceID string) (AlarmPublication, error) {
	s.lock()
	w, ok := s.workspaces[workspaceID]
	if !ok {
		s.mu.Unlock()
		return AlarmPublication{}, notFoundf("WorkSpace %s does not exist", workspaceID)
	}
	at, configured := s.now, w.created
	s.mu.Unlock()
	return s.publishAlarm(workspaceID, at, configured), nil
}

// publishAlarm queues the alarm for delivery. It takes no lock of the Sim's, so callers call it
// after releasing s.mu (queuing never waits on the network either way).
func (s *Sim) publishAlarm(workspaceID string, at, configured time.Time) AlarmPublication {
	return s.sns.Publish(at, func(topicArn string) (string, string) {
		return s.disconnectAlarm(workspaceID, topicArn, at, configured)
	})
}

// snsRoutes adds the /_sim/sns endpoints.
func (s *Sim) snsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/sns/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		var spec SNSSubscriptionSpec
		if !readControl(w, r, &spec) {
			return
		}
		sub, err := s.subscribeSNS("http://"+r.Host, spec)
		respond(w, http.StatusCreated, sub, err)
	})
	mux.HandleFunc("GET /_sim/sns/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Subscriptions": s.SNSSubscriptions()})
	})
	mux.HandleFunc("GET "+sns.CertPath, func(w http.ResponseWriter, r *http.Request) {
		pem, err := s.sns.CertificatePEM()
		if err != nil {
			writeControlError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(pem)
	})
	mux.HandleFunc("POST /_sim/sns/publish-alarm", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ WorkspaceId string }
		if !readControl(w, r, &in) {
			return
		}
		pub, err := s.PublishAlarm(in.WorkspaceId)
		respond(w, http.StatusOK, pub, err)
	})
	mux.HandleFunc("GET /_sim/sns/deliveries", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, map[string]any{"Deliveries": s.SNSDeliveries()})
	})
}
