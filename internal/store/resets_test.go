package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/notice"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// fullTracked returns a tracker with every field set, its times in a zone other than UTC.
func fullTracked(id string) reset.Tracked {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := func(d time.Duration) time.Time { return t0.Add(d).In(zone) }
	return reset.Tracked{
		ID:             id,
		Mode:           reset.Rebuild,
		DirectoryID:    "d-1234567890",
		UserName:       "jdoe ünïcode",
		BundleID:       "wsb-abcdef",
		LastState:      "DISCONNECTED",
		LastConnected:  at(-time.Hour),
		HandledLogon:   at(-2 * time.Hour),
		PendingLogon:   at(-time.Hour),
		Phase:          reset.InFlight,
		DisconnectedAt: at(-time.Minute),
		DueAt:          at(14 * time.Minute),
		IPBefore:       "10.0.1.23",
		ResetStartedAt: at(15 * time.Minute),
		Attempts:       3,
		TagsCheckedAt:  at(-30 * time.Minute),
		Maintenance:    true,
		Waiting:        "waiting for a snapshot newer than the logoff",
	}
}

// inUTC returns t with its times in UTC.
func inUTC(t reset.Tracked) reset.Tracked {
	for _, tm := range []*time.Time{&t.LastConnected, &t.HandledLogon, &t.PendingLogon,
		&t.DisconnectedAt, &t.DueAt, &t.ResetStartedAt, &t.TagsCheckedAt} {
		if !tm.IsZero() {
			*tm = tm.UTC()
		}
	}
	return t
}

// exactTimes makes cmp compare times with == (instant, location and monotonic reading) rather
// than with their Equal method (instant only).
var exactTimes = cmp.Comparer(func(a, b time.Time) bool { return a == b })

func saveResets(t testing.TB, s *Store, save, remove []reset.Tracked, records []reset.Record, deliveries []reset.Delivery) {
	t.Helper()
	if err := s.SaveResets(context.Background(), save, remove, records, deliveries); err != nil {
		t.Fatalf("SaveResets: %v", err)
	}
}

// ids returns trackers to remove by ID, of no target.
func ids(ids ...string) []reset.Tracked {
	out := make([]reset.Tracked, len(ids))
	for i, id := range ids {
		out[i] = reset.Tracked{ID: id}
	}
	return out
}

func trackers(t testing.TB, s *Store) map[string]reset.Tracked {
	t.Helper()
	got, err := s.Trackers(context.Background())
	if err != nil {
		t.Fatalf("Trackers: %v", err)
	}
	return got
}

func TestStore_SaveResets_trackerRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		full := fullTracked("ws-full")
		// Finer than milliseconds: dropped.
		full.DueAt = full.DueAt.Add(999 * time.Microsecond)
		bare := reset.Tracked{ID: "ws-bare", Mode: reset.Restore, Phase: reset.Idle}
		saveResets(t, s, []reset.Tracked{full, bare}, nil, nil, nil)

		got := trackers(t, s)
		want := map[string]reset.Tracked{"ws-full": inUTC(fullTracked("ws-full")), "ws-bare": bare}
		if diff := cmp.Diff(want, got, exactTimes); diff != "" {
			t.Errorf("Trackers (-want +got):\n%s", diff)
		}
		checkUTC(t, got)
	})
}

func TestStore_SaveResets_upsertAndRemove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		a, b, c := fullTracked("a"), fullTracked("b"), fullTracked("c")
		saveResets(t, s, []reset.Tracked{a, b, c}, nil, nil, nil)

		// Replaced in full: fields set to zero come back zero.
		a2 := reset.Tracked{ID: "a", Mode: reset.Restore, Phase: reset.Grace, LastState: "CONNECTED", Attempts: 0,
			DueAt: t0.Add(time.Hour)}
		// Saved twice in one call: the last wins.
		b2, b3 := b, b
		b2.Attempts, b3.Attempts = 7, 8
		saveResets(t, s, []reset.Tracked{a2, b2, b3}, ids("c", "never-tracked"), nil, nil)

		want := map[string]reset.Tracked{"a": a2, "b": inUTC(b3)}
		if diff := cmp.Diff(want, trackers(t, s), exactTimes); diff != "" {
			t.Errorf("Trackers (-want +got):\n%s", diff)
		}

		// Saved and removed in one call: removed (saves are written first).
		saveResets(t, s, []reset.Tracked{fullTracked("d")}, ids("d", "a"), nil, nil)
		if got := trackers(t, s); len(got) != 1 || got["b"].Attempts != 8 {
			t.Errorf("Trackers = %+v; want only b", got)
		}

		// Nothing to do is no error.
		saveResets(t, s, nil, nil, nil, nil)
		if got := trackers(t, s); len(got) != 1 {
			t.Errorf("Trackers = %+v; want only b", got)
		}
	})
}

func TestStore_Trackers_empty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		if got := trackers(t, s); got == nil || len(got) != 0 {
			t.Errorf("Trackers = %#v; want an empty map", got)
		}
	})
}

func TestStore_Records(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions()) // clock: t0 + 1h
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		rec := func(d time.Duration, ws, outcome string) reset.Record {
			return reset.Record{At: at(d), WorkspaceID: ws, UserName: "u-" + ws, Mode: reset.Rebuild,
				Outcome: outcome, Reason: "reason of " + ws}
		}
		// Written out of time order; two at the same time; one at the store's clock.
		r1 := rec(3*time.Second, "ws-3", "reset")
		r2 := rec(1*time.Second, "ws-1", "skipped")
		r3 := rec(2*time.Second, "ws-2a", "cancelled")
		r4 := rec(2*time.Second, "ws-2b", "failed")
		r5 := reset.Record{WorkspaceID: "ws-now", Mode: reset.Restore, Outcome: "reset"}
		r6 := rec(-time.Hour, "ws-old", "reset")
		r6.At = r6.At.Add(456 * time.Microsecond).In(time.FixedZone("X", -3600)) // kept to the ms, read in UTC
		saveResets(t, s, nil, nil, []reset.Record{r1, r2, r3}, nil)
		saveResets(t, s, nil, nil, []reset.Record{r4, r5, r6}, nil)

		stamped := r5
		stamped.At = t0.Add(time.Hour)
		old := r6
		old.At = t0.Add(-time.Hour)
		all := []reset.Record{old, r2, r3, r4, r1, stamped}
		tests := []struct {
			since time.Time
			limit int
			want  []reset.Record
		}{
			{time.Time{}, 0, all},
			{time.Time{}, -1, all},
			{time.Time{}, 2, all[:2]},
			{at(2 * time.Second), 0, all[2:]}, // inclusive
			{at(2*time.Second + time.Millisecond), 0, all[4:]},
			{at(2 * time.Second), 2, all[2:4]},
			{at(2 * time.Hour), 0, nil},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("since%v/limit%d", tc.since.Format(time.StampMilli), tc.limit), func(t *testing.T) {
				got, err := s.Records(context.Background(), tc.since, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got, exactTimes); diff != "" {
					t.Errorf("Records (-want +got):\n%s", diff)
				}
				checkUTC(t, got)
			})
		}
		if r5.At != (time.Time{}) {
			t.Error("SaveResets modified the caller's record")
		}
	})
}

// TestStore_RecordsBetween checks that periods are half-open at the stored resolution: a
// bound finer than a millisecond is taken to its millisecond, like the records' own times, so
// that consecutive periods [a, b) and [b, c) list every record exactly once.
func TestStore_RecordsBetween(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		rec := func(d time.Duration, ws string) reset.Record {
			return reset.Record{At: at(d), WorkspaceID: ws, Mode: reset.Rebuild, Outcome: "reset"}
		}
		// b is the boundary, with a sub-millisecond part as the wall clock has; one record was written
		// at b itself, one just before it in the same millisecond, one a millisecond before.
		b := 2*time.Second + 400*time.Microsecond
		records := []reset.Record{rec(time.Second, "ws-1"), rec(b-time.Millisecond, "ws-2"), rec(b-100*time.Microsecond, "ws-3"),
			rec(b, "ws-4"), rec(b+time.Millisecond, "ws-5"), rec(3*time.Second, "ws-6")}
		saveResets(t, s, nil, nil, records, nil)
		ids := func(since, until time.Time) []string {
			t.Helper()
			got, err := s.RecordsBetween(context.Background(), since, until)
			if err != nil {
				t.Fatal(err)
			}
			checkUTC(t, got)
			var out []string
			for _, r := range got {
				out = append(out, r.WorkspaceID)
			}
			return out
		}
		tests := []struct {
			name         string
			since, until time.Time
			want         []string
		}{
			{"before the boundary's millisecond", at(0), at(b), []string{"ws-1", "ws-2"}},
			{"from the boundary's millisecond", at(b), at(4 * time.Second), []string{"ws-3", "ws-4", "ws-5", "ws-6"}},
			{"the zero time is the start of the history", time.Time{}, at(b), []string{"ws-1", "ws-2"}},
			{"until is excluded", at(time.Second), at(3 * time.Second), []string{"ws-1", "ws-2", "ws-3", "ws-4", "ws-5"}},
			{"empty period", at(b), at(b), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if diff := cmp.Diff(tc.want, ids(tc.since, tc.until)); diff != "" {
					t.Errorf("RecordsBetween (-want +got):\n%s", diff)
				}
			})
		}
		// Periods that share their bounds partition the history, wherever the bounds fall.
		for _, bound := range []time.Duration{b, b - 100*time.Microsecond, b + 999*time.Microsecond, time.Second} {
			got := append(ids(at(0), at(bound)), ids(at(bound), at(time.Hour))...)
			if diff := cmp.Diff([]string{"ws-1", "ws-2", "ws-3", "ws-4", "ws-5", "ws-6"}, got); diff != "" {
				t.Errorf("periods split at %v (-want +got):\n%s", bound, diff)
			}
		}
	})
}

// TestStore_SaveResets_deliveriesDedup checks that reset deliveries share the outbox, and its
// (notice ID, sender) dedup, with rollout deliveries.
func TestStore_SaveResets_deliveriesDedup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		apply(t, s, &rollout.Change{Deliveries: deliveries("mail", "n1")})
		rd := func(sender, id string) reset.Delivery {
			return reset.Delivery{Sender: sender, Notice: testNotice(id)}
		}
		saveResets(t, s, nil, nil, nil, []reset.Delivery{rd("mail", "n1"), rd("hook", "n1"), rd("mail", "n2"), rd("mail", "n2")})
		saveResets(t, s, nil, nil, nil, []reset.Delivery{rd("hook", "n1")})
		apply(t, s, &rollout.Change{Deliveries: deliveries("mail", "n2")})

		type row struct{ NoticeID, Sender string }
		recs, err := s.Deliveries(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []row
		for _, r := range recs {
			got = append(got, row{r.NoticeID, r.Sender})
		}
		want := []row{{"n2", "mail"}, {"n1", "hook"}, {"n1", "mail"}} // newest first
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outbox rows (-want +got):\n%s", diff)
		}

		// Due at once, the notice as it went in.
		due, err := s.Due(ctx, enqueuedAt, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 3 || due[1].Sender != "hook" {
			t.Fatalf("Due = %+v; want 3 deliveries, the second for hook", due)
		}
		if diff := cmp.Diff(testNotice("n1"), due[1].Notice); diff != "" {
			t.Errorf("due notice (-want +got):\n%s", diff)
		}
		if due, err := s.Due(ctx, enqueuedAt.Add(-time.Millisecond), 0); err != nil || len(due) != 0 {
			t.Errorf("Due before enqueued = %+v, %v; want none", due, err)
		}
	})
}

// resetContents is everything SaveResets writes, as the read methods show it.
type resetContents struct {
	Trackers   map[string]reset.Tracked
	Records    []reset.Record
	Deliveries []DeliveryRecord
}

func resetSnapshot(t *testing.T, s *Store) resetContents {
	t.Helper()
	ctx := context.Background()
	c := resetContents{Trackers: trackers(t, s)}
	var err error
	if c.Records, err = s.Records(ctx, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if c.Deliveries, err = s.Deliveries(ctx, 0); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStore_SaveResets_atomic checks that a SaveResets failing at any point leaves nothing of
// itself.
func TestStore_SaveResets_atomic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		ctx := context.Background()
		tests := []struct {
			name  string
			spoil func(save *[]reset.Tracked, ds *[]reset.Delivery)
		}{
			{"delivery without a notice ID", func(_ *[]reset.Tracked, ds *[]reset.Delivery) {
				*ds = append(*ds, reset.Delivery{Sender: "mail"})
			}},
			{"delivery without a sender", func(_ *[]reset.Tracked, ds *[]reset.Delivery) {
				*ds = append(*ds, reset.Delivery{Notice: testNotice("n9")})
			}},
			{"tracker without an ID", func(save *[]reset.Tracked, _ *[]reset.Delivery) {
				*save = append(*save, reset.Tracked{Mode: reset.Rebuild})
			}},
			{"cancelled context", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				saveResets(t, s, []reset.Tracked{fullTracked("a"), fullTracked("b")}, nil,
					[]reset.Record{{At: t0, WorkspaceID: "a", Outcome: "reset"}},
					[]reset.Delivery{{Sender: "mail", Notice: testNotice("n0")}})
				before := resetSnapshot(t, s)

				changed := fullTracked("a")
				changed.Phase = reset.Idle
				save := []reset.Tracked{changed, fullTracked("new")}
				ds := []reset.Delivery{{Sender: "mail", Notice: testNotice("n1")}, {Sender: "hook", Notice: testNotice("n0")}}
				sctx := ctx
				if tc.spoil != nil {
					tc.spoil(&save, &ds)
				} else {
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					sctx = cctx
				}
				err := s.SaveResets(sctx, save, ids("b"),
					[]reset.Record{{At: t0.Add(time.Second), WorkspaceID: "new", Outcome: "skipped"}, {WorkspaceID: "a", Outcome: "reset"}}, ds)
				if err == nil {
					t.Fatal("SaveResets succeeded, want an error")
				}
				t.Logf("SaveResets: %v", err)
				if diff := cmp.Diff(before, resetSnapshot(t, s)); diff != "" {
					t.Errorf("failed SaveResets changed the store (-before +after):\n%s", diff)
				}
				// The writer is still usable.
				saveResets(t, s, nil, ids("b"), nil, nil)
				if got := trackers(t, s); len(got) != 1 {
					t.Errorf("after a failed SaveResets, a good one left %d trackers; want 1", len(got))
				}
			})
		}
	})
}

func TestStore_Meta(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	get := func(key string) string {
		t.Helper()
		v, err := s.Meta(ctx, key)
		if err != nil {
			t.Fatalf("Meta(%q): %v", key, err)
		}
		return v
	}
	set := func(key, value string) {
		t.Helper()
		if err := s.SetMeta(ctx, key, value); err != nil {
			t.Fatalf("SetMeta(%q, %q): %v", key, value, err)
		}
	}
	if v := get("digest"); v != "" {
		t.Errorf("Meta of an absent key = %q; want \"\"", v)
	}
	set("digest", "2025-03-11T02:00:00.123Z")
	set("other", "ünïcode ✓\nline 2")
	if v := get("digest"); v != "2025-03-11T02:00:00.123Z" {
		t.Errorf("Meta(digest) = %q", v)
	}
	set("digest", "second")
	if v, o := get("digest"), get("other"); v != "second" || o != "ünïcode ✓\nline 2" {
		t.Errorf("after overwrite: digest = %q, other = %q", v, o)
	}
	set("digest", "")
	if v := get("digest"); v != "" {
		t.Errorf("Meta(digest) = %q; want \"\"", v)
	}
	// A restart keeps them.
	path := filepath.Join(t.TempDir(), "meta.db")
	s1 := openAt(t, path)
	if err := s1.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	if v, err := openAt(t, path).Meta(ctx, "k"); err != nil || v != "v" {
		t.Errorf("after reopen Meta(k) = %q, %v; want v", v, err)
	}
}

func TestStore_SNSMessages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions()) // clock: t0 + 1h
		ctx := context.Background()
		mark := func(id string, at time.Time) bool {
			t.Helper()
			seen, err := s.MarkSNSMessage(ctx, id, at)
			if err != nil {
				t.Fatalf("MarkSNSMessage(%q): %v", id, err)
			}
			return seen
		}
		prune := func(before time.Time) int64 {
			t.Helper()
			n, err := s.PruneSNSMessages(ctx, before)
			if err != nil {
				t.Fatalf("PruneSNSMessages: %v", err)
			}
			return n
		}

		if mark("m1", t0) {
			t.Error("first mark of m1: seen")
		}
		// A second mark reports it seen and keeps the first time (a later one would delay pruning).
		if !mark("m1", t0.Add(30*time.Minute)) {
			t.Error("second mark of m1: not seen")
		}
		if mark("m2", t0.Add(time.Second)) || mark("m3", time.Time{}) /* the clock: t0 + 1h */ {
			t.Error("first mark of m2 or m3: seen")
		}

		// Forget lets a message be handled again.
		if err := s.ForgetSNSMessage(ctx, "m2"); err != nil {
			t.Fatal(err)
		}
		if err := s.ForgetSNSMessage(ctx, "never-marked"); err != nil {
			t.Errorf("ForgetSNSMessage of an unmarked message: %v", err)
		}
		if mark("m2", t0.Add(2*time.Second)) {
			t.Error("mark of m2 after forget: seen")
		}

		// Prune deletes strictly before.
		if n := prune(t0); n != 0 {
			t.Errorf("prune before t0 deleted %d; want 0", n)
		}
		if n := prune(t0.Add(2 * time.Second)); n != 1 { // m1 at t0; m2 at t0+2s stays
			t.Errorf("prune before t0+2s deleted %d; want 1", n)
		}
		if mark("m1", t0.Add(3*time.Second)) {
			t.Error("mark of pruned m1: seen")
		}
		if !mark("m2", t0) || !mark("m3", t0) {
			t.Error("m2 or m3 pruned too early")
		}
		if n := prune(t0.Add(time.Hour)); n != 2 { // m1 at t0+3s, m2 at t0+2s; m3 at t0+1h stays
			t.Errorf("prune before t0+1h deleted %d; want 2", n)
		}
		if n := prune(t0.Add(time.Hour + time.Millisecond)); n != 1 {
			t.Errorf("prune before t0+1h+1ms deleted %d; want 1", n)
		}
		if _, err := s.MarkSNSMessage(ctx, "", t0); err == nil {
			t.Error("MarkSNSMessage of an empty ID succeeded")
		}
	})
}

// TestStore_MarkSNSMessage_concurrent checks that of concurrent marks of one message exactly
// one reports it unseen.
func TestStore_MarkSNSMessage_concurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		for i := range 20 {
			id := fmt.Sprint("m", i)
			var mu sync.Mutex
			unseen := 0
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					seen, err := s.MarkSNSMessage(ctx, id, t0)
					if err != nil {
						t.Error(err)
						return
					}
					if !seen {
						mu.Lock()
						unseen++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if unseen != 1 {
				t.Fatalf("message %s: %d of 8 concurrent marks reported it unseen; want 1", id, unseen)
			}
		}
	})
}

// TestOpen_migratesVersion1 opens a database written by the previous version (only 00001_init
// applied, with data in it): Open brings it to version 2 and keeps the data; 00002's Down
// migration undoes it cleanly, and Open applies it again.
func TestOpen_migratesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deskpilot.db")

	// The previous version's database.
	db := openVersion(t, path, 1)
	if _, err := db.ExecContext(ctx, `
		INSERT INTO rollouts (image_name, image_arn, fleet_tag, scale_immediately, state, tag_cleared,
			reason, created_at, updated_at)
		VALUES ('img', 'arn:img', 'a', 0, 'pending', 0, '', 1, 2)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(s *Store) {
		t.Helper()
		if v := dbVersion(t, s.w); v != latestVersion(t) {
			t.Errorf("after Open, version %d; want %d", v, latestVersion(t))
		}
		rs, err := s.Rollouts(ctx, 0)
		if err != nil || len(rs) != 1 || rs[0].ImageARN != "arn:img" {
			t.Errorf("after Open, Rollouts = %+v, %v; want the one written at version 1", rs, err)
		}
		saveResets(t, s, []reset.Tracked{fullTracked("ws")}, nil, []reset.Record{{At: t0, WorkspaceID: "ws", Outcome: "reset"}},
			[]reset.Delivery{{Sender: "mail", Notice: notice.Notice{ID: "reset/ws", Kind: "reset"}}})
		if got := trackers(t, s); len(got) != 1 {
			t.Errorf("Trackers = %+v; want ws", got)
		}
		if _, err := s.MarkSNSMessage(ctx, "m", t0); err != nil {
			t.Error(err)
		}
		if err := s.SetMeta(ctx, "k", "v"); err != nil {
			t.Error(err)
		}
	}
	for range 2 { // the second Open: nothing to apply
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		check(s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Down to version 1 drops exactly the new tables.
	db = openVersion(t, path, 1)
	var tables []string
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if diff := cmp.Diff([]string{"events", "outbox", "rollouts", "saved_capacity", "steps"}, tables); diff != "" {
		t.Errorf("tables after Down to 1 (-want +got):\n%s", diff)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path)
	if v := dbVersion(t, s.w); v != latestVersion(t) {
		t.Errorf("after Down and Open, version %d; want %d", v, latestVersion(t))
	}
	if got := trackers(t, s); len(got) != 0 {
		t.Errorf("after Down and Open, Trackers = %+v; want none", got)
	}
}

func TestStore_Counts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		saveResets(t, s, []reset.Tracked{
			{ID: "ws-idle", Mode: reset.Rebuild, Phase: reset.Idle},
			{ID: "ws-grace", Mode: reset.Rebuild, Phase: reset.Grace},
			{ID: "ws-flight", Mode: reset.Restore, Phase: reset.InFlight},
		}, nil, nil, nil)
		apply(t, s, &rollout.Change{Saves: []rollout.SavedCapacity{
			{Account: "111", Region: "eu-west-1", Fleet: "a", Min: 1, Max: 2},
			{Account: "111", Region: "eu-west-1", Fleet: "b", Min: 3, Max: 4},
		}})
		if n, err := s.PendingResets(ctx); err != nil || n != 2 {
			t.Errorf("PendingResets = %d, %v; want 2 (grace and in flight, not idle)", n, err)
		}
		if n, err := s.SavedCount(ctx); err != nil || n != 2 {
			t.Errorf("SavedCount = %d, %v; want 2", n, err)
		}
	})
}
