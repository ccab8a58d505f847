package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/notice"
	"github.com/deskpilot/deskpilot/internal/notify"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// enqueuedAt is when openTest's clock makes new deliveries due.
var enqueuedAt = t0.Add(time.Hour)

func testNotice(id string) notice.Notice {
	return notice.Notice{ID: id, Kind: "rollout.pending", Subject: "Image " + id + " is scheduled"}
}

func deliveries(sender string, ids ...string) []rollout.Delivery {
	var ds []rollout.Delivery
	for _, id := range ids {
		ds = append(ds, rollout.Delivery{Sender: sender, Notice: testNotice(id)})
	}
	return ds
}

func TestStore_Apply_deliveriesDedup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		type row struct{ NoticeID, Sender string }
		tests := []struct {
			name    string
			changes [][]rollout.Delivery
			want    []row // newest first
		}{
			{"one", [][]rollout.Delivery{deliveries("mail", "n1")}, []row{{"n1", "mail"}}},
			{"same notice and sender twice in one change",
				[][]rollout.Delivery{append(deliveries("mail", "n1"), deliveries("mail", "n1")...)},
				[]row{{"n1", "mail"}}},
			{"same notice and sender in two changes",
				[][]rollout.Delivery{deliveries("mail", "n1"), deliveries("mail", "n1")},
				[]row{{"n1", "mail"}}},
			{"two senders",
				[][]rollout.Delivery{append(deliveries("mail", "n1"), deliveries("hook", "n1")...)},
				[]row{{"n1", "hook"}, {"n1", "mail"}}},
			{"two notices",
				[][]rollout.Delivery{deliveries("mail", "n1", "n2"), deliveries("mail", "n2", "n1")},
				[]row{{"n2", "mail"}, {"n1", "mail"}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				for _, ds := range tc.changes {
					apply(t, s, &rollout.Change{Deliveries: ds})
				}
				recs, err := s.Deliveries(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				var got []row
				for _, r := range recs {
					got = append(got, row{r.NoticeID, r.Sender})
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("outbox rows (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestStore_Due_noticeRoundTrip checks that a Notice comes out of the outbox as it went in.
func TestStore_Due_noticeRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		n := notice.Notice{
			ID:       "rollout/42/pending",
			Kind:     "rollout.pending",
			Severity: notice.SeverityWarning,
			Subject:  "Image img-2025 will be applied to 2 fleets",
			Summary:  "Sessions end at 02:00 <UTC> & \"restart\".",
			Fields:   []notice.Field{{Name: "Image", Value: "img-2025"}, {Name: "Window (UTC)", Value: "Tue 02:00"}},
			Items:    []notice.Item{{Name: "fleet-a", Status: "waiting", Detail: "ünïcode ✓"}},
			Time:     time.Date(2025, 3, 11, 2, 0, 0, 123456789, time.UTC),
		}
		apply(t, s, &rollout.Change{Deliveries: []rollout.Delivery{{Sender: "ses", Notice: n}}})
		got, err := s.Due(context.Background(), enqueuedAt, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []notify.Delivery{{ID: 1, Sender: "ses", Notice: n, Attempt: 0}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Due (-want +got):\n%s", diff)
		}
	})
}

func TestStore_Due(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		ctx := context.Background()
		s := open(t, testOptions())
		apply(t, s, &rollout.Change{Deliveries: deliveries("mail", "n1", "n2", "n3", "n4", "n5", "n6")})
		// 1: new; 2: failed once, retry later; 3: failed once, retry now; 4: sent;
		// 5: failed for good; 6: failed once, retry earlier than 3 (order stays by ID).
		must(t, s.MarkFailed(ctx, 2, 1, enqueuedAt.Add(time.Minute), "timeout", false))
		must(t, s.MarkFailed(ctx, 3, 1, enqueuedAt.Add(-time.Minute), "throttled", false))
		must(t, s.MarkSent(ctx, 4, enqueuedAt))
		must(t, s.MarkFailed(ctx, 5, 1, enqueuedAt, "bad address", true))
		must(t, s.MarkFailed(ctx, 6, 2, enqueuedAt.Add(-time.Hour), "throttled", false))

		tests := []struct {
			name  string
			now   time.Time
			limit int
			want  []int64
		}{
			{"before anything is due", enqueuedAt.Add(-2 * time.Hour), 10, nil},
			{"retry due first", enqueuedAt.Add(-time.Minute), 10, []int64{3, 6}},
			{"new ones at enqueue time", enqueuedAt, 10, []int64{1, 3, 6}},
			{"just before the later retry", enqueuedAt.Add(time.Minute - time.Millisecond), 10, []int64{1, 3, 6}},
			{"at the later retry", enqueuedAt.Add(time.Minute), 10, []int64{1, 2, 3, 6}},
			{"limit", enqueuedAt.Add(time.Hour), 2, []int64{1, 2}},
			{"no limit", enqueuedAt.Add(time.Hour), 0, []int64{1, 2, 3, 6}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Due(ctx, tc.now, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int64
				for _, d := range got {
					ids = append(ids, d.ID)
				}
				if diff := cmp.Diff(tc.want, ids); diff != "" {
					t.Errorf("Due(%v, %d) IDs (-want +got):\n%s", tc.now, tc.limit, diff)
				}
			})
		}

		due, err := s.Due(ctx, enqueuedAt.Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		attempts := map[int64]int{}
		for _, d := range due {
			attempts[d.ID] = d.Attempt
		}
		if diff := cmp.Diff(map[int64]int{1: 0, 2: 1, 3: 1, 6: 2}, attempts); diff != "" {
			t.Errorf("Delivery.Attempt by ID (-want +got):\n%s", diff)
		}

		stats, err := s.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(OutboxStats{Pending: 4, Sent: 1, Failed: 1}, stats); diff != "" {
			t.Errorf("OutboxStats (-want +got):\n%s", diff)
		}

		recs, err := s.Deliveries(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		wantRecs := []DeliveryRecord{
			{ID: 6, NoticeID: "n6", Kind: "rollout.pending", Sender: "mail", Attempt: 2, NextAt: enqueuedAt.Add(-time.Hour), LastError: "throttled"},
			{ID: 5, NoticeID: "n5", Kind: "rollout.pending", Sender: "mail", Attempt: 1, NextAt: enqueuedAt, LastError: "bad address", Permanent: true},
			{ID: 4, NoticeID: "n4", Kind: "rollout.pending", Sender: "mail", Attempt: 1, NextAt: enqueuedAt, SentAt: enqueuedAt},
		}
		if diff := cmp.Diff(wantRecs, recs); diff != "" {
			t.Errorf("Deliveries(3) (-want +got):\n%s", diff)
		}
	})
}

func TestStore_MarkSent_MarkFailed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		ctx := context.Background()
		sentAt := enqueuedAt.Add(5 * time.Second)
		tests := []struct {
			name    string
			marks   func(s *Store) error
			want    DeliveryRecord
			wantDue bool
		}{
			{"sent", func(s *Store) error {
				return s.MarkSent(ctx, 1, sentAt)
			}, DeliveryRecord{Attempt: 1, NextAt: enqueuedAt, SentAt: sentAt}, false},
			{"sent twice keeps the first", func(s *Store) error {
				return errors.Join(s.MarkSent(ctx, 1, sentAt), s.MarkSent(ctx, 1, sentAt.Add(time.Hour)))
			}, DeliveryRecord{Attempt: 1, NextAt: enqueuedAt, SentAt: sentAt}, false},
			{"failed then sent", func(s *Store) error {
				return errors.Join(s.MarkFailed(ctx, 1, 1, sentAt, "5xx", false), s.MarkSent(ctx, 1, sentAt))
			}, DeliveryRecord{Attempt: 2, NextAt: sentAt, SentAt: sentAt, LastError: "5xx"}, false},
			{"failed, to retry", func(s *Store) error {
				return s.MarkFailed(ctx, 1, 1, sentAt, "5xx", false)
			}, DeliveryRecord{Attempt: 1, NextAt: sentAt, LastError: "5xx"}, true},
			{"failed for good", func(s *Store) error {
				return s.MarkFailed(ctx, 1, 3, sentAt, "invalid notice", true)
			}, DeliveryRecord{Attempt: 3, NextAt: sentAt, LastError: "invalid notice", Permanent: true}, false},
			{"a failure after sending does not unsend", func(s *Store) error {
				return errors.Join(s.MarkSent(ctx, 1, sentAt), s.MarkFailed(ctx, 1, 1, sentAt, "late", true))
			}, DeliveryRecord{Attempt: 1, NextAt: enqueuedAt, SentAt: sentAt}, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				apply(t, s, &rollout.Change{Deliveries: deliveries("mail", "n1")})
				must(t, tc.marks(s))
				recs, err := s.Deliveries(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				want.ID, want.NoticeID, want.Kind, want.Sender = 1, "n1", "rollout.pending", "mail"
				if diff := cmp.Diff([]DeliveryRecord{want}, recs); diff != "" {
					t.Errorf("Deliveries (-want +got):\n%s", diff)
				}
				due, err := s.Due(ctx, sentAt.Add(24*time.Hour), 0)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(due) == 1; got != tc.wantDue {
					t.Errorf("due a day later: %v, want %v", got, tc.wantDue)
				}
			})
		}

		t.Run("unknown delivery", func(t *testing.T) {
			s := open(t, testOptions())
			if err := s.MarkSent(ctx, 7, sentAt); err == nil {
				t.Error("MarkSent(7) of an empty outbox succeeded")
			}
			if err := s.MarkFailed(ctx, 7, 1, sentAt, "x", false); err == nil {
				t.Error("MarkFailed(7) of an empty outbox succeeded")
			}
		})
	})
}

// TestStore_dispatcher runs notify's Dispatcher against the store: the outbox semantics it
// relies on, end to end.
func TestStore_dispatcher(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		ctx := context.Background()
		s := open(t, testOptions())
		apply(t, s, &rollout.Change{Deliveries: append(deliveries("mail", "n1", "n2"), deliveries("hook", "n1")...)})
		now := enqueuedAt
		clock := func() time.Time { return now }
		mail := &recordingSender{name: "mail"}
		hook := &recordingSender{name: "hook", fail: errors.New("connection refused")}
		d := notify.NewDispatcher(s, []notify.Sender{mail, hook}, clock, nil)

		sent, failed, err := d.Flush(ctx)
		if err != nil || sent != 2 || failed != 1 {
			t.Fatalf("first Flush = %d sent, %d failed, %v; want 2, 1, nil", sent, failed, err)
		}
		// Nothing is due until the retry.
		if sent, failed, err := d.Flush(ctx); err != nil || sent+failed != 0 {
			t.Fatalf("second Flush = %d sent, %d failed, %v; want nothing", sent, failed, err)
		}
		hook.setFail(nil)
		now = notify.NextAttempt(1, now)
		if sent, failed, err := d.Flush(ctx); err != nil || sent != 1 || failed != 0 {
			t.Fatalf("Flush at the retry = %d sent, %d failed, %v; want 1, 0, nil", sent, failed, err)
		}
		if diff := cmp.Diff([]string{"n1", "n2"}, mail.sentIDs()); diff != "" {
			t.Errorf("mail sent (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"n1"}, hook.sentIDs()); diff != "" {
			t.Errorf("hook sent (-want +got):\n%s", diff)
		}
		stats, err := s.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(OutboxStats{Sent: 3}, stats); diff != "" {
			t.Errorf("OutboxStats (-want +got):\n%s", diff)
		}
	})
}

type recordingSender struct {
	name string
	mu   sync.Mutex
	fail error
	sent []string
}

func (r *recordingSender) Name() string { return r.name }

func (r *recordingSender) Send(_ context.Context, n notify.Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return fmt.Errorf("send %s: %w", n.ID, r.fail)
	}
	r.sent = append(r.sent, n.ID)
	return nil
}

func (r *recordingSender) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *recordingSender) sentIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
