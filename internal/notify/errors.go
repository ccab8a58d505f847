package notify

import (
	"context"
	"errors"
	"net/textproto"

	"github.com/aws/smithy-go"
	mail "github.com/wneessen/go-mail"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix, so IsPermanent reports
// true for it and for any error wrapping it. It returns nil for a nil err.
// Senders outside this package use it; the senders here also rely on
// IsPermanent recognising SMTP, SES and HTTP errors by their codes.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// sesPermanent lists the SES v2 error codes for which sending the same
// message again cannot succeed. Codes that an operator can clear without
// touching the message (AccountSuspendedException, SendingPausedException,
// LimitExceededException, TooManyRequestsException) are deliberately
// absent: the delivery waits on the backoff schedule and goes out once the
// account can send again.
var sesPermanent = map[string]bool{
	"MessageRejected":                    true,
	"BadRequestException":                true,
	"NotFoundException":                  true,
	"MailFromDomainNotVerifiedException": true,
}

// IsPermanent reports whether retrying the send that returned err cannot
// help. Anything it does not recognise is temporary, so a notice is retried
// rather than lost:
//   - errors marked with Permanent, and invalid notices or addresses;
//   - SMTP replies: 5xx is permanent, 4xx temporary;
//   - webhook responses: 4xx is permanent except 408 and 429, others temporary;
//   - SES: MessageRejected, BadRequest, NotFound and an unverified MAIL FROM
//     domain are permanent; throttling, quotas and 5xx faults are temporary;
//   - cancellation and deadlines are temporary.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := errors.AsType[*permanentError](err); ok {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if se, ok := errors.AsType[*mail.SendError](err); ok {
		// go-mail keeps the SMTP reply code; reasons without one are local
		// problems with the message itself.
		if code := se.ErrorCode(); code != 0 {
			return code >= 500 && code < 600
		}
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return true
		}
		return false
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return te.Code >= 500 && te.Code < 600
	}
	if he, ok := errors.AsType[*statusError](err); ok {
		return he.permanent()
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return sesPermanent[ae.ErrorCode()]
	}
	return false
}
