package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// The emulator plays CloudTrail and an EventBridge rule for AppStream's tag calls: each
// TagResource and UntagResource that succeeds becomes an "AWS API Call via CloudTrail" event,
// the document exactly as EventBridge sends it to a target, which is sent to every SQS queue
// registered as a target. The rule is the one `deskpilot bootstrap` writes (source
// aws.appstream, TagResource and UntagResource, no errorCode), so failed calls are not
// delivered. Delivery happens as the call is answered: EventBridge takes about half a second,
// which the emulator does not imitate.

// EventTargets is what GET /_sim/events/targets answers.
type EventTargets struct {
	Targets []EventTarget
	// Delivered and Dropped count the events sent to the targets and lost on purpose
	// (POST /_sim/events/drop); DropNext is how many more will be lost.
	Delivered, Dropped, DropNext int
}

// EventTarget is a queue the events go to.
type EventTarget struct {
	QueueUrl string //nolint:revive // the AWS name, as in the control API
}

// CreateQueue creates a standard SQS queue (as CreateQueue with no attributes would) and
// returns its URL, on the emulator's base URL when SetBaseURL gave one.
func (s *Sim) CreateQueue(name string) (string, error) {
	s.mu.Lock()
	base := s.baseURL
	s.mu.Unlock()
	if base == "" {
		base = "http://sim.invalid"
	}
	out, err := s.sqs.createQueue(base, &name, nil)
	if err != nil {
		return "", err
	}
	return out.(map[string]string)["QueueUrl"], nil
}

// AddEventTarget makes the tag events go to the queue at url too.
func (s *Sim) AddEventTarget(url string) error {
	b := s.sqs
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.queueLocked(&url); err != nil {
		return badRequestf("no queue %s: create it first (CreateQueue)", url)
	}
	if !slices.Contains(b.targets, url) {
		b.targets = append(b.targets, url)
	}
	return nil
}

// Targets returns the event targets and the delivery counts.
func (s *Sim) Targets() EventTargets {
	b := s.sqs
	b.mu.Lock()
	defer b.mu.Unlock()
	out := EventTargets{Targets: []EventTarget{}, Delivered: b.delivered, Dropped: b.dropped, DropNext: b.dropNext}
	for _, u := range b.targets {
		out.Targets = append(out.Targets, EventTarget{QueueUrl: u})
	}
	return out
}

// ClearEventTargets stops the delivery of events.
func (s *Sim) ClearEventTargets() {
	b := s.sqs
	b.mu.Lock()
	b.targets = nil
	b.mu.Unlock()
}

// DropEvents makes the next n events be lost, as an event can be (EventBridge and CloudTrail
// deliver on a best-effort basis).
func (s *Sim) DropEvents(n int) {
	b := s.sqs
	b.mu.Lock()
	b.dropNext += n
	b.mu.Unlock()
}

// emitAPICall delivers the event of a successful AppStream call. It runs with the emulator's
// lock held (s.now is the call's instant); the queues have their own.
func (s *Sim) emitAPICall(name string, params map[string]any) {
	b := s.sqs
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.targets) == 0 {
		return
	}
	if b.dropNext > 0 {
		b.dropNext--
		b.dropped++
		return
	}
	at := s.now.UTC().Truncate(time.Second).Format(time.RFC3339)
	account, region := s.opts.AccountID, s.opts.Region
	doc := map[string]any{
		"version":     "0",
		"id":          uuid(),
		"detail-type": "AWS API Call via CloudTrail",
		"source":      "aws.appstream",
		"account":     account,
		"time":        at,
		"region":      region,
		"resources":   []string{},
		"detail": map[string]any{
			"eventVersion": "1.09",
			"userIdentity": map[string]any{
				"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::" + account + ":user/deskpilot-sim",
				"accountId": account, "accessKeyId": "AKIDEXAMPLE", "userName": "deskpilot-sim",
			},
			"eventTime":          at,
			"eventSource":        "appstream.amazonaws.com",
			"eventName":          name,
			"awsRegion":          region,
			"sourceIPAddress":    "203.0.113.10",
			"userAgent":          "deskpilot-sim",
			"requestParameters":  params,
			"responseElements":   nil,
			"requestID":          uuid(),
			"eventID":            uuid(),
			"readOnly":           false,
			"eventType":          "AwsApiCall",
			"managementEvent":    true,
			"recipientAccountId": account,
			"eventCategory":      "Management",
		},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return
	}
	for _, u := range b.targets {
		if q, err := b.queueLocked(&u); err == nil {
			if _, err := b.sendLocked(q, string(body), 0); err == nil {
				b.delivered++
			}
		}
	}
}

func (s *Sim) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/events/targets", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.Targets())
	})
	mux.HandleFunc("POST /_sim/events/targets", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ QueueUrl string }
		if !readControl(w, r, &in) {
			return
		}
		if in.QueueUrl == "" {
			writeControlError(w, badRequestf("QueueUrl is required"))
			return
		}
		err := s.AddEventTarget(in.QueueUrl)
		respond(w, http.StatusOK, s.Targets(), err)
	})
	mux.HandleFunc("DELETE /_sim/events/targets", func(w http.ResponseWriter, r *http.Request) {
		s.ClearEventTargets()
		writeControl(w, http.StatusOK, s.Targets())
	})
	mux.HandleFunc("POST /_sim/events/drop", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Count int }
		if !readControl(w, r, &in) {
			return
		}
		if in.Count < 1 {
			writeControlError(w, badRequestf("Count must be at least 1"))
			return
		}
		s.DropEvents(in.Count)
		writeControl(w, http.StatusOK, s.Targets())
	})
}
