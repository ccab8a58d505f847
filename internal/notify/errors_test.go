package notify

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
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
		{"deadline", fmt.Errorf("smtp: %w", context.DeadlineExceeded), false},
		{"canceled", context.Canceled, false},
		{"smtp 550", &textproto.Error{Code: 550, Msg: "no such user"}, true},
		{"smtp 421", &textproto.Error{Code: 421, Msg: "closing"}, false},
		{"webhook 403", fmt.Errorf("webhook: %w", &statusError{code: 403}), true},
		{"webhook 408", &statusError{code: 408}, false},
		{"webhook 429", &statusError{code: 429}, false},
		{"webhook 503", &statusError{code: 503}, false},
		{"webhook 304", &statusError{code: 304}, false},
		{"ses rejected, joined", errors.Join(errors.New("a"), &types.MessageRejected{}), true},
		{"ses throttled", &types.TooManyRequestsException{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPermanent(tc.err); got != tc.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
