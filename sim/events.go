package sim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The emulator plays CloudTrail and EventBridge for AppStream's tag calls: every TagResource
// and UntagResource it answers (failed ones too, with errorCode and errorMessage, as CloudTrail
// records them) becomes the "AWS API Call via CloudTrail" event EventBridge sends to its
// targets. A target is an SQS queue of the emulator, registered through the control API (it
// receives every event) or by a CloudFormation AWS::Events::Rule (it receives the events its
// EventPattern matches: the rule `deskpilot bootstrap` writes drops failed calls). Delivery is
// asynchronous: the event is queued on the emulator's clock at the instant of the call and
// reaches the queues when the emulator next runs (any request, or a waiting long poll), never
// inside the AppStream call.

// cloudTrailEvents are the AppStream operations whose calls become events. Other mutating calls
// are not delivered: the targets are deskpilot's tag-event queues, which expect only these.
var cloudTrailEvents = map[string]bool{"TagResource": true, "UntagResource": true}

// eventTarget is a queue the emulated EventBridge delivers to.
type eventTarget struct {
	// url is the queue URL as it was registered, queue the queue's name.
	url, queue string
	// rule is the ARN of the CloudFormation rule that registered the target, stack the id of
	// its stack; both empty for a target of the control API.
	rule, stack string
	// pattern is the rule's event pattern (nil: every event), raw as it was given.
	pattern map[string]any
	raw     json.RawMessage
}

// EventTargets is what GET /_sim/events/targets answers: the targets, how many event messages
// were sent to them, how many events were lost on purpose (POST /_sim/events/drop) and how
// many more will be.
type EventTargets struct {
	Targets                      []EventTarget
	Delivered, Dropped, DropNext int
}

// EventTarget is a queue the events go to. Rule and EventPattern are set for a target a
// CloudFormation AWS::Events::Rule registered, which receives only the events its pattern
// matches.
type EventTarget struct {
	QueueUrl     string          //nolint:revive // the AWS spelling, as in the control API
	Rule         string          `json:",omitempty"`
	EventPattern json.RawMessage `json:",omitempty"`
}

// AddEventTarget makes every tag event go to the queue at url as well (registering a queue
// twice changes nothing). The URL's host does not matter, only its path /ACCOUNT/NAME; a queue
// that does not exist is a 400 ControlError.
func (s *Sim) AddEventTarget(url string) error {
	s.lock()
	defer s.mu.Unlock()
	if _, err := s.queueByURL(&url); err != nil {
		return badRequestf("no SQS queue at %q: create it first (CreateQueue), and give its URL (…/%s/NAME)", url, s.opts.AccountID)
	}
	_, name, _ := splitQueueURL(url)
	for _, t := range s.sqs.targets {
		if t.rule == "" && t.queue == name {
			return nil
		}
	}
	s.sqs.targets = append(s.sqs.targets, &eventTarget{url: url, queue: name})
	return nil
}

// EventTargets returns the event targets and the delivery counts.
func (s *Sim) EventTargets() EventTargets {
	s.lock()
	defer s.mu.Unlock()
	out := EventTargets{Targets: []EventTarget{}, Delivered: s.sqs.delivered, Dropped: s.sqs.dropped, DropNext: s.sqs.dropNext}
	for _, t := range s.sqs.targets {
		out.Targets = append(out.Targets, EventTarget{QueueUrl: t.url, Rule: t.rule, EventPattern: t.raw})
	}
	return out
}

// ClearEventTargets removes every target, those of CloudFormation rules included. The counts
// are kept.
func (s *Sim) ClearEventTargets() {
	s.lock()
	s.sqs.targets = nil
	s.mu.Unlock()
}

// DropEvents makes the next n events that would reach a target be lost, as CloudTrail and
// EventBridge may lose one (both deliver on a best-effort basis). Events that no target would
// receive do not count.
func (s *Sim) DropEvents(n int) {
	s.lock()
	s.sqs.dropNext += max(n, 0)
	s.mu.Unlock()
}

// cloudTrailEnvelope is the event EventBridge sends to a target for a call CloudTrail
// recorded, its members in the order AWS sends them.
type cloudTrailEnvelope struct {
	Version    string           `json:"version"`
	ID         string           `json:"id"`
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	Account    string           `json:"account"`
	Time       string           `json:"time"`
	Region     string           `json:"region"`
	Resources  []string         `json:"resources"`
	Detail     cloudTrailRecord `json:"detail"`
}

type cloudTrailRecord struct {
	EventVersion       string             `json:"eventVersion"`
	UserIdentity       cloudTrailIdentity `json:"userIdentity"`
	EventTime          string             `json:"eventTime"`
	EventSource        string             `json:"eventSource"`
	EventName          string             `json:"eventName"`
	AWSRegion          string             `json:"awsRegion"`
	SourceIPAddress    string             `json:"sourceIPAddress"`
	UserAgent          string             `json:"userAgent"`
	ErrorCode          string             `json:"errorCode,omitempty"`
	ErrorMessage       string             `json:"errorMessage,omitempty"`
	RequestParameters  any                `json:"requestParameters"`
	ResponseElements   any                `json:"responseElements"`
	RequestID          string             `json:"requestID"`
	EventID            string             `json:"eventID"`
	ReadOnly           bool               `json:"readOnly"`
	EventType          string             `json:"eventType"`
	ManagementEvent    bool               `json:"managementEvent"`
	RecipientAccountID string             `json:"recipientAccountId"`
	EventCategory      string             `json:"eventCategory"`
}

// cloudTrailIdentity is the caller: the IAM user or the assumed role STS GetCallerIdentity
// names.
type cloudTrailIdentity struct {
	Type           string                 `json:"type"`
	PrincipalID    string                 `json:"principalId"`
	ARN            string                 `json:"arn"`
	AccountID      string                 `json:"accountId"`
	AccessKeyID    string                 `json:"accessKeyId,omitempty"`
	UserName       string                 `json:"userName,omitempty"`
	SessionContext *cloudTrailSessionInfo `json:"sessionContext,omitempty"`
}

// cloudTrailSessionInfo is an assumed role's sessionContext.
type cloudTrailSessionInfo struct {
	SessionIssuer struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccountID   string `json:"accountId"`
		UserName    string `json:"userName"`
	} `json:"sessionIssuer"`
	Attributes struct {
		CreationDate     string `json:"creationDate"`
		MFAAuthenticated string `json:"mfaAuthenticated"`
	} `json:"attributes"`
}

// cloudTrailIdentityOf is how CloudTrail records the principal who signed a call.
func cloudTrailIdentityOf(p principal) cloudTrailIdentity {
	id := cloudTrailIdentity{Type: "IAMUser", PrincipalID: p.UserID, ARN: p.Arn, AccountID: p.Account, AccessKeyID: p.accessKey, UserName: "deskpilot-sim"}
	if p.role == "" {
		return id
	}
	id.Type, id.UserName = "AssumedRole", ""
	sc := &cloudTrailSessionInfo{}
	sc.SessionIssuer.Type, sc.SessionIssuer.PrincipalID = "Role", p.roleID
	sc.SessionIssuer.ARN, sc.SessionIssuer.AccountID, sc.SessionIssuer.UserName = "arn:aws:iam::"+p.Account+":role/"+p.role, p.Account, p.role
	sc.Attributes.CreationDate, sc.Attributes.MFAAuthenticated = p.issued.UTC().Format(time.RFC3339), "false"
	id.SessionContext = sc
	return id
}

// cloudTrailParams are a tag call's requestParameters as CloudTrail records them (the model's
// lowerCamelCase members). A body that is not JSON has none.
func cloudTrailParams(op string, body []byte) any {
	var in struct {
		ResourceArn *string
		Tags        map[string]string
		TagKeys     []string
	}
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	if op == "TagResource" {
		return struct {
			ResourceArn *string           `json:"resourceArn,omitempty"`
			Tags        map[string]string `json:"tags,omitempty"`
		}{in.ResourceArn, in.Tags}
	}
	return struct {
		ResourceArn *string  `json:"resourceArn,omitempty"`
		TagKeys     []string `json:"tagKeys,omitempty"`
	}{in.ResourceArn, in.TagKeys}
}

// eventsSenderID is the SenderId of the messages EventBridge delivers.
func (s *Sim) eventsSenderID() string { return userIDFor("events.amazonaws.com/" + s.opts.AccountID) }

// emitCloudTrail turns an answered AppStream call into its event and queues its delivery to the
// targets whose pattern matches. It runs after the call was answered, and only takes the lock
// for as long as queuing takes.
func (s *Sim) emitCloudTrail(r *http.Request, requestID, op string, body []byte, callErr error) {
	params := cloudTrailParams(op, body)
	who := cloudTrailIdentityOf(s.authOf(r.Context()).who)
	who.AccessKeyID = accessKeyOf(r)
	ip, agent := sourceIP(r), r.UserAgent()
	s.lock()
	defer s.mu.Unlock()
	if len(s.sqs.targets) == 0 {
		return
	}
	at := s.now.UTC().Truncate(time.Second).Format(time.RFC3339)
	account, region := s.opts.AccountID, s.opts.Region
	ev := cloudTrailEnvelope{
		Version: "0", ID: newUUID(s), DetailType: "AWS API Call via CloudTrail", Source: "aws.appstream",
		Account: account, Time: at, Region: region, Resources: []string{},
		Detail: cloudTrailRecord{
			EventVersion: "1.08",
			UserIdentity: who,
			EventTime:    at, EventSource: "appstream.amazonaws.com", EventName: op, AWSRegion: region,
			SourceIPAddress: ip, UserAgent: agent, RequestParameters: params, RequestID: requestID, EventID: newUUID(s),
			EventType: "AwsApiCall", ManagementEvent: true, RecipientAccountID: account, EventCategory: "Management",
		},
	}
	if callErr != nil {
		e := asWireError(callErr)
		ev.Detail.ErrorCode, ev.Detail.ErrorMessage = e.Code, e.Message
	}
	doc, err := json.Marshal(ev)
	if err != nil {
		return
	}
	var generic map[string]any
	var to []string
	for _, t := range s.sqs.targets {
		if t.pattern != nil {
			if generic == nil {
				_ = json.Unmarshal(doc, &generic)
			}
			if !matchPattern(t.pattern, generic) {
				continue
			}
		}
		to = append(to, t.queue)
	}
	if len(to) == 0 {
		return
	}
	if s.sqs.dropNext > 0 {
		s.sqs.dropNext--
		s.sqs.dropped++
		return
	}
	sender := s.eventsSenderID()
	s.after(0, func() {
		for _, name := range to {
			if q := s.sqs.queues[name]; q != nil {
				s.enqueueLocked(q, &sqsMessage{body: string(doc), sender: sender}, 0)
				s.sqs.delivered++
			}
		}
	})
}

// accessKeyOf is the access key id of a request's SigV4 credential, or "".
func accessKeyOf(r *http.Request) string {
	c, _, _ := credentialOf(r)
	return c.AccessKey
}

// sourceIP is the client's address without its port.
func sourceIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Event patterns: the part of EventBridge's pattern language the emulator matches. A pattern
// is a JSON object whose leaves are arrays; an array matches when one of its elements does: a
// literal (string, number, boolean or null) equal to the event's value, or one of the
// operators exists, prefix, suffix, equals-ignore-case and anything-but (of literals). Against
// an array in the event, an element matches when it matches one of the array's values.
var patternOperators = []string{"exists", "prefix", "suffix", "equals-ignore-case", "anything-but"}

// parsePattern reads and checks an event pattern. Anything outside the subset above is an
// error rather than a pattern that would match differently from AWS.
func parsePattern(raw []byte) (map[string]any, error) {
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return nil, fmt.Errorf("Event pattern is not valid. Reason: it must be a JSON object")
	}
	if err := checkPattern(p, ""); err != nil {
		return nil, err
	}
	return p, nil
}

func checkPattern(p map[string]any, path string) error {
	for k, v := range p {
		at := strings.TrimPrefix(path+"."+k, ".")
		switch v := v.(type) {
		case map[string]any:
			if err := checkPattern(v, at); err != nil {
				return err
			}
		case []any:
			for _, rule := range v {
				op, ok := rule.(map[string]any)
				if !ok {
					if _, nested := rule.([]any); nested {
						return fmt.Errorf("Event pattern is not valid. Reason: nested arrays at %s", at)
					}
					continue
				}
				if len(op) != 1 {
					return fmt.Errorf("Event pattern is not valid. Reason: an operator object at %s must have one member", at)
				}
				for name, arg := range op {
					if !slices.Contains(patternOperators, name) {
						return fmt.Errorf("deskpilot sim does not match the event pattern operator %q (at %s); it matches literals, %s", name, at, strings.Join(patternOperators, ", "))
					}
					if err := checkOperator(name, arg, at); err != nil {
						return err
					}
				}
			}
		default:
			return fmt.Errorf("Event pattern is not valid. Reason: the value at %s must be an object or an array", at)
		}
	}
	return nil
}

func checkOperator(name string, arg any, at string) error {
	bad := func() error {
		return fmt.Errorf("Event pattern is not valid. Reason: %q at %s has an argument the emulator does not accept", name, at)
	}
	switch name {
	case "exists":
		if _, ok := arg.(bool); !ok {
			return bad()
		}
	case "prefix", "suffix", "equals-ignore-case":
		if _, ok := arg.(string); !ok {
			return bad()
		}
	case "anything-but":
		list, ok := arg.([]any)
		if !ok {
			list = []any{arg}
		}
		for _, v := range list {
			switch v.(type) {
			case string, float64, bool:
			default:
				return bad()
			}
		}
	}
	return nil
}

// matchPattern reports whether the event matches the (checked) pattern.
func matchPattern(p map[string]any, ev map[string]any) bool {
	for k, rule := range p {
		v, present := ev[k]
		switch rule := rule.(type) {
		case map[string]any:
			sub, ok := v.(map[string]any)
			if !ok || !matchPattern(rule, sub) {
				return false
			}
		case []any:
			if !matchAny(rule, v, present) {
				return false
			}
		}
	}
	return true
}

func matchAny(rules []any, v any, present bool) bool {
	values := []any{v}
	if list, ok := v.([]any); ok {
		values = list
	}
	for _, r := range rules {
		if op, ok := r.(map[string]any); ok {
			if want, ok := op["exists"].(bool); ok {
				_, object := v.(map[string]any)
				if want == (present && !object) {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, val := range values {
			if matchRule(r, val) {
				return true
			}
		}
	}
	return false
}

func matchRule(rule, v any) bool {
	op, ok := rule.(map[string]any)
	if !ok {
		return rule == v
	}
	s, isString := v.(string)
	for name, arg := range op {
		switch name {
		case "prefix":
			return isString && strings.HasPrefix(s, arg.(string))
		case "suffix":
			return isString && strings.HasSuffix(s, arg.(string))
		case "equals-ignore-case":
			return isString && strings.EqualFold(s, arg.(string))
		case "anything-but":
			list, ok := arg.([]any)
			if !ok {
				list = []any{arg}
			}
			return !slices.Contains(list, v)
		}
	}
	return false
}

func (s *Sim) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/events/targets", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.EventTargets())
	})
	mux.HandleFunc("POST /_sim/events/targets", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ QueueUrl string } //nolint:revive // the AWS spelling
		if !readControl(w, r, &in) {
			return
		}
		if in.QueueUrl == "" {
			writeControlError(w, badRequestf("QueueUrl is required: the URL of an SQS queue of the emulator"))
			return
		}
		if err := s.AddEventTarget(in.QueueUrl); err != nil {
			writeControlError(w, err)
			return
		}
		writeControl(w, http.StatusOK, s.EventTargets())
	})
	mux.HandleFunc("DELETE /_sim/events/targets", func(w http.ResponseWriter, r *http.Request) {
		s.ClearEventTargets()
		writeControl(w, http.StatusOK, s.EventTargets())
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
		writeControl(w, http.StatusOK, s.EventTargets())
	})
}
