package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/fault"
)

func TestNextAttempt(t *testing.T) {
	now := time.Date(2025, 3, 11, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{-1, 30 * time.Second},
		{0, 30 * time.Second},
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{4, 4 * time.Minute},
		{5, 8 * time.Minute},
		{6, 16 * time.Minute},
		{7, 30 * time.Minute},
		{8, 30 * time.Minute},
		{100, 30 * time.Minute},
		{1 << 30, 30 * time.Minute},
	}
	if BackoffBase != fault.Delivery.Base || BackoffMax != fault.Delivery.Max {
		t.Errorf("BackoffBase, BackoffMax = %s, %s; want fault.Delivery's %s, %s",
			BackoffBase, BackoffMax, fault.Delivery.Base, fault.Delivery.Max)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			if got := NextAttempt(tc.attempt, now).Sub(now); got != tc.want {
				t.Errorf("NextAttempt(%d) = now+%s, want now+%s", tc.attempt, got, tc.want)
			}
		})
	}
}

// memOutbox is an in-memory Outbox with the semantics the store must have.
type memOutbox struct {
	mu      sync.Mutex
	rows    map[int64]*memRow
	dueErr  error
	markErr error
	dueCall int
}

type memRow struct {
	Delivery
	Next      time.Time
	SentAt    time.Time
	Permanent bool
	LastErr   string
}

func newMemOutbox(ds ...Delivery) *memOutbox {
	b := &memOutbox{rows: map[int64]*memRow{}}
	for _, d := range ds {
		b.rows[d.ID] = &memRow{Delivery: d}
	}
	return b
}

func (b *memOutbox) Due(_ context.Context, now time.Time, limit int) ([]Delivery, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dueCall++
	if b.dueErr != nil {
		return nil, b.dueErr
	}
	var out []Delivery
	for _, r := range b.rows {
		if r.SentAt.IsZero() && !r.Permanent && !r.Next.After(now) {
			out = append(out, r.Delivery)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (b *memOutbox) MarkSent(_ context.Context, id int64, at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.markErr != nil {
		return b.markErr
	}
	b.rows[id].SentAt = at
	return nil
}

func (b *memOutbox) MarkFailed(_ context.Context, id int64, attempt int, next time.Time, lastErr string, permanent bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.markErr != nil {
		return b.markErr
	}
	r := b.rows[id]
	r.Attempt, r.Next, r.LastErr, r.Permanent = attempt, next, lastErr, permanent
	return nil
}

func (b *memOutbox) row(id int64) memRow {
	b.mu.Lock()
	defer b.mu.Unlock()
	return *b.rows[id]
}

// fakeSender records what it sent and returns what its fn says.
type fakeSender struct {
	name string
	fn   func(ctx context.Context, n Notice) error
	mu   sync.Mutex
	sent []string
}

func (s *fakeSender) Name() string { return s.name }

func (s *fakeSender) Send(ctx context.Context, n Notice) error {
	var err error
	if s.fn != nil {
		err = s.fn(ctx, n)
	}
	if err == nil {
		s.mu.Lock()
		s.sent = append(s.sent, n.ID)
		s.mu.Unlock()
	}
	return err
}

func (s *fakeSender) sentIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2025, 3, 11, 2, 0, 0, 0, time.UTC)

func delivery(id int64, sender string) Delivery {
	return Delivery{ID: id, Sender: sender, Notice: Notice{
		ID: fmt.Sprintf("rollout/%d/started", id), Kind: "rollout.started", Subject: "started",
	}}
}

func flush(t *testing.T, d *Dispatcher) (sent, failed int) {
	t.Helper()
	sent, failed, err := d.Flush(context.Background())
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return sent, failed
}

func TestDispatcher_Flush_Success(t *testing.T) {
	box := newMemOutbox(delivery(1, "smtp"), delivery(2, "smtp"))
	s := &fakeSender{name: "smtp"}
	clk := &clock{t: t0}
	d := NewDispatcher(box, []Sender{s}, clk.now, nil)

	if sent, failed := flush(t, d); sent != 2 || failed != 0 {
		t.Errorf("Flush = %d sent, %d failed; want 2, 0", sent, failed)
	}
	if diff := gocmp.Diff([]string{"rollout/1/started", "rollout/2/started"}, s.sentIDs()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	for _, id := range []int64{1, 2} {
		if got := box.row(id).SentAt; !got.Equal(t0) {
			t.Errorf("delivery %d SentAt = %v, want %v", id, got, t0)
		}
	}
	// Nothing is due any more: a second pass sends nothing.
	if sent, failed := flush(t, d); sent != 0 || failed != 0 {
		t.Errorf("second Flush = %d sent, %d failed; want 0, 0", sent, failed)
	}
	if len(s.sentIDs()) != 2 {
		t.Errorf("a sent delivery was sent again")
	}
}

func TestDispatcher_Flush_TemporaryFailureReschedules(t *testing.T) {
	box := newMemOutbox(delivery(1, "webhook"))
	fail := true
	s := &fakeSender{name: "webhook", fn: func(context.Context, Notice) error {
		if fail {
			return &statusError{code: 503, body: "rejected"}
		}
		return nil
	}}
	clk := &clock{t: t0}
	d := NewDispatcher(box, []Sender{s}, clk.now, nil)

	// Each failure moves the next attempt out along NextAttempt's schedule.
	for attempt := 1; attempt <= 8; attempt++ {
		if sent, failed := flush(t, d); sent != 0 || failed != 1 {
			t.Fatalf("attempt %d: Flush = %d sent, %d failed; want 0, 1", attempt, sent, failed)
		}
		r := box.row(1)
		next := NextAttempt(attempt, clk.now())
		if r.Attempt != attempt || !r.Next.Equal(next) || r.Permanent || r.LastErr != "HTTP 503: rejected" {
			t.Fatalf("attempt %d: row = %+v, want attempt %d, next %v, temporary, HTTP 503", attempt, r, attempt, next)
		}
		// Just before the next attempt nothing is due.
		clk.advance(r.Next.Sub(clk.now()) - time.Second)
		if sent, failed := flush(t, d); sent+failed != 0 {
			t.Fatalf("attempt %d: delivery retried %s early", attempt, time.Second)
		}
		clk.advance(time.Second)
	}
	fail = false
	if sent, failed := flush(t, d); sent != 1 || failed != 0 {
		t.Fatalf("after recovery: Flush = %d sent, %d failed; want 1, 0", sent, failed)
	}
	if box.row(1).SentAt.IsZero() {
		t.Error("delivery not marked sent after recovery")
	}
}

func TestDispatcher_Flush_PermanentFailureStops(t *testing.T) {
	box := newMemOutbox(delivery(1, "ses"))
	calls := 0
	s := &fakeSender{name: "ses", fn: func(context.Context, Notice) error {
		calls++
		return Permanent(errors.New("MessageRejected: address not verified"))
	}}
	clk := &clock{t: t0}
	d := NewDispatcher(box, []Sender{s}, clk.now, nil)

	if sent, failed := flush(t, d); sent != 0 || failed != 1 {
		t.Fatalf("Flush = %d sent, %d failed; want 0, 1", sent, failed)
	}
	r := box.row(1)
	if !r.Permanent || r.Attempt != 1 || r.LastErr != "MessageRejected: address not verified" {
		t.Errorf("row = %+v, want permanent failure on attempt 1 with the error text", r)
	}
	clk.advance(24 * time.Hour)
	flush(t, d)
	if calls != 1 {
		t.Errorf("sender called %d times, want 1: a permanent failure must not be retried", calls)
	}
}

func TestDispatcher_Flush_FailingSenderDoesNotBlockOthers(t *testing.T) {
	box := newMemOutbox(
		delivery(1, "smtp"), delivery(2, "webhook"),
		delivery(3, "smtp"), delivery(4, "webhook"),
		delivery(5, "panics"), delivery(6, "gone"),
	)
	smtpS := &fakeSender{name: "smtp", fn: func(context.Context, Notice) error {
		return errors.New("dial tcp: connection refused")
	}}
	hook := &fakeSender{name: "webhook"}
	panics := &fakeSender{name: "panics", fn: func(context.Context, Notice) error { panic("boom") }}
	clk := &clock{t: t0}
	d := NewDispatcher(box, []Sender{smtpS, hook, panics}, clk.now, nil)

	if sent, failed := flush(t, d); sent != 2 || failed != 4 {
		t.Errorf("Flush = %d sent, %d failed; want 2, 4", sent, failed)
	}
	if diff := gocmp.Diff([]string{"rollout/2/started", "rollout/4/started"}, hook.sentIDs()); diff != "" {
		t.Errorf("webhook sent (-want +got):\n%s", diff)
	}
	for _, id := range []int64{1, 3, 5, 6} {
		r := box.row(id)
		if r.Attempt != 1 || r.Permanent || !r.Next.Equal(t0.Add(30*time.Second)) {
			t.Errorf("delivery %d = %+v, want a temporary failure retried at +30s", id, r)
		}
	}
}

func TestDispatcher_Flush_HungSenderTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		box := newMemOutbox(delivery(1, "hung"), delivery(2, "hung"), delivery(3, "webhook"))
		// Ignores its context entirely: only the dispatcher's timeout saves us.
		hung := &fakeSender{name: "hung", fn: func(context.Context, Notice) error { <-release; return nil }}
		hook := &fakeSender{name: "webhook"}
		d := NewDispatcher(box, []Sender{hung, hook}, time.Now, nil)
		d.SendTimeout = 10 * time.Second

		start := time.Now()
		sent, failed, err := d.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sent != 1 || failed != 2 {
			t.Errorf("Flush = %d sent, %d failed; want 1, 2", sent, failed)
		}
		if took := time.Since(start); took != 20*time.Second {
			t.Errorf("Flush took %s, want 20s (two sends of 10s each)", took)
		}
		for _, id := range []int64{1, 2} {
			if r := box.row(id); r.Permanent || r.Attempt != 1 {
				t.Errorf("delivery %d = %+v, want a temporary failure", id, r)
			}
		}
	})
}

func TestDispatcher_Flush_BatchesAndOrder(t *testing.T) {
	var ds []Delivery
	for i := int64(1); i <= 7; i++ {
		ds = append(ds, delivery(i, "smtp"))
	}
	box := newMemOutbox(ds...)
	s := &fakeSender{name: "smtp"}
	d := NewDispatcher(box, []Sender{s}, (&clock{t: t0}).now, nil)
	d.BatchSize = 3

	if sent, _ := flush(t, d); sent != 7 {
		t.Errorf("Flush sent %d, want 7", sent)
	}
	want := []string{"rollout/1/started", "rollout/2/started", "rollout/3/started", "rollout/4/started",
		"rollout/5/started", "rollout/6/started", "rollout/7/started"}
	if diff := gocmp.Diff(want, s.sentIDs()); diff != "" {
		t.Errorf("send order (-want +got):\n%s", diff)
	}
	if box.dueCall != 3 {
		t.Errorf("Due called %d times, want 3 (3+3+1)", box.dueCall)
	}
}

func TestDispatcher_Flush_OutboxErrors(t *testing.T) {
	t.Run("due", func(t *testing.T) {
		box := newMemOutbox(delivery(1, "smtp"))
		box.dueErr = errors.New("database is locked")
		_, _, err := NewDispatcher(box, []Sender{&fakeSender{name: "smtp"}}, nil, nil).Flush(context.Background())
		if err == nil || !errors.Is(err, box.dueErr) {
			t.Errorf("Flush error = %v, want it to wrap %v", err, box.dueErr)
		}
	})
	t.Run("mark", func(t *testing.T) {
		// A delivery whose mark fails comes back from Due; it must not be
		// sent twice in one pass, and the pass must end.
		box := newMemOutbox(delivery(1, "smtp"))
		box.markErr = errors.New("disk full")
		s := &fakeSender{name: "smtp"}
		d := NewDispatcher(box, []Sender{s}, (&clock{t: t0}).now, nil)
		d.BatchSize = 1
		sent, failed, err := d.Flush(context.Background())
		if !errors.Is(err, box.markErr) {
			t.Errorf("Flush error = %v, want it to wrap %v", err, box.markErr)
		}
		if sent != 0 || failed != 0 {
			t.Errorf("Flush = %d sent, %d failed; want 0, 0 (unrecorded)", sent, failed)
		}
		if len(s.sentIDs()) != 1 {
			t.Errorf("sent %d times in one pass, want 1", len(s.sentIDs()))
		}
	})
}

func TestDispatcher_Flush_CancelledMidSend(t *testing.T) {
	box := newMemOutbox(delivery(1, "smtp"), delivery(2, "smtp"))
	ctx, cancel := context.WithCancel(context.Background())
	s := &fakeSender{name: "smtp", fn: func(ctx context.Context, _ Notice) error {
		cancel() // the daemon shuts down mid-send
		<-ctx.Done()
		return ctx.Err()
	}}
	d := NewDispatcher(box, []Sender{s}, (&clock{t: t0}).now, nil)
	sent, failed, err := d.Flush(ctx)
	if err != nil || sent != 0 || failed != 1 {
		t.Errorf("Flush = %d, %d, %v; want 0, 1, nil", sent, failed, err)
	}
	// The send in flight may have been delivered: it counts, and waits its backoff. (Its error
	// is the sender's, or sendOne's when the cancellation wins the race with the sender's
	// return: "sender \"smtp\": context canceled".)
	if r := box.row(1); r.Attempt != 1 || !r.Next.Equal(t0.Add(30*time.Second)) || r.Permanent || !strings.HasSuffix(r.LastErr, "context canceled") {
		t.Errorf("delivery 1 = %+v, want attempt 1 retried at +30s", r)
	}
	// The next never started: untouched and still due.
	if r := box.row(2); r.Attempt != 0 || !r.Next.IsZero() || r.LastErr != "" {
		t.Errorf("delivery 2 = %+v, want it untouched and still due", r)
	}
}

func TestDispatcher_Flush_BackoffByClass(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wait      time.Duration // after the first attempt
		permanent bool
	}{
		{"transient", &statusError{code: 503}, 30 * time.Second, false},
		{"throttled waits longer", &statusError{code: 429}, 2 * time.Minute, false},
		{"smtp 451 throttled", &textproto.Error{Code: 451, Msg: "try later"}, 2 * time.Minute, false},
		{"denied keeps retrying", &textproto.Error{Code: 535, Msg: "bad credentials"}, 30 * time.Second, false},
		{"invalid stops", &statusError{code: 400}, 30 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			box := newMemOutbox(delivery(1, "webhook"))
			s := &fakeSender{name: "webhook", fn: func(context.Context, Notice) error { return tc.err }}
			d := NewDispatcher(box, []Sender{s}, (&clock{t: t0}).now, nil)
			if _, failed := flush(t, d); failed != 1 {
				t.Fatalf("Flush failed %d, want 1", failed)
			}
			r := box.row(1)
			if r.Attempt != 1 || r.Permanent != tc.permanent || (!tc.permanent && !r.Next.Equal(t0.Add(tc.wait))) {
				t.Errorf("row = {Attempt:%d Next:+%s Permanent:%v}, want attempt 1, next +%s, permanent %v",
					r.Attempt, r.Next.Sub(t0), r.Permanent, tc.wait, tc.permanent)
			}
		})
	}
}

func TestNewDispatcher_DuplicateSenderIgnored(t *testing.T) {
	first, second := &fakeSender{name: "webhook"}, &fakeSender{name: "webhook"}
	box := newMemOutbox(delivery(1, "webhook"))
	d := NewDispatcher(box, []Sender{first, second}, (&clock{t: t0}).now, nil)
	flush(t, d)
	if len(first.sentIDs()) != 1 || len(second.sentIDs()) != 0 {
		t.Errorf("first sent %d, second %d; want 1, 0", len(first.sentIDs()), len(second.sentIDs()))
	}
}

// logBuffer collects a Dispatcher's log lines as JSON, for tests that check what an operator sees.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns every line logged at level or above, decoded.
func (b *logBuffer) lines(t *testing.T, level slog.Level) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(fmt.Sprint(m["level"]))); err != nil {
			t.Fatalf("log line %q: level: %v", line, err)
		}
		if l >= level {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Defect 6: the daemon flushes with a 2 s budget. A send that SES took 2.5 s to answer was cut
// off by that budget, left due without counting an attempt, and so sent again at every pass (14
// copies in 30 s). A send that started may have been accepted: it is an attempt, backs off on the
// delivery schedule, and is logged.
func TestDispatcher_Flush_SendCutOffByCallerIsAnAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		box := newMemOutbox(delivery(1, "ses"))
		var mu sync.Mutex
		var calls []time.Time
		// Like SES under load: the request is in (the mail may go out) at once, the answer takes
		// 2.5 s, and the SDK gives up when its context ends.
		slow := &fakeSender{name: "ses", fn: func(ctx context.Context, _ Notice) error {
			mu.Lock()
			calls = append(calls, time.Now())
			mu.Unlock()
			select {
			case <-time.After(2500 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
		called := func() []time.Time { mu.Lock(); defer mu.Unlock(); return slices.Clone(calls) }
		logs := &logBuffer{}
		d := NewDispatcher(box, []Sender{slow}, time.Now, logs.logger())
		// The daemon's loop: a flush with a 2 s budget, a second's sleep, again.
		pass := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, _, err := d.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			time.Sleep(time.Second)
		}
		start := time.Now()
		for time.Since(start) < 30*time.Second {
			pass()
		}

		// 1. Sent once in 30 s, and the outbox counts that attempt with the first backoff.
		got := called()
		if len(got) != 1 {
			t.Fatalf("sender called %d times in 30s, at %v; want once: a send cut off by the flush's deadline was sent again before any backoff",
				len(got), offsets(start, got))
		}
		cutoff := got[0].Add(2 * time.Second)
		r := box.row(1)
		if r.Attempt != 1 || !r.Next.Equal(cutoff.Add(30*time.Second)) || r.Permanent || !strings.Contains(r.LastErr, "deadline exceeded") {
			t.Fatalf("after the cut-off send: row = {Attempt:%d Next:+%s Permanent:%v LastErr:%q}; want attempt 1, next +32s, temporary, the deadline error",
				r.Attempt, r.Next.Sub(start), r.Permanent, r.LastErr)
		}
		// 2. An operator sees it: one warning naming the notice and the sender.
		warns := logs.lines(t, slog.LevelWarn)
		if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["notice"] != "rollout/1/started" || warns[0]["sender"] != "ses" {
			t.Errorf("warnings = %v; want one WARN line with notice rollout/1/started and sender ses", warns)
		}

		// 3. Not before its backoff has passed, it goes out again, and the next wait doubles.
		first := r.Next
		for time.Now().Before(first.Add(time.Second)) {
			pass()
		}
		got = called()
		if len(got) != 2 || got[1].Before(first) {
			t.Fatalf("sender called at %v; want a second call at or after +%s", offsets(start, got), first.Sub(start))
		}
		if r := box.row(1); r.Attempt != 2 || !r.Next.Equal(got[1].Add(2*time.Second+time.Minute)) {
			t.Errorf("after the second cut-off send: attempt %d, next +%s; want attempt 2, next a minute after the cut-off",
				r.Attempt, r.Next.Sub(start))
		}
	})
}

// offsets returns ts as offsets from start, for messages.
func offsets(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start)
	}
	return out
}
