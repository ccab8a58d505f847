package tagevent

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Message is one SQS message as the queue returned it.
type Message struct {
	// ID is SQS's MessageId.
	ID string
	// Receipt is the receipt handle that deletes it.
	Receipt string
	Body    string
	// Receives is SQS's ApproximateReceiveCount: above 1, an earlier receive did not delete it.
	Receives int
}

// Queue is the SQS queue the EventBridge rule fills.
type Queue interface {
	// Receive waits up to wait (rounded down to whole seconds, at most SQS's 20) for up to ten
	// messages; it may return none.
	Receive(ctx context.Context, wait time.Duration) ([]Message, error)
	// Delete removes a message that was handled (or can never be).
	Delete(ctx context.Context, receipt string) error
}

// Images is what an event asks for: reconcile one image with its tags, as the scan would.
type Images interface {
	ScanImage(ctx context.Context, name string) error
}

// Seen remembers the events already handled, so that one delivered twice (SQS delivers at least
// once) or sent again by hand is recognised and logged as a replay.
type Seen interface {
	// MarkSeen records id and reports whether it was recorded before.
	MarkSeen(ctx context.Context, id string, at time.Time) (seen bool, err error)
	// Forget removes id again, when its handling failed and must be retried.
	Forget(ctx context.Context, id string) error
}

// Outcomes of a message, as Observer and the log name them.
const (
	OutcomeHandled   = "handled"   // an image was reconciled
	OutcomeIgnored   = "ignored"   // a valid event that cannot change a rollout (a fleet's tags, other keys, a failed call)
	OutcomeMalformed = "malformed" // not an AppStream tag event
	OutcomeForeign   = "foreign"   // an event of another account or region
	OutcomeReplayed  = "replayed"  // an event already handled
	OutcomeFailed    = "failed"    // reconciling failed; the message comes back after its visibility timeout
)

// Observer is told what became of each message; lag is from the call to the image's
// reconciliation (handled messages only).
type Observer interface {
	TagEvent(outcome string, lag time.Duration)
}

// Listener turns the queue's events into image reconciliations. Only events of its account and
// region are acted on: a rollout never crosses either.
type Listener struct {
	Queue   Queue
	Images  Images
	Seen    Seen
	Account string
	Region  string
	// Keys are the image tag keys of the rollout protocol; events touching none are ignored.
	// Nil means every key.
	Keys     []string
	Observer Observer // may be nil
	Now      func() time.Time
	Log      *slog.Logger
}

// Pass receives one batch, waiting up to wait for it (a long poll), and handles each message.
// It returns an error only when the queue could not be read; each message's own trouble is
// logged and counted.
func (l *Listener) Pass(ctx context.Context, wait time.Duration) error {
	msgs, err := l.Queue.Receive(ctx, wait)
	if err != nil {
		return fmt.Errorf("receive tag events: %w", err)
	}
	for _, m := range msgs {
		l.handle(ctx, m)
	}
	return nil
}

func (l *Listener) handle(ctx context.Context, m Message) {
	log := l.Log.With("message_id", m.ID)
	outcome, e := l.decide(ctx, m, log)
	if outcome != OutcomeFailed {
		if err := l.Queue.Delete(ctx, m.Receipt); err != nil {
			// It comes back after its visibility timeout and is then recognised as a replay.
			log.Warn("could not delete a handled tag event from the queue", "err", err)
		}
	}
	var lag time.Duration
	if outcome == OutcomeHandled {
		lag = l.Now().Sub(e.Time)
	}
	if l.Observer != nil {
		l.Observer.TagEvent(outcome, lag)
	}
}

func (l *Listener) decide(ctx context.Context, m Message, log *slog.Logger) (string, Event) {
	e, err := Parse([]byte(m.Body))
	if err != nil {
		log.Warn("ignored a message that is not an AppStream tag event", "err", err, "bytes", len(m.Body))
		return OutcomeMalformed, e
	}
	log = log.With("event_id", e.ID, "event", e.Name, "resource", e.ResourceARN)
	if e.Account != l.Account || e.Region != l.Region {
		log.Warn("ignored a tag event of another account or region", "account", e.Account, "region", e.Region,
			"want_account", l.Account, "want_region", l.Region)
		return OutcomeForeign, e
	}
	if !e.Concerns(l.Keys) {
		log.Debug("ignored a tag event that cannot change a rollout", "keys", e.Keys, "failed", e.Failed)
		return OutcomeIgnored, e
	}
	seen, err := l.Seen.MarkSeen(ctx, "tag-event:"+e.ID, l.Now())
	if err != nil {
		log.Warn("could not record a tag event; it comes back later", "err", err)
		return OutcomeFailed, e
	}
	if seen {
		log.Warn("ignored a tag event handled before (replayed)", "receives", m.Receives)
		return OutcomeReplayed, e
	}
	if err := l.Images.ScanImage(ctx, e.Image); err != nil {
		if ferr := l.Seen.Forget(ctx, "tag-event:"+e.ID); ferr != nil {
			log.Warn("could not forget a failed tag event; the next scan covers it", "err", ferr)
		}
		log.Warn("could not reconcile the image of a tag event; it comes back after its visibility timeout", "image", e.Image, "err", err)
		return OutcomeFailed, e
	}
	log.Info("reconciled an image on its tag event", "image", e.Image, "keys", e.Keys, "lag", l.Now().Sub(e.Time).Round(time.Millisecond))
	return OutcomeHandled, e
}
