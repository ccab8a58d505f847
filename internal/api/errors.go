package api

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Error codes: the "code" of every error answer. Each goes with one HTTP status.
const (
	CodeBadRequest       = "bad_request"        // 400: a malformed request (bad id, query or body)
	CodeUnauthorized     = "unauthorized"       // 401: the bearer token is missing or wrong
	CodeForbidden        = "forbidden"          // 403: the daemon has no token, so the endpoint is off
	CodeNotFound         = "not_found"          // 404: no such endpoint, rollout or image
	CodeMethodNotAllowed = "method_not_allowed" // 405: see the Allow header
	CodeConflict         = "conflict"           // 409: the request does not apply now (the message says why)
	CodeUnavailable      = "unavailable"        // 503: AWS could not be read
	CodeInternal         = "internal"           // 500: anything else
)

// codeOf is the code that goes with each status.
var codeOf = map[int]string{
	400: CodeBadRequest, 401: CodeUnauthorized, 403: CodeForbidden, 404: CodeNotFound,
	405: CodeMethodNotAllowed, 409: CodeConflict, 503: CodeUnavailable, 500: CodeInternal,
}

// Error is an error answer of the API: the HTTP status, the code and the server's message.
// The server answers it as {"error": {"code": ..., "message": ...}}; the Client returns it for
// every answer that is not a success. A dependency of the Server may return one (wrapped or
// not) to choose the answer itself.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Errorf returns an *Error with status, its code, and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	code, ok := codeOf[status]
	if !ok {
		code = CodeInternal
	}
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error is the message, with what to do about a rejected token.
func (e *Error) Error() string {
	if e.Status == 401 {
		return e.Message + "; set DESKPILOT_TOKEN (or --token) to the daemon's token (its server.token or DESKPILOT_TOKEN)"
	}
	if e.Message == "" {
		return fmt.Sprintf("deskpilot answered %d %s", e.Status, e.Code)
	}
	return e.Message
}

// IsNotFound reports whether err is an API answer 404.
func IsNotFound(err error) bool { return statusOf(err) == 404 }

// IsConflict reports whether err is an API answer 409.
func IsConflict(err error) bool { return statusOf(err) == 409 }

func statusOf(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return 0
}

// UnreachableError is the Client's error when the daemon could not be reached at all.
type UnreachableError struct {
	// URL is the daemon's base URL.
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	cause := e.Err
	if ue, ok := errors.AsType[*url.Error](cause); ok {
		cause = ue.Err // it repeats the method and URL
	}
	return fmt.Sprintf("cannot reach deskpilot at %s: %v; is \"deskpilot serve\" running? set --server or DESKPILOT_SERVER",
		strings.TrimSuffix(e.URL, "/"), cause)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
