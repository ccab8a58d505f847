package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/ses"
	"github.com/deskpilot/deskpilot/sim/internal/sns"
	"github.com/deskpilot/deskpilot/sim/internal/sts"
	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Service names as they appear in /_sim/calls and /_sim/faults: the services' signing names,
// except that SESv2 is told apart from SES v1.
const (
	ServiceAppStream   = "appstream"
	ServiceAutoScaling = "application-autoscaling"
	ServiceWorkSpaces  = "workspaces"
	ServiceSES         = "ses"
	ServiceSESv2       = "sesv2"
	ServiceSTS         = "sts"
	ServiceSNS         = "sns"
	ServiceSQS         = "sqs"
	// ServiceCloudFormation is the emulator's minimal CloudFormation (cloudformation.go).
	ServiceCloudFormation = "cloudformation"
)

// maxBodyBytes bounds request bodies; AWS's own limits are far below it except for raw email.
const maxBodyBytes = 12 << 20

// jsonService is a JSON 1.1 service: its X-Amz-Target prefix and its operations.
type jsonService struct {
	name string
	ops  map[string]jsonOp
}

// jsonOp decodes its own input from the body and returns the output to marshal or an error.
// It runs with the state lock held.
type jsonOp func(s *Sim, body []byte) (any, error)

var jsonServices = map[string]*jsonService{
	"PhotonAdminProxyService": {name: ServiceAppStream, ops: appStreamOps},
	"AnyScaleFrontendService": {name: ServiceAutoScaling, ops: autoScalingOps},
	"WorkspacesService":       {name: ServiceWorkSpaces, ops: workspacesOps},
}

// recorder remembers the status and error code of a response for the call log.
type recorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// NoteErrorCode implements wire.ErrorCoder.
func (r *recorder) NoteErrorCode(code string) { r.code = code }

// ServeHTTP routes a request the way AWS's endpoints would if they shared one host: JSON
// services by X-Amz-Target, SESv2 by its /v2/email/ paths, query services (SES v1, STS, SNS) by
// the Action and Version form values, the SNS links subscribers follow (GET
// ?Action=ConfirmSubscription or Unsubscribe), and the emulator's own control API under /_sim/.
//
// On the root, an AWS request is first given to the world of its account and region
// (accounts.go); another world served directly answers everything itself, as its account's user.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(w, r)
		return
	}
	if s.reg != nil {
		world, auth := s.resolve(r)
		world.serveAWS(w, r.WithContext(withAuth(r.Context(), auth)))
		return
	}
	s.serveAWS(w, r)
}

// serveAWS answers an AWS request in this world and logs it.
func (s *Sim) serveAWS(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	rec := &recorder{ResponseWriter: w}
	rec.Header().Set("X-Amzn-Requestid", wire.RequestID())
	c := s.route(rec, r)
	if c.Service != "" {
		c.ErrorCode = rec.code
		s.recordCall(c)
	}
}

// route answers the request and returns the call to log, without its error code and time
// (Service "" when the request was not an AWS call at all).
func (s *Sim) route(w *recorder, r *http.Request) Call {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		if prefix == sqsTargetPrefix {
			c := Call{Service: ServiceSQS, Operation: op}
			s.serveSQS(w, r, &c)
			return c
		}
		svc, ok := jsonServices[prefix]
		if !ok {
			wire.WriteJSONError(w, wire.JSON11, &wire.Error{Code: "UnknownOperationException", Status: 400,
				Message: "The action or operation requested is invalid. Verify that the action is typed correctly."})
			return Call{Service: "unknown", Operation: target}
		}
		c := Call{Service: svc.name, Operation: op}
		s.serveJSON(w, r, svc, &c)
		return c
	}
	if strings.HasPrefix(r.URL.Path, "/v2/email/") {
		op := ses.OperationV2(r)
		if !s.intercept(w, r, ServiceSESv2, op, wire.RestJSON, "", nil) {
			s.ses.ServeV2(w, r)
		}
		return Call{Service: ServiceSESv2, Operation: op}
	}
	if r.Method == http.MethodGet {
		switch action := r.URL.Query().Get("Action"); action {
		case "ConfirmSubscription", "Unsubscribe":
			if !s.intercept(w, r, ServiceSNS, action, wire.Query, sns.Namespace, nil) {
				s.sns.ServeQuery(w, r)
			}
			return Call{Service: ServiceSNS, Operation: action}
		}
	}
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil && r.PostForm.Get("Action") != "" {
			action := r.PostForm.Get("Action")
			switch r.PostForm.Get("Version") {
			case "2010-12-01":
				if !s.intercept(w, r, ServiceSES, action, wire.Query, ses.QueryNamespace, nil) {
					s.ses.ServeQuery(w, r)
				}
				return Call{Service: ServiceSES, Operation: action}
			case "2011-06-15":
				if !s.intercept(w, r, ServiceSTS, action, wire.Query, sts.QueryNamespace, nil) {
					s.serveSTS(w, r)
				}
				return Call{Service: ServiceSTS, Operation: action}
			case cfnVersion:
				if !s.intercept(w, r, ServiceCloudFormation, action, wire.Query, cfnNamespace, nil) {
					s.serveCloudFormation(w, r, action)
				}
				return Call{Service: ServiceCloudFormation, Operation: action}
			case sns.Version:
				if !s.intercept(w, r, ServiceSNS, action, wire.Query, sns.Namespace, nil) {
					s.sns.ServeQuery(w, r)
				}
				return Call{Service: ServiceSNS, Operation: action}
			}
			wire.WriteQueryError(w, "", &wire.Error{Code: "InvalidAction", Status: 400,
				Message: "The action " + action + " is not valid for this web service (unknown Version " + r.PostForm.Get("Version") + ")."})
			return Call{Service: "unknown", Operation: action}
		}
	}
	wire.WriteJSONError(w, wire.JSON11, &wire.Error{Code: "UnknownOperationException", Status: 404,
		Message: "deskpilot sim: no AWS service is routed at " + r.Method + " " + r.URL.Path + " (send X-Amz-Target, an Action form, or a /v2/email/ path)"})
	return Call{}
}

// serveJSON answers a JSON 1.1 call and notes in c the resource (and, for UpdateFleet, the
// image) the request names, so that the call log has them whether the call succeeds or not.
func (s *Sim) serveJSON(w *recorder, r *http.Request, svc *jsonService, c *Call) {
	opName := c.Operation
	// The body is read first so that a fault scoped to a resource can see what the call names.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		wire.WriteJSONError(w, wire.JSON11, &wire.Error{Code: "SerializationException", Status: 400, Message: err.Error()})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	named := requestResources(svc.name, opName, body)
	c.Resource = soleResource(named)
	if svc.name == ServiceAppStream && opName == "UpdateFleet" {
		c.ImageName = requestedImage(body)
	}
	if s.intercept(w, r, svc.name, opName, wire.JSON11, "", named) {
		return
	}
	op, ok := svc.ops[opName]
	if !ok {
		wire.WriteJSONError(w, wire.JSON11, &wire.Error{Code: "UnknownOperationException", Status: 400,
			Message: "The action or operation requested is invalid. Verify that the action is typed correctly."})
		return
	}
	out, err := s.runOp(op, body)
	if svc.name == ServiceAppStream && cloudTrailEvents[opName] {
		s.emitCloudTrail(r, w.Header().Get("X-Amzn-Requestid"), opName, body, err)
	}
	if err != nil {
		wire.WriteJSONError(w, wire.JSON11, asWireError(err))
		return
	}
	wire.WriteJSON(w, wire.JSON11, out)
}

// intercept answers a call that must fail before it is served: one the root refused (an
// expired or invalid token, a service control policy's deny), or one a fault hits. It reports
// whether it answered.
func (s *Sim) intercept(w http.ResponseWriter, r *http.Request, service, op string, p wire.Protocol, xmlns string, named []resourceRef) bool {
	return s.refuse(w, r, service, op, p, xmlns) || s.injectFault(w, service, op, p, xmlns, named)
}

// runOp runs an operation under the state lock. A panic in an operation is a bug of the
// emulator: it is answered as an internal failure and never leaves the lock held.
func (s *Sim) runOp(op jsonOp, body []byte) (out any, err error) {
	s.lock()
	defer s.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &wire.Error{Code: "InternalFailure", Status: 500, Message: fmt.Sprintf("deskpilot sim bug: %v", r)}
		}
	}()
	return op(s, body)
}

// asWireError turns any error into the AWS error to answer with; an error that is not already
// a service error is an internal failure of the emulator, reported as AWS reports its own.
func asWireError(err error) *wire.Error {
	if e, ok := err.(*wire.Error); ok {
		return e
	}
	return &wire.Error{Code: "InternalFailure", Status: 500, Message: err.Error()}
}

// decode reads a JSON-protocol input. AWS answers a body that is not the operation's input
// structure with SerializationException.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &wire.Error{Code: "SerializationException", Status: 400, Message: "Start of structure or map found where not expected, or the request body is not valid JSON: " + err.Error()}
	}
	return nil
}

// Call is one AWS API call the emulator answered.
type Call struct {
	Service   string
	Operation string
	// Resource is the name of the one resource the request names, read from the members a
	// resource-scoped Fault reads (see requestResources): a fleet, stack or image name (the name
	// in a ResourceArn; NAME of an Application Auto Scaling fleet/NAME), or a WorkSpace id.
	// Empty when the request names none or several, and for the query and REST services. It is
	// kept for failed calls too.
	Resource string `json:",omitempty"`
	// ImageName is, for UpdateFleet, the image the request gives the fleet: its ImageName, or
	// the name in its ImageArn. Empty when the request changes no image. It is kept for failed
	// calls too, which changed nothing: look at ErrorCode.
	ImageName string `json:",omitempty"`
	// ErrorCode is empty when the call succeeded.
	ErrorCode string `json:",omitempty"`
	Time      time.Time
}

type callLog struct {
	max    int
	calls  []Call
	counts map[string]int
	total  int
}

// recordCall logs an answered call, dated now.
func (s *Sim) recordCall(call Call) {
	call.Time = s.clock.Now()
	key := call.Service + "." + call.Operation
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.calls
	c.total++
	c.counts[key]++
	if call.ErrorCode != "" {
		c.counts[key+"!"+call.ErrorCode]++
	}
	if len(c.calls) >= c.max {
		copy(c.calls, c.calls[1:])
		c.calls = c.calls[:len(c.calls)-1]
	}
	c.calls = append(c.calls, call)
}

// CallReport is what /_sim/calls returns: the most recent calls in order, and counts of every
// call since the last reset by "service.Operation" and by "service.Operation!ErrorCode".
type CallReport struct {
	Calls  []Call
	Counts map[string]int
	Total  int
}

// Calls returns the calls received since the last reset.
func (s *Sim) Calls() CallReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := make(map[string]int, len(s.calls.counts))
	for k, v := range s.calls.counts {
		counts[k] = v
	}
	return CallReport{Calls: append([]Call{}, s.calls.calls...), Counts: counts, Total: s.calls.total}
}

// CountCalls returns how many calls of service.operation were received (errors included).
func (s *Sim) CountCalls(service, operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls.counts[service+"."+operation]
}

// sortedKeys returns the keys of m in order, so that listings are stable across pages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
