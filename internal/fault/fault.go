// Package fault is deskpilot's one vocabulary for what went wrong with a call to the outside
// world (AWS, a mail server, a webhook), and the one retry schedule for it. Adapters return the
// errors they get, wrapped or not; Classify sorts any of them into a Class, and every consumer
// (the rollout and reset controllers, the notifier, the daemon's loops) asks this package rather
// than deciding "permanent?" itself.
//
// An error nobody recognises is Transient: retrying with backoff is safe for every call deskpilot
// makes (each is idempotent or checked against the world first), and a failure that persists is
// escalated to a person rather than dropped.
package fault

import (
	"context"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/aws/smithy-go"
)

// Class is what a failure means for the caller.
type Class int

// Classes, from "try again soon" to "a person must act".
const (
	// Transient: a network error, a timeout, a 5xx, or anything unrecognised. Retry with backoff.
	Transient Class = iota
	// Throttled: the service asked us to slow down (AWS throttling, HTTP 429, SES quotas).
	// Retry with a longer backoff.
	Throttled
	// Conflict: the resource is busy or in a state that forbids the call right now (a fleet
	// being updated, a concurrent modification). Retry later; the world may change.
	Conflict
	// NotFound: the resource does not exist. Retrying the same call cannot help.
	NotFound
	// Denied: the credentials may not make the call (IAM, SCP, a suspended account). Retrying
	// cannot help until a person changes a permission.
	Denied
	// Invalid: the request itself is wrong (validation, an incompatible image, a rejected
	// message). Retrying the same request cannot help.
	Invalid
)

var names = [...]string{"transient", "throttled", "conflict", "not-found", "denied", "invalid"}

func (c Class) String() string {
	if c < 0 || int(c) >= len(names) {
		return "unknown"
	}
	return names[c]
}

// Retryable reports whether repeating the same call may succeed without a person acting.
func (c Class) Retryable() bool { return c == Transient || c == Throttled || c == Conflict }

// classified is an error marked with its class by the code that knows best.
type classified struct {
	err   error
	class Class
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// Mark returns err marked with class, so that Classify reports class for it and for any error
// wrapping it. Adapters use it where the protocol's own error says too little (a malformed
// notice, an invalid webhook URL). Mark(nil, c) is nil.
func Mark(err error, class Class) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: class}
}

// awsCodes sorts the AWS error codes deskpilot meets (AppStream, Application Auto Scaling,
// WorkSpaces, SES v2, STS) into classes. Codes not listed fall back to the error's fault side:
// a client fault is Invalid, a server fault or no side is Transient.
var awsCodes = map[string]Class{
	// Throttling and quotas that clear by themselves.
	"ThrottlingException": Throttled, "Throttling": Throttled, "TooManyRequestsException": Throttled,
	"RequestLimitExceeded": Throttled, "RequestThrottled": Throttled, "RequestThrottledException": Throttled,
	"SlowDown": Throttled, "LimitExceededException": Throttled, "ProvisionedThroughputExceededException": Throttled,
	"Throttled": Throttled,
	// Server side.
	"InternalServerError": Transient, "InternalServerException": Transient, "InternalFailure": Transient,
	"ServiceUnavailable": Transient, "ServiceUnavailableException": Transient, "InternalError": Transient,
	"RequestTimeout": Transient, "RequestTimeoutException": Transient, "RequestExpired": Transient,
	"IDPCommunicationError": Transient,
	// The resource is busy.
	"ConcurrentModificationException": Conflict, "ConcurrentUpdateException": Conflict,
	"ResourceInUseException": Conflict, "ConflictException": Conflict,
	"InvalidResourceStateException": Conflict, "OperationInProgressException": Conflict,
	"ResourceNotAvailableException": Conflict,
	// Missing resources.
	"ResourceNotFoundException": NotFound, "ObjectNotFoundException": NotFound, "NotFoundException": NotFound,
	"EntityNotFoundException": NotFound,
	// Permissions and the account.
	"AccessDeniedException": Denied, "AccessDenied": Denied, "UnauthorizedOperation": Denied,
	"UnrecognizedClientException": Denied, "InvalidClientTokenId": Denied, "ExpiredToken": Denied,
	"ExpiredTokenException": Denied, "InvalidAccountStatusException": Denied, "AccountSuspendedException": Denied,
	"SendingPausedException": Denied, "OperationNotPermittedException": Denied, "InvalidRoleException": Denied,
	"SignatureDoesNotMatch": Denied, "MissingAuthenticationToken": Denied, "IncompleteSignature": Denied,
	"MailFromDomainNotVerifiedException": Denied,
	// Bad requests.
	"ValidationException": Invalid, "InvalidParameterValuesException": Invalid,
	"InvalidParameterCombinationException": Invalid, "InvalidParameterValueException": Invalid,
	"IncompatibleImageException": Invalid, "OperationNotSupportedException": Invalid,
	"ResourceLimitExceededException": Invalid, "ResourceAlreadyExistsException": Invalid,
	"InvalidParameterException": Invalid, "BadRequestException": Invalid, "MessageRejected": Invalid,
	"UnsupportedOperationException": Invalid, "InvalidAction": Invalid, "MalformedQueryString": Invalid,
	"SerializationException": Invalid,
}

// Classify sorts err into a Class. The rules, first match wins:
//  1. a class given with Mark;
//  2. cancellation and deadlines are Transient (the caller gave up, not the service);
//  3. an AWS error by its code (see awsCodes), else by its fault side;
//  4. an SMTP reply (net/textproto, or any error with an int ErrorCode such as go-mail's):
//     4xx Transient (421, 450–452 Throttled), 5xx Invalid (530, 535 Denied);
//  5. an HTTP response (any error with a StatusCode() int): 429 Throttled, 408 Transient,
//     401/403 Denied, 404/410 NotFound, 409 Conflict, other 4xx Invalid, 5xx Transient;
//  6. network errors and anything else: Transient.
//
// Classify(nil) is Transient; callers check err != nil first.
func Classify(err error) Class {
	if err == nil {
		return Transient
	}
	if c, ok := errors.AsType[*classified](err); ok {
		return c.class
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		if c, ok := awsCodes[ae.ErrorCode()]; ok {
			return c
		}
		if strings.Contains(ae.ErrorCode(), "Throttl") {
			return Throttled
		}
		if ae.ErrorFault() == smithy.FaultClient {
			return Invalid
		}
		return Transient
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return smtpClass(te.Code)
	}
	if se, ok := errors.AsType[interface {
		error
		ErrorCode() int
	}](err); ok && se.ErrorCode() != 0 {
		return smtpClass(se.ErrorCode())
	}
	if he, ok := errors.AsType[interface {
		error
		StatusCode() int
	}](err); ok {
		return httpClass(he.StatusCode())
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return Transient
	}
	return Transient
}

func smtpClass(code int) Class {
	switch {
	case code == 421 || (code >= 450 && code <= 452):
		return Throttled
	case code >= 400 && code < 500:
		return Transient
	case code == 530 || code == 535:
		return Denied
	case code >= 500 && code < 600:
		return Invalid
	}
	return Transient
}

func httpClass(code int) Class {
	switch {
	case code == 429:
		return Throttled
	case code == 408:
		return Transient
	case code == 401 || code == 403:
		return Denied
	case code == 404 || code == 410:
		return NotFound
	case code == 409:
		return Conflict
	case code >= 400 && code < 500:
		return Invalid
	}
	return Transient
}

// Retryable reports whether the call that returned err may succeed if repeated as it is.
func Retryable(err error) bool { return err != nil && Classify(err).Retryable() }

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return err != nil && Classify(err) == NotFound }

// Schedule is the retry schedule: after failed attempt n (1 for the first) wait Base·2^(n-1),
// at most Max. A Throttled failure waits as if it were two attempts later (4× longer), because
// the service asked for less traffic. There is no jitter: the next attempt is data in the store
// and tests read it.
type Schedule struct {
	Base, Max time.Duration
}

// Delay returns how long to wait after failed attempt number attempt of class c.
func (s Schedule) Delay(attempt int, c Class) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if c == Throttled {
		attempt += 2
	}
	d := s.Base
	for i := 1; i < attempt && d < s.Max; i++ {
		d *= 2
	}
	return min(d, s.Max)
}

// The schedules deskpilot uses. Every consumer picks one of these; none invents its own.
var (
	// Loop is for a whole component's pass (a rollout pass, a reset pass, an outbox read):
	// 1 s, 2 s, 4 s … 1 min.
	Loop = Schedule{Base: time.Second, Max: time.Minute}
	// Call is for one resource's AWS call (a fleet's UpdateFleet, a WorkSpace's rebuild), on
	// top of the SDK's own quick retries: 10 s, 20 s, 40 s … 5 min.
	Call = Schedule{Base: 10 * time.Second, Max: 5 * time.Minute}
	// Delivery is for one notice to one channel: 30 s, 1 min, 2 min … 30 min.
	Delivery = Schedule{Base: 30 * time.Second, Max: 30 * time.Minute}
)
