package fault

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

type httpErr int

func (e httpErr) Error() string   { return fmt.Sprintf("HTTP %d", int(e)) }
func (e httpErr) StatusCode() int { return int(e) }

type smtpCodeErr int

func (e smtpCodeErr) Error() string  { return fmt.Sprintf("SMTP %d", int(e)) }
func (e smtpCodeErr) ErrorCode() int { return int(e) }

func TestClassify(t *testing.T) {
	aws := func(code string, f smithy.ErrorFault) error {
		return fmt.Errorf("operation: %w", &smithy.GenericAPIError{Code: code, Message: "m", Fault: f})
	}
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"throttling", aws("ThrottlingException", smithy.FaultClient), Throttled},
		{"unknown throttle-like code", aws("BandwidthThrottled", smithy.FaultClient), Throttled},
		{"server fault", aws("InternalServerError", smithy.FaultServer), Transient},
		{"unknown server code", aws("WeirdServerThing", smithy.FaultServer), Transient},
		{"unknown code, no side", aws("WeirdThing", smithy.FaultUnknown), Transient},
		{"unknown client code", aws("WeirdClientThing", smithy.FaultClient), Invalid},
		{"not found", aws("ResourceNotFoundException", smithy.FaultClient), NotFound},
		{"denied", aws("AccessDeniedException", smithy.FaultClient), Denied},
		{"validation", aws("ValidationException", smithy.FaultClient), Invalid},
		{"incompatible image", aws("IncompatibleImageException", smithy.FaultClient), Invalid},
		{"concurrent update", aws("ConcurrentModificationException", smithy.FaultClient), Conflict},
		{"marked", Mark(errors.New("bad notice"), Invalid), Invalid},
		{"marked, wrapped", fmt.Errorf("send: %w", Mark(aws("ThrottlingException", smithy.FaultClient), Denied)), Denied},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), Transient},
		{"smtp 550", &textproto.Error{Code: 550, Msg: "no such user"}, Invalid},
		{"smtp 451", &textproto.Error{Code: 451, Msg: "try later"}, Throttled},
		{"smtp 535 via ErrorCode", smtpCodeErr(535), Denied},
		{"smtp 421 via ErrorCode", smtpCodeErr(421), Throttled},
		{"http 429", httpErr(429), Throttled},
		{"http 403", httpErr(403), Denied},
		{"http 404", httpErr(404), NotFound},
		{"http 400", httpErr(400), Invalid},
		{"http 503", httpErr(503), Transient},
		{"plain error", errors.New("connection reset"), Transient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Classify(c.err); got != c.want {
				t.Errorf("Classify(%v) = %s, want %s", c.err, got, c.want)
			}
		})
	}
}

func TestClass_Retryable(t *testing.T) {
	want := map[Class]bool{Transient: true, Throttled: true, Conflict: true, NotFound: false, Denied: false, Invalid: false}
	for c, w := range want {
		if c.Retryable() != w {
			t.Errorf("%s.Retryable() = %v, want %v", c, !w, w)
		}
	}
	if Retryable(nil) {
		t.Error("Retryable(nil) = true")
	}
}

func TestSchedule_Delay(t *testing.T) {
	s := Schedule{Base: time.Second, Max: time.Minute}
	cases := []struct {
		attempt int
		class   Class
		want    time.Duration
	}{
		{0, Transient, time.Second},
		{1, Transient, time.Second},
		{2, Transient, 2 * time.Second},
		{4, Transient, 8 * time.Second},
		{7, Transient, time.Minute},
		{100, Transient, time.Minute},
		{1, Throttled, 4 * time.Second},
		{5, Throttled, time.Minute},
	}
	for _, c := range cases {
		if got := s.Delay(c.attempt, c.class); got != c.want {
			t.Errorf("Delay(%d, %s) = %s, want %s", c.attempt, c.class, got, c.want)
		}
	}
}
