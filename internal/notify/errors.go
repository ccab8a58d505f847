package notify

import (
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// Permanent marks err as one that retrying cannot fix: it is fault.Mark(err, fault.Invalid),
// so IsPermanent reports true for it and for any error wrapping it. It returns nil for a nil
// err. Senders outside this package may use it, or fault.Mark directly; the senders here
// otherwise leave their errors as the protocol returned them, for fault.Classify to sort.
func Permanent(err error) error { return fault.Mark(err, fault.Invalid) }

// IsPermanent reports whether the Dispatcher gives up on a delivery whose send returned err,
// rather than retrying it on the backoff schedule. It is !retryable(fault.Classify(err)):
//   - Invalid (a malformed notice or address, an SMTP 5xx reply other than 530 and 535, SES
//     MessageRejected or BadRequest, a webhook 4xx not listed below) and NotFound (SES
//     NotFoundException, a webhook 404 or 410) are permanent;
//   - everything else is retried: network errors, timeouts, cancellation, SMTP 4xx, webhook
//     408, 409, 429 and 5xx, SES throttling and quotas, anything unrecognised, and Denied
//     (see retryable for why).
func IsPermanent(err error) bool {
	return err != nil && !retryable(fault.Classify(err))
}

// retryable is the delivery policy: which classes of failure the Dispatcher retries.
//
// It is fault's Retryable plus Denied. fault calls Denied not retryable because repeating the
// call cannot help until a person acts; for a notice that is exactly the case in which giving up
// loses it. The conditions behind Denied (a suspended SES account, paused sending, an unverified
// MAIL FROM domain, an expired or wrong credential, an SMTP 535 or 530, a webhook 401 or 403)
// are all cleared by an operator without touching the message, and the mail that piled up
// meanwhile (often the very notices explaining what went wrong) must then go out. Retrying
// costs one request per delivery per backoff period, at most every 30 min.
func retryable(c fault.Class) bool { return c.Retryable() || c == fault.Denied }

// The retry schedule, fault.Delivery's: after failed attempt n wait BackoffBase·2^(n-1), at
// most BackoffMax; a throttled attempt waits as if it were two attempts later.
const (
	BackoffBase = 30 * time.Second
	BackoffMax  = 30 * time.Minute
)

// NextAttempt returns when to retry after failed attempt number attempt (1 for the first) at
// now, for an ordinary (transient) failure: 30s, 1m, 2m, 4m, 8m, 16m, then every 30m. There is
// no jitter, so the schedule can be read from the outbox and tested.
func NextAttempt(attempt int, now time.Time) time.Time {
	return retryAt(attempt, fault.Transient, now)
}

// retryAt returns when to retry after failed attempt number attempt, of class c, at now.
func retryAt(attempt int, c fault.Class, now time.Time) time.Time {
	return now.Add(fault.Delivery.Delay(attempt, c))
}
