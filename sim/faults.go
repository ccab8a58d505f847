package sim

import (
	"fmt"
	"net/http"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Fault is an injected failure: calls that match it fail with ErrorCode (in the status and shape
// AWS uses for that code and protocol) and/or are delayed by LatencyMs.
type Fault struct {
	// Service matches a service name (see the Service constants); "" or "*" matches all.
	Service string
	// Operation matches an operation name such as "UpdateFleet"; "" or "*" matches all.
	Operation string
	// Resource, when set, limits the fault to calls whose request names that resource: an
	// AppStream fleet, stack or image name, an AppStream ARN (arn:aws:appstream:…:fleet/NAME),
	// an Application Auto Scaling ResourceId (fleet/NAME), or a WorkSpace, directory or bundle
	// id. A bare name matches a resource of any kind with that name; an ARN or fleet/NAME only
	// that kind. A call naming several resources (DescribeFleets with several Names,
	// DescribeScalableTargets with several ResourceIds) is hit as a whole when one of them
	// matches, as AWS fails a whole request for one bad name. Calls that name no resource (a
	// DescribeFleets without Names lists every fleet but names none) and calls of the query and
	// REST services (SES, SESv2, STS, SNS) never match a Resource fault.
	Resource string `json:",omitempty"`
	// ErrorCode is the AWS error code to answer with, e.g. "ThrottlingException". Empty means
	// the call is only delayed.
	ErrorCode string `json:",omitempty"`
	// Message is the error message; a default is used when empty.
	Message string `json:",omitempty"`
	// Probability is the chance in [0, 1] that a matching call fails; 0 means always.
	Probability float64
	// Count is how many calls it fails before it removes itself; 0 means no limit.
	Count int
	// LatencyMs delays every matching call by this many real milliseconds.
	LatencyMs int
	// Injected is how many calls this fault has failed or delayed so far (read-only).
	Injected int
}

type fault struct {
	Fault
	// resource is Resource parsed once, when the fault is added.
	resource resourceRef
}

func (f *fault) matches(service, op string) bool {
	return (f.Service == "" || f.Service == "*" || f.Service == service) &&
		(f.Operation == "" || f.Operation == "*" || f.Operation == op)
}

// validate checks a fault before it is installed.
func (f Fault) validate() error {
	switch {
	case f.Probability < 0 || f.Probability > 1:
		return fmt.Errorf("Probability must be between 0 and 1, got %v", f.Probability)
	case f.Count < 0:
		return fmt.Errorf("Count must be 0 (no limit) or more, got %d", f.Count)
	case f.LatencyMs < 0 || f.LatencyMs > 60000:
		return fmt.Errorf("LatencyMs must be between 0 and 60000, got %d", f.LatencyMs)
	case f.ErrorCode == "" && f.LatencyMs == 0:
		return fmt.Errorf("a fault needs an ErrorCode, a LatencyMs, or both")
	case len(f.Resource) > 1600:
		return fmt.Errorf("Resource must be at most 1600 characters, got %d", len(f.Resource))
	}
	return nil
}

// AddFault installs a fault.
func (s *Sim) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	f.Injected = 0
	s.mu.Lock()
	s.faults = append(s.faults, &fault{Fault: f, resource: parseResource(f.Resource)})
	s.mu.Unlock()
	return nil
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Faults returns the installed faults with their counts.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, f.Fault)
	}
	return out
}

// injectFault applies the first fault that matches the call. It reports whether it answered
// the request (with an error); latency alone delays the call and lets it proceed. named are
// the resources the request names (requestResources; nil for the query and REST services),
// which a fault with a Resource must find there.
func (s *Sim) injectFault(w http.ResponseWriter, service, op string, p wire.Protocol, xmlns string, named []resourceRef) bool {
	s.mu.Lock()
	var hit *Fault
	for i, f := range s.faults {
		if !f.matches(service, op) {
			continue
		}
		if f.Resource != "" && !f.resource.in(named) {
			continue
		}
		if f.Probability > 0 && s.rng.Float64() >= f.Probability {
			continue
		}
		f.Injected++
		copied := f.Fault
		hit = &copied
		if f.Count > 0 && f.Injected >= f.Count {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		break
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}
	if hit.LatencyMs > 0 {
		time.Sleep(time.Duration(hit.LatencyMs) * time.Millisecond)
	}
	if hit.ErrorCode == "" {
		return false
	}
	e := &wire.Error{Code: hit.ErrorCode, Message: hit.Message, Status: wire.StatusFor(hit.ErrorCode)}
	if e.Message == "" {
		e.Message = defaultFaultMessage(hit.ErrorCode)
	}
	if p == wire.Query {
		wire.WriteQueryError(w, xmlns, e)
	} else {
		wire.WriteJSONError(w, p, e)
	}
	return true
}

func defaultFaultMessage(code string) string {
	switch code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "Throttled":
		return "Rate exceeded"
	case "RequestLimitExceededException":
		return "The request rate for the EC2 API operation exceeded the limit."
	}
	return "Injected by deskpilot sim"
}
