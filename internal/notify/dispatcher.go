package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// Sender delivers a Notice through one channel. Send must honour ctx's
// deadline, be safe for concurrent use (a Send abandoned after its timeout
// may still be running when the next starts), and return an error that
// fault.Classify sorts: the protocol's own error (an SMTP reply, an AWS error,
// anything with a StatusCode() int), or one marked with fault.Mark (or
// Permanent) where that says too little. IsPermanent then tells whether the
// Dispatcher retries. Send must carry the notice's ID where the receiver can
// see it (HeaderNotice, and MessageID for mail where the service keeps it), so
// that a resend can be recognised.
type Sender interface {
	// Name identifies the sender in Delivery.Sender; it must be stable
	// across restarts and unique among the Dispatcher's senders.
	Name() string
	Send(ctx context.Context, n Notice) error
}

// Outbox is the durable queue of deliveries the Dispatcher drains. The store
// implements it; enqueueing (one Delivery per notice and sender, in the same
// transaction as the state change the notice describes) is the store's job.
// The Dispatcher calls it from one goroutine at a time.
type Outbox interface {
	// Due returns up to limit undelivered deliveries whose next attempt is at
	// or before now, and that have not failed permanently, oldest first.
	Due(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// MarkSent records that delivery id was sent at at; it is never due again.
	MarkSent(ctx context.Context, id int64, at time.Time) error
	// MarkFailed records failed attempt number attempt of delivery id. Unless
	// permanent, the delivery is due again at next; if permanent, never.
	MarkFailed(ctx context.Context, id int64, attempt int, next time.Time, lastErr string, permanent bool) error
}

// Delivery is one notice to be sent by one sender.
type Delivery struct {
	ID int64
	// Sender is the Name of the Sender that must send it.
	Sender string
	Notice Notice
	// Attempt is the number of attempts already made: 0 for a new delivery.
	Attempt int
}

// Defaults of a Dispatcher.
const (
	// DefaultSendTimeout bounds one Sender.Send call.
	DefaultSendTimeout = 30 * time.Second
	// DefaultBatchSize is how many deliveries Flush asks the outbox for at once.
	DefaultBatchSize = 100
	// markTimeout bounds recording a result when the caller's context has
	// been cancelled; a sent notice must be marked or it is sent again.
	markTimeout = 5 * time.Second
)

// Dispatcher sends the deliveries in an Outbox through its Senders and
// records each result. Call Flush periodically, and after enqueueing.
type Dispatcher struct {
	// SendTimeout bounds each Send; zero or less means DefaultSendTimeout.
	SendTimeout time.Duration
	// BatchSize is the limit passed to Outbox.Due; zero or less means
	// DefaultBatchSize.
	BatchSize int
	// OnFailure, if set, is told of each failed attempt: the sender and the error's class
	// (for the metrics).
	OnFailure func(sender, class string)

	box     Outbox
	senders map[string]Sender
	now     func() time.Time
	log     *slog.Logger
}

// NewDispatcher returns a Dispatcher draining box through senders. now is the
// clock (time.Now when nil) and logger receives one line per failure (nothing
// is logged when nil). A sender whose name repeats an earlier one is ignored
// and logged, since deliveries could not tell them apart.
func NewDispatcher(box Outbox, senders []Sender, now func() time.Time, logger *slog.Logger) *Dispatcher {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		SendTimeout: DefaultSendTimeout,
		BatchSize:   DefaultBatchSize,
		box:         box,
		senders:     make(map[string]Sender, len(senders)),
		now:         now,
		log:         logger,
	}
	for _, s := range senders {
		if _, dup := d.senders[s.Name()]; dup {
			logger.Error("notify: duplicate sender name; ignoring the later one", "sender", s.Name())
			continue
		}
		d.senders[s.Name()] = s
	}
	return d
}

// result is the outcome of one delivery attempt.
type result struct {
	d   Delivery
	err error
}

// Flush makes one pass over the outbox:
//  1. take the deliveries due now, a batch at a time;
//  2. send them, each sender's in order in its own goroutine, so a slow or
//     failing sender never holds up another;
//  3. mark each sent, or failed with its next attempt on the fault.Delivery
//     schedule for the error's class, or failed for good when IsPermanent.
//
// It returns how many deliveries were sent and how many failed. err reports
// only outbox failures; send failures are recorded in the outbox and logged.
//
// When ctx ends, Flush starts no more sends; the deliveries not started stay
// due, untouched. A send that had started and was cut short by ctx counts as a
// failed attempt and waits its backoff like any other: the receiver may well
// have accepted the message before the answer was lost, and leaving it due
// would send it again at every pass.
func (d *Dispatcher) Flush(ctx context.Context) (sent, failed int, err error) {
	now := d.now()
	seen := make(map[int64]bool)
	var errs []error
	for ctx.Err() == nil {
		batch, err := d.box.Due(ctx, now, d.batchSize())
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: read due deliveries: %w", err))
			break
		}
		// A delivery whose mark failed would come back; never send it twice
		// in one pass.
		fresh := batch[:0:0]
		for _, dl := range batch {
			if !seen[dl.ID] {
				seen[dl.ID] = true
				fresh = append(fresh, dl)
			}
		}
		if len(fresh) == 0 {
			break
		}
		for r := range d.send(ctx, fresh) {
			switch o, err := d.record(ctx, r); {
			case err != nil:
				errs = append(errs, err)
			case o == outcomeSent:
				sent++
			case o == outcomeFailed:
				failed++
			}
		}
		if len(batch) < d.batchSize() {
			break
		}
	}
	return sent, failed, errors.Join(errs...)
}

func (d *Dispatcher) batchSize() int {
	if d.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return d.BatchSize
}

// send starts one goroutine per sender and returns the results as they come.
func (d *Dispatcher) send(ctx context.Context, batch []Delivery) <-chan result {
	var order []string
	bySender := make(map[string][]Delivery)
	for _, dl := range batch {
		if _, ok := bySender[dl.Sender]; !ok {
			order = append(order, dl.Sender)
		}
		bySender[dl.Sender] = append(bySender[dl.Sender], dl)
	}
	out := make(chan result, len(batch))
	done := make(chan struct{})
	for _, name := range order {
		go func(dls []Delivery) {
			defer func() { done <- struct{}{} }()
			for _, dl := range dls {
				if ctx.Err() != nil {
					return // the rest never started: they stay due, untouched
				}
				err := d.sendOne(ctx, dl)
				out <- result{d: dl, err: err}
			}
		}(bySender[name])
	}
	go func() {
		for range order {
			<-done
		}
		close(out)
	}()
	return out
}

// sendOne sends one delivery within SendTimeout. A Send that ignores its
// context is abandoned when the timeout passes, and a panic becomes an error.
func (d *Dispatcher) sendOne(ctx context.Context, dl Delivery) error {
	s, ok := d.senders[dl.Sender]
	if !ok {
		// Temporary: the sender may be configured again after a restart.
		return fmt.Errorf("no sender named %q is configured", dl.Sender)
	}
	timeout := d.SendTimeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				res <- fmt.Errorf("sender %q panicked: %v", dl.Sender, p)
			}
		}()
		res <- s.Send(ctx, dl.Notice)
	}()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		select {
		case err := <-res: // finished just in time
			return err
		default:
			return fmt.Errorf("sender %q: %w", dl.Sender, ctx.Err())
		}
	}
}

// outcome is what record made of a result.
type outcome int

const (
	outcomeSent   outcome = iota
	outcomeFailed         // recorded as a failed attempt
)

// record writes r to the outbox. Every result is an attempt: sends that never
// started produce no result.
func (d *Dispatcher) record(ctx context.Context, r result) (outcome, error) {
	dl, at := r.d, d.now()
	log := d.log.With("delivery", dl.ID, "sender", dl.Sender, "notice", dl.Notice.ID)
	// Record the result even if ctx was cancelled meanwhile: an unmarked
	// notice is sent again after the restart.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if r.err == nil {
		if err := d.box.MarkSent(mctx, dl.ID, at); err != nil {
			return outcomeSent, fmt.Errorf("notify: mark delivery %d sent: %w", dl.ID, err)
		}
		log.Debug("notify: sent")
		return outcomeSent, nil
	}
	attempt := dl.Attempt + 1
	class := fault.Classify(r.err)
	permanent := !retryable(class)
	next := retryAt(attempt, class, at)
	if d.OnFailure != nil {
		d.OnFailure(dl.Sender, class.String())
	}
	if err := d.box.MarkFailed(mctx, dl.ID, attempt, next, r.err.Error(), permanent); err != nil {
		return outcomeFailed, fmt.Errorf("notify: mark delivery %d failed: %w", dl.ID, err)
	}
	log = log.With("attempt", attempt, "class", class.String(), "err", r.err)
	switch {
	case permanent:
		log.Error("notify: delivery failed for good")
	case ctx.Err() != nil:
		// The caller ended the flush (the daemon is shutting down), not
		// the receiver's doing; but the message may have gone out, so it
		// waits its backoff rather than going again at the next pass.
		log.Warn("notify: send cut short by the caller (shutdown); it may have been delivered; will retry", "next", next)
	case class == fault.Denied:
		log.Error("notify: delivery refused (credentials, account or permission); will retry until a person fixes it", "next", next)
	default:
		log.Warn("notify: delivery failed; will retry", "next", next)
	}
	return outcomeFailed, nil
}
