// Package wire holds the pieces of the AWS wire protocols that every emulated service shares:
// request ids, epoch-second timestamps, and the error shapes of the JSON, rest-JSON and query
// protocols. It knows nothing about any one service.
package wire

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Protocol names an AWS wire protocol, because errors and content types differ between them.
type Protocol int

const (
	// JSON10 is awsJson1_0 (SQS).
	JSON10 Protocol = iota
	// JSON11 is awsJson1_1 (AppStream, WorkSpaces, Application Auto Scaling).
	JSON11
	// RestJSON is restJson1 (SESv2).
	RestJSON
	// Query is the awsQuery protocol (SES v1, SNS, STS): form-encoded requests, XML responses.
	Query
)

// ContentType is the response content type AWS uses for the protocol.
func (p Protocol) ContentType() string {
	switch p {
	case JSON10:
		return "application/x-amz-json-1.0"
	case JSON11:
		return "application/x-amz-json-1.1"
	case RestJSON:
		return "application/json"
	default:
		return "text/xml"
	}
}

// RequestID returns a fresh request id in the UUID form AWS uses.
func RequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return UUID(b)
}

// UUID formats 16 random bytes as a version 4 UUID.
func UUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ErrorCoder is implemented by the sim's response writer so that a handler can tell the call log
// which error code it answered with, whatever the protocol's error shape.
type ErrorCoder interface {
	NoteErrorCode(code string)
}

// NoteError records code as the error of the call being answered on w, when w keeps such notes.
func NoteError(w http.ResponseWriter, code string) {
	if ec, ok := w.(ErrorCoder); ok {
		ec.NoteErrorCode(code)
	}
}

// Error is an AWS service error as a value: a code, a message and the HTTP status AWS sends.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an HTTP 400 service error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// StatusFor returns the HTTP status AWS uses for a well-known error code, so that injected faults
// look exactly like the real ones. Unknown codes are client errors (400).
func StatusFor(code string) int {
	switch code {
	case "TooManyRequestsException", "Throttled":
		return http.StatusTooManyRequests
	case "InternalFailure", "InternalServerError", "InternalServiceException", "InternalError", "ServiceFailure":
		return http.StatusInternalServerError
	case "ServiceUnavailable", "ServiceUnavailableException":
		return http.StatusServiceUnavailable
	case "NotFoundException":
		return http.StatusNotFound
	case "AccessDeniedException":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// WriteJSON writes a successful JSON-protocol response.
func WriteJSON(w http.ResponseWriter, p Protocol, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteJSONError(w, p, &Error{Code: "InternalFailure", Message: err.Error(), Status: 500})
		return
	}
	h := w.Header()
	h.Set("Content-Type", p.ContentType())
	ensureRequestID(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// WriteJSONError writes an error in the shape of the JSON and rest-JSON protocols:
// `{"__type": code, "message": …}` with the X-Amzn-ErrorType header, as AWS does.
func WriteJSONError(w http.ResponseWriter, p Protocol, e *Error) {
	NoteError(w, e.Code)
	h := w.Header()
	h.Set("Content-Type", p.ContentType())
	h.Set("X-Amzn-ErrorType", e.Code)
	ensureRequestID(h)
	status := e.Status
	if status == 0 {
		status = StatusFor(e.Code)
	}
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	_, _ = w.Write(body)
}

// WriteQueryError writes an error in the shape of the query protocol. xmlns is the service's
// namespace, such as "http://ses.amazonaws.com/doc/2010-12-01/".
func WriteQueryError(w http.ResponseWriter, xmlns string, e *Error) {
	NoteError(w, e.Code)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	id := ensureRequestID(h)
	status := e.Status
	if status == 0 {
		status = StatusFor(e.Code)
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	w.WriteHeader(status)
	type errorXML struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type responseXML struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     errorXML `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}
	out, _ := xml.Marshal(responseXML{Xmlns: xmlns, Error: errorXML{fault, e.Code, e.Message}, RequestID: id})
	_, _ = w.Write(append([]byte(xml.Header), out...))
}

// WriteQuery writes a successful query-protocol response: v marshalled as XML (v's XMLName and
// namespace are the caller's), with the request id header set.
func WriteQuery(w http.ResponseWriter, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		WriteQueryError(w, "", &Error{Code: "InternalFailure", Message: err.Error(), Status: 500})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	ensureRequestID(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append([]byte(xml.Header), out...))
}

// ensureRequestID sets x-amzn-RequestId unless the router already did, and returns it.
func ensureRequestID(h http.Header) string {
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return id
	}
	id := RequestID()
	h.Set("X-Amzn-Requestid", id)
	return id
}

// Time is a timestamp that marshals as epoch seconds (a JSON number with milliseconds), the only
// form the JSON protocols accept.
type Time time.Time

// MarshalJSON writes epoch seconds with millisecond precision.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads epoch seconds (integer or fractional), as the SDK sends them.
func (t *Time) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	sec, frac := math.Modf(f)
	*t = Time(time.Unix(int64(sec), int64(frac*1e9)).UTC())
	return nil
}

// TimePtr returns a pointer to t as a wire Time, or nil for the zero time, so that absent
// timestamps are omitted rather than sent as 1970.
func TimePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	wt := Time(t)
	return &wt
}
