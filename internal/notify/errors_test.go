package notify

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	mail "github.com/wneessen/go-mail"

	"github.com/deskpilot/deskpilot/internal/fault"
)

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("connection reset"), false},
		{"marked", Permanent(errors.New("bad notice")), true},
		{"marked and wrapped", fmt.Errorf("ses: %w", Permanent(errors.New("x"))), true},
		{"marked nil", Permanent(nil), false},
		{"marked not found", fault.Mark(errors.New("gone"), fault.NotFound), true},
		{"deadline", fmt.Errorf("smtp: %w", context.DeadlineExceeded), false},
		{"canceled", context.Canceled, false},
		{"smtp 550", &textproto.Error{Code: 550, Msg: "no such user"}, true},
		{"smtp 421", &textproto.Error{Code: 421, Msg: "closing"}, false},
		// Denied: an operator can clear these without touching the message, so the mail waits.
		{"smtp 535", &textproto.Error{Code: 535, Msg: "5.7.8 bad credentials"}, false},
		{"smtp 530", &textproto.Error{Code: 530, Msg: "5.7.0 authentication required"}, false},
		{"webhook 403", fmt.Errorf("webhook: %w", &statusError{code: 403}), false},
		{"webhook 401", &statusError{code: 401}, false},
		{"ses account suspended", &types.AccountSuspendedException{}, false},
		{"ses sending paused", &types.SendingPausedException{}, false},
		{"ses mail from not verified", &types.MailFromDomainNotVerifiedException{}, false},
		{"expired credentials", &smithy.GenericAPIError{Code: "ExpiredTokenException", Fault: smithy.FaultClient}, false},
		{"webhook 400", &statusError{code: 400}, true},
		{"webhook 404", &statusError{code: 404}, true},
		{"webhook 408", &statusError{code: 408}, false},
		{"webhook 409", &statusError{code: 409}, false},
		{"webhook 429", &statusError{code: 429}, false},
		{"webhook 503", &statusError{code: 503}, false},
		{"webhook 304", &statusError{code: 304}, false},
		{"ses rejected, joined", errors.Join(errors.New("a"), &types.MessageRejected{}), true},
		{"ses not found", &types.NotFoundException{}, true},
		{"ses throttled", &types.TooManyRequestsException{}, false},
		{"ses internal", &types.InternalServiceErrorException{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPermanent(tc.err); got != tc.want {
				t.Errorf("IsPermanent(%v) = %v (class %s), want %v", tc.err, got, fault.Classify(tc.err), tc.want)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	want := map[fault.Class]bool{
		fault.Transient: true, fault.Throttled: true, fault.Conflict: true,
		fault.Denied:   true, // the one departure from fault's Retryable; see retryable
		fault.NotFound: false, fault.Invalid: false,
	}
	for c, w := range want {
		if got := retryable(c); got != w {
			t.Errorf("retryable(%s) = %v, want %v", c, got, w)
		}
	}
}

func TestMarkMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want fault.Class
	}{
		{"no sender", &mail.SendError{Reason: mail.ErrGetSender}, fault.Invalid},
		{"no recipients, joined", errors.Join(&mail.SendError{Reason: mail.ErrGetRcpts}), fault.Invalid},
		{"8BITMIME missing", &mail.SendError{Reason: mail.ErrNoUnencoded}, fault.Invalid},
		// The connection check failing says nothing about the message.
		{"connection check", &mail.SendError{Reason: mail.ErrConnCheck}, fault.Transient},
		{"not a SendError", errors.New("dial tcp: connection refused"), fault.Transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.Classify(markMessageErrors(tc.err)); got != tc.want {
				t.Errorf("Classify(markMessageErrors(%v)) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}
