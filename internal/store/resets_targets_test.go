package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/reset"
)

// Three targets: two accounts in one region, and the first account in a second region.
var (
	targetA = [2]string{"111111111111", "eu-west-1"}
	targetB = [2]string{"222222222222", "eu-west-1"}
	targetC = [2]string{"111111111111", "us-east-1"}
)

func view(s *Store, target [2]string) *Resets { return s.Resets(target[0], target[1]) }

// inTarget returns t as the store reads it back from target.
func inTarget(t reset.Tracked, target [2]string) reset.Tracked {
	t.Account, t.Region = target[0], target[1]
	return t
}

func viewTrackers(t testing.TB, r *Resets) map[string]reset.Tracked {
	t.Helper()
	got, err := r.Trackers(context.Background())
	if err != nil {
		t.Fatalf("Trackers: %v", err)
	}
	return got
}

func viewSave(t testing.TB, r *Resets, save, remove []reset.Tracked, records []reset.Record) {
	t.Helper()
	if err := r.SaveResets(context.Background(), save, remove, records, nil); err != nil {
		t.Fatalf("SaveResets: %v", err)
	}
}

// One WorkSpace ID tracked in three targets: each target's view reads, writes and removes its
// own tracker only, and the Store lists all three.
func TestResets_targetsDoNotSeeEachOther(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		a, b, c := view(s, targetA), view(s, targetB), view(s, targetC)
		ta := fullTracked("ws-1")
		tb := reset.Tracked{ID: "ws-1", Mode: reset.Restore, Phase: reset.Grace, UserName: "bob", DueAt: t0}
		tc := reset.Tracked{ID: "ws-1", Mode: reset.Rebuild, Phase: reset.Idle, UserName: "carol"}
		// Left empty, the account and region are the view's; set, they must be the view's.
		viewSave(t, a, []reset.Tracked{ta, fullTracked("ws-a-only")}, nil, nil)
		viewSave(t, b, []reset.Tracked{inTarget(tb, targetB)}, nil, nil)
		viewSave(t, c, []reset.Tracked{tc}, nil, nil)

		want := map[string]reset.Tracked{"ws-1": inUTC(inTarget(ta, targetA)), "ws-a-only": inUTC(inTarget(fullTracked("ws-a-only"), targetA))}
		if diff := cmp.Diff(want, viewTrackers(t, a), exactTimes); diff != "" {
			t.Errorf("target A's trackers (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]reset.Tracked{"ws-1": inTarget(tb, targetB)}, viewTrackers(t, b), exactTimes); diff != "" {
			t.Errorf("target B's trackers (-want +got):\n%s", diff)
		}

		// An update through one view changes that target's tracker only.
		tb2 := tb
		tb2.Phase, tb2.Attempts = reset.Resetting, 2
		viewSave(t, b, []reset.Tracked{tb2}, nil, nil)
		if got := viewTrackers(t, a)["ws-1"]; got.UserName != ta.UserName || got.Phase != ta.Phase {
			t.Errorf("target A's ws-1 after B's update = %+v", got)
		}
		if got := viewTrackers(t, c)["ws-1"]; got.UserName != "carol" || got.Phase != reset.Idle {
			t.Errorf("target C's ws-1 after B's update = %+v", got)
		}

		// The Store lists every target's, the first target's (by account, region) under the ID.
		all := trackers(t, s)
		keys := make([]string, 0, len(all))
		for k := range all {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantKeys := []string{"111111111111/us-east-1/ws-1", "222222222222/eu-west-1/ws-1", "ws-1", "ws-a-only"}
		if diff := cmp.Diff(wantKeys, keys); diff != "" {
			t.Errorf("Store.Trackers keys (-want +got):\n%s", diff)
		}
		if got := all["ws-1"]; got.Account != targetA[0] || got.Region != targetA[1] {
			t.Errorf("Store.Trackers[ws-1] is of %s/%s; want target A's", got.Account, got.Region)
		}
		if got := all["222222222222/eu-west-1/ws-1"]; got.ID != "ws-1" || got.Phase != reset.Resetting {
			t.Errorf("target B's tracker in Store.Trackers = %+v", got)
		}
		if n, err := s.PendingResets(ctx); err != nil || n != 3 {
			t.Errorf("PendingResets = %d, %v; want 3 (A's ws-1 and ws-a-only in flight, B's resetting)", n, err)
		}

		// A removal through one view leaves the other targets' trackers.
		viewSave(t, a, nil, ids("ws-1"), nil)
		if got := viewTrackers(t, a); len(got) != 1 || got["ws-a-only"].ID == "" {
			t.Errorf("target A's trackers after its removal of ws-1 = %+v", got)
		}
		if len(viewTrackers(t, b)) != 1 || len(viewTrackers(t, c)) != 1 {
			t.Errorf("A's removal of ws-1 removed another target's: B %+v, C %+v", viewTrackers(t, b), viewTrackers(t, c))
		}
		// So does a removal through the Store, of the target the tracker names.
		saveResets(t, s, nil, []reset.Tracked{inTarget(reset.Tracked{ID: "ws-1"}, targetC), {ID: "ws-1"}}, nil, nil)
		if len(viewTrackers(t, b)) != 1 || len(viewTrackers(t, c)) != 0 {
			t.Errorf("the Store's removal of C's ws-1: B %+v, C %+v; want B's kept, C's gone", viewTrackers(t, b), viewTrackers(t, c))
		}

		// Writing another target's tracker or record through a view is an error, and writes nothing.
		before := resetSnapshot(t, s)
		for _, bad := range []struct {
			name         string
			save, remove []reset.Tracked
			records      []reset.Record
		}{
			{"tracker of another account", []reset.Tracked{fullTracked("ws-new"), inTarget(fullTracked("ws-x"), targetB)}, nil, nil},
			{"tracker of another region", []reset.Tracked{inTarget(fullTracked("ws-x"), targetC)}, nil, nil},
			{"tracker with a region only", []reset.Tracked{{ID: "ws-x", Region: "eu-west-1"}}, nil, nil},
			{"removal of another target's", []reset.Tracked{fullTracked("ws-new")}, []reset.Tracked{inTarget(reset.Tracked{ID: "ws-1"}, targetB)}, nil},
			{"record of another target", nil, nil, []reset.Record{{WorkspaceID: "ws-x", Outcome: "reset", Account: targetB[0], Region: targetB[1]}}},
		} {
			if err := a.SaveResets(ctx, bad.save, bad.remove, bad.records, nil); err == nil {
				t.Errorf("%s: SaveResets through target A's view succeeded; want an error", bad.name)
			} else {
				t.Logf("%s: %v", bad.name, err)
			}
		}
		if diff := cmp.Diff(before, resetSnapshot(t, s)); diff != "" {
			t.Errorf("refused writes changed the store (-before +after):\n%s", diff)
		}
	})
}

// Each target's view reads its own history; the Store reads every target's, each record
// naming its target.
func TestResets_RecordsBetween_perTarget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions()) // clock: t0 + 1h
		ctx := context.Background()
		a, b := view(s, targetA), view(s, targetB)
		rec := func(d time.Duration, ws string) reset.Record {
			return reset.Record{At: t0.Add(d), WorkspaceID: ws, UserName: "u", Mode: reset.Rebuild, Outcome: "reset", Reason: "r"}
		}
		viewSave(t, a, nil, nil, []reset.Record{rec(time.Second, "ws-1"), rec(3*time.Second, "ws-a")})
		viewSave(t, b, nil, nil, []reset.Record{rec(2*time.Second, "ws-1"), {WorkspaceID: "ws-b", Outcome: "skipped"}})
		saveResets(t, s, nil, nil, []reset.Record{rec(4*time.Second, "ws-legacy")}, nil) // no target

		ids := func(records []reset.Record) []string {
			var out []string
			for _, r := range records {
				out = append(out, r.Account+"/"+r.Region+"/"+r.WorkspaceID)
			}
			return out
		}
		between := func(st reset.Store) []string {
			t.Helper()
			got, err := st.RecordsBetween(ctx, t0, t0.Add(2*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			checkUTC(t, got)
			return ids(got)
		}
		for _, tc := range []struct {
			name string
			st   reset.Store
			want []string
		}{
			{"target A", a, []string{"111111111111/eu-west-1/ws-1", "111111111111/eu-west-1/ws-a"}},
			{"target B, its record stamped by the store's clock", b, []string{"222222222222/eu-west-1/ws-1", "222222222222/eu-west-1/ws-b"}},
			{"every target", s, []string{"111111111111/eu-west-1/ws-1", "222222222222/eu-west-1/ws-1", "111111111111/eu-west-1/ws-a", "//ws-legacy", "222222222222/eu-west-1/ws-b"}},
			{"the unscoped view", s.Resets("", ""), []string{"111111111111/eu-west-1/ws-1", "222222222222/eu-west-1/ws-1", "111111111111/eu-west-1/ws-a", "//ws-legacy", "222222222222/eu-west-1/ws-b"}},
		} {
			if diff := cmp.Diff(tc.want, between(tc.st)); diff != "" {
				t.Errorf("%s: RecordsBetween (-want +got):\n%s", tc.name, diff)
			}
		}
		all, err := s.Records(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(all); len(got) != 5 || got[0] != "111111111111/eu-west-1/ws-1" {
			t.Errorf("Records = %q; want all five, each with its target", got)
		}
	})
}

// Adopt gives trackers and records without a target the daemon's, leaves other targets' rows
// alone, and keeps an old tracker whose WorkSpace the target already tracks as it is.
func TestStore_Adopt_resets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		// As written before migration 8 (no target), and by the daemon's target and another.
		saveResets(t, s, []reset.Tracked{fullTracked("ws-old"), {ID: "ws-dup", Mode: reset.Off, Phase: reset.Idle, UserName: "old"}}, nil,
			[]reset.Record{{At: t0, WorkspaceID: "ws-old", Outcome: "reset"}}, nil)
		viewSave(t, view(s, targetA), []reset.Tracked{{ID: "ws-dup", Mode: reset.Rebuild, Phase: reset.Grace, UserName: "new"}}, nil, nil)
		viewSave(t, view(s, targetB), []reset.Tracked{{ID: "ws-b", Mode: reset.Rebuild, Phase: reset.Idle}}, nil,
			[]reset.Record{{At: t0, WorkspaceID: "ws-b", Outcome: "skipped"}})

		for range 2 { // idempotent
			if err := s.Adopt(ctx, targetA[0], targetA[1]); err != nil {
				t.Fatal(err)
			}
		}
		got := viewTrackers(t, view(s, targetA))
		if len(got) != 2 || got["ws-old"].DirectoryID != "d-1234567890" || got["ws-dup"].UserName != "new" {
			t.Errorf("target A's trackers after Adopt = %+v; want ws-old adopted and its own ws-dup", got)
		}
		if left := viewTrackers(t, s.Resets("", "")); len(left) != 4 {
			t.Errorf("every tracker after Adopt = %+v; want 4 (the unadoptable old ws-dup kept)", left)
		}
		if got := viewTrackers(t, view(s, targetB)); len(got) != 1 || got["ws-b"].ID != "ws-b" {
			t.Errorf("target B's trackers after A's Adopt = %+v", got)
		}
		recs, err := view(s, targetA).RecordsBetween(ctx, time.Time{}, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].WorkspaceID != "ws-old" || recs[0].Account != targetA[0] {
			t.Errorf("target A's records after Adopt = %+v; want the old one", recs)
		}
		recs, err = view(s, targetB).RecordsBetween(ctx, time.Time{}, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].WorkspaceID != "ws-b" {
			t.Errorf("target B's records after A's Adopt = %+v", recs)
		}
	})
}

// Adopt starts the daemon's target's digest watermark from the one kept before targets when
// that one is later, and keeps the old one.
func TestStore_Adopt_digestWatermark(t *testing.T) {
	const (
		early = "2025-03-11T02:00:00Z"
		late  = "2025-03-11T03:00:00.5Z" // later, though not by string order
	)
	key := reset.DigestKey(targetA[0], targetA[1])
	legacy := reset.DigestKey("", "")
	tests := []struct {
		name        string
		old, target string // "" for none
		want        string
	}{
		{"none kept before: none", "", "", ""},
		{"the target has none: the old one", late, "", late},
		{"the old one is later", late, early, late},
		{"the target's is later: kept", early, late, late},
		{"the same", early, early, early},
		{"an unreadable old one is none", "garbage", early, early},
	}
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				ctx := context.Background()
				if tc.old != "" {
					must(t, s.SetMeta(ctx, legacy, tc.old))
				}
				if tc.target != "" {
					must(t, s.SetMeta(ctx, key, tc.target))
				}
				must(t, s.SetMeta(ctx, reset.DigestKey(targetB[0], targetB[1]), early))
				for range 2 {
					must(t, s.Adopt(ctx, targetA[0], targetA[1]))
				}
				meta := func(k string) string {
					v, err := s.Meta(ctx, k)
					must(t, err)
					return v
				}
				if got := meta(key); got != tc.want {
					t.Errorf("target A's watermark = %q; want %q", got, tc.want)
				}
				if got := meta(legacy); got != tc.old {
					t.Errorf("the old watermark = %q; want it kept, %q", got, tc.old)
				}
				if got := meta(reset.DigestKey(targetB[0], targetB[1])); got != early {
					t.Errorf("target B's watermark = %q; want it untouched", got)
				}
			})
		}
	})
}

// estate is a reset.API over a fixed list of WorkSpaces, nobody connected, that makes no
// acting call.
type estate struct{ wss []reset.WorkSpace }

func (e *estate) List(context.Context) ([]reset.WorkSpace, error) { return e.wss, nil }

func (e *estate) Get(_ context.Context, ids []string) (map[string]reset.WorkSpace, error) {
	out := map[string]reset.WorkSpace{}
	for _, ws := range e.wss {
		for _, id := range ids {
			if ws.ID == id {
				out[id] = ws
			}
		}
	}
	return out, nil
}

func (e *estate) Tags(context.Context, string) (map[string]string, error) { return nil, nil }

func (e *estate) Connections(_ context.Context, ids []string) (map[string]reset.Connection, error) {
	out := map[string]reset.Connection{}
	for _, ws := range e.wss {
		if ids == nil || strings.Contains(" "+strings.Join(ids, " ")+" ", " "+ws.ID+" ") {
			out[ws.ID] = reset.Connection{ID: ws.ID, State: "DISCONNECTED", LastConnected: t0.Add(-time.Hour)}
		}
	}
	return out, nil
}

func (e *estate) Snapshots(context.Context, string) (reset.Snapshots, error) {
	return reset.Snapshots{}, nil
}

var errNoAction = errors.New("no acting call expected")

func (e *estate) SetMaintenance(context.Context, string, bool) error { return errNoAction }
func (e *estate) Rebuild(context.Context, string) error              { return errNoAction }
func (e *estate) Restore(context.Context, string) error              { return errNoAction }

// Two reset controllers, of two accounts whose estates share a WorkSpace ID, on one store:
// each tracks, forgets and digests its own WorkSpaces, under its own watermark. Each is given
// its target's view, or the Store itself: the controller keeps to its target all the same.
func TestResets_controllerPerTarget(t *testing.T) {
	for _, via := range []string{"views", "store"} {
		t.Run(via, func(t *testing.T) { testControllerPerTarget(t, via == "views") })
	}
}

func testControllerPerTarget(t *testing.T, views bool) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		clock := newManualClock(t0)
		s := open(t, Options{Now: clock.Now})
		ctx := context.Background()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		apiA := &estate{wss: []reset.WorkSpace{{ID: "ws-1", UserName: "alice", State: "AVAILABLE"}, {ID: "ws-a", UserName: "ann", State: "AVAILABLE"}}}
		apiB := &estate{wss: []reset.WorkSpace{{ID: "ws-1", UserName: "bob", State: "AVAILABLE"}}}
		cfg := func(target [2]string) reset.Config {
			return reset.Config{Account: target[0], Region: target[1], TargetInSubject: true, DigestInterval: time.Hour, Senders: []string{"mail"}}
		}
		storeOf := func(target [2]string) reset.Store {
			if views {
				return view(s, target)
			}
			return s
		}
		a := reset.New(cfg(targetA), apiA, storeOf(targetA), clock.Now, log)
		b := reset.New(cfg(targetB), apiB, storeOf(targetB), clock.Now, log)
		reconcile := func() {
			t.Helper()
			for _, c := range []*reset.Controller{a, b} {
				if _, err := c.Reconcile(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		reconcile()
		if got := viewTrackers(t, view(s, targetA)); len(got) != 2 || got["ws-1"].UserName != "alice" || got["ws-1"].Account != targetA[0] {
			t.Errorf("target A's trackers = %+v", got)
		}
		if got := viewTrackers(t, view(s, targetB)); len(got) != 1 || got["ws-1"].UserName != "bob" || got["ws-1"].Region != targetB[1] {
			t.Errorf("target B's trackers = %+v", got)
		}
		for _, target := range [][2]string{targetA, targetB} {
			if v, err := s.Meta(ctx, reset.DigestKey(target[0], target[1])); err != nil || v == "" {
				t.Errorf("watermark of %v = %q, %v; want one", target, v, err)
			}
		}
		if v, err := s.Meta(ctx, reset.DigestKey("", "")); err != nil || v != "" {
			t.Errorf("watermark without a target = %q, %v; want none", v, err)
		}

		// Decisions of both targets on ws-1, then an hour: one digest each, of its own.
		viewSave(t, view(s, targetA), nil, nil, []reset.Record{{At: t0.Add(time.Minute), WorkspaceID: "ws-1", UserName: "alice", Mode: reset.Rebuild, Outcome: "reset", Reason: "logged off"}})
		viewSave(t, view(s, targetB), nil, nil, []reset.Record{{At: t0.Add(2 * time.Minute), WorkspaceID: "ws-1", UserName: "bob", Mode: reset.Rebuild, Outcome: "failed", Reason: "denied"}})
		// A's WorkSpace ws-1 is deleted: A forgets it, B keeps its own.
		apiA.wss = apiA.wss[1:]
		clock.Add(time.Hour + time.Second)
		reconcile()
		if got := viewTrackers(t, view(s, targetA)); len(got) != 1 || got["ws-a"].ID == "" {
			t.Errorf("target A's trackers after ws-1 was deleted = %+v", got)
		}
		if got := viewTrackers(t, view(s, targetB)); len(got) != 1 || got["ws-1"].UserName != "bob" {
			t.Errorf("target B's trackers after A's ws-1 was deleted = %+v", got)
		}

		due, err := s.Due(ctx, clock.Now().Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		type digest struct{ ID, Subject, Items string }
		var got []digest
		for _, d := range due {
			var items []string
			for _, it := range d.Notice.Items {
				items = append(items, it.Name+" "+it.Status)
			}
			got = append(got, digest{d.Notice.ID, d.Notice.Subject, strings.Join(items, "; ")})
		}
		sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
		want := []digest{
			{"workspaces/digest/111111111111/eu-west-1/20250311T020000Z", "WorkSpaces reset: 1 reset, 0 skipped, 0 failed (account 111111111111, eu-west-1)", "ws-1 (alice) reset"},
			{"workspaces/digest/222222222222/eu-west-1/20250311T020000Z", "WorkSpaces reset: 0 reset, 0 skipped, 1 failed (account 222222222222, eu-west-1)", "ws-1 (bob) failed"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("digests (-want +got):\n%s", diff)
		}
	})
}

// TestOpen_migratesVersion7 opens a database written before resets were keyed by target (00007
// applied, with a tracker and a record in it): Open brings it to the latest version, the rows
// read back without a target until Adopt gives them one; 00008's Down migration restores
// exactly the version 7 columns, keeping the rows, and Open applies it again.
func TestOpen_migratesVersion7(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deskpilot.db")

	db := openVersion(t, path, 7)
	wsCols7, resetCols7 := columns(t, db, "workspaces"), columns(t, db, "resets")
	for _, q := range []string{
		`INSERT INTO workspaces (id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
			handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
			attempts, tags_checked_at, maintenance, waiting)
		VALUES ('ws-1', 'rebuild', 'd-1', 'alice', 'wsb-1', 'DISCONNECTED', 1, 2, 3, 'grace', 4, 5,
			'10.0.0.5', NULL, 1, 6, 1, 'a snapshot')`,
		`INSERT INTO resets (at, workspace_id, user_name, mode, outcome, reason)
		VALUES (7, 'ws-1', 'alice', 'rebuild', 'logoff', 'disconnected')`,
		`INSERT INTO meta (key, value) VALUES ('workspaces.digest.until', '2025-03-11T02:00:00Z')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	must(t, db.Close())

	ms := func(n int64) time.Time { return time.UnixMilli(n).UTC() }
	tracked := reset.Tracked{ID: "ws-1", Mode: reset.Rebuild, DirectoryID: "d-1", UserName: "alice", BundleID: "wsb-1",
		LastState: "DISCONNECTED", LastConnected: ms(1), HandledLogon: ms(2), PendingLogon: ms(3), Phase: reset.Grace,
		DisconnectedAt: ms(4), DueAt: ms(5), IPBefore: "10.0.0.5", Attempts: 1, TagsCheckedAt: ms(6), Maintenance: true,
		Waiting: "a snapshot"}
	record := reset.Record{At: ms(7), WorkspaceID: "ws-1", UserName: "alice", Mode: reset.Rebuild, Outcome: "logoff", Reason: "disconnected"}
	check := func(what string, adopt bool) {
		t.Helper()
		s := openAt(t, path)
		defer s.Close()
		if v := dbVersion(t, s.w); v != latestVersion(t) {
			t.Errorf("%s: version %d; want %d", what, v, latestVersion(t))
		}
		var st reset.Store = s
		wantT, wantR := tracked, record
		if adopt {
			must(t, s.Adopt(ctx, targetA[0], targetA[1]))
			st = view(s, targetA)
			wantT, wantR = inTarget(tracked, targetA), record
			wantR.Account, wantR.Region = targetA[0], targetA[1]
			if v, err := s.Meta(ctx, reset.DigestKey(targetA[0], targetA[1])); err != nil || v != "2025-03-11T02:00:00Z" {
				t.Errorf("%s: the target's watermark = %q, %v; want the old one", what, v, err)
			}
		}
		got, err := st.Trackers(ctx)
		must(t, err)
		if diff := cmp.Diff(map[string]reset.Tracked{"ws-1": wantT}, got, exactTimes); diff != "" {
			t.Errorf("%s: Trackers (-want +got):\n%s", what, diff)
		}
		recs, err := st.RecordsBetween(ctx, time.Time{}, ms(8))
		must(t, err)
		if diff := cmp.Diff([]reset.Record{wantR}, recs, exactTimes); diff != "" {
			t.Errorf("%s: RecordsBetween (-want +got):\n%s", what, diff)
		}
	}
	check("after Open", false)
	check("after Adopt", true)

	// Down to version 7 restores exactly its columns, and keeps the rows.
	db = openVersion(t, path, 7)
	if diff := cmp.Diff(wsCols7, columns(t, db, "workspaces")); diff != "" {
		t.Errorf("workspaces columns after Down to 7 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(resetCols7, columns(t, db, "resets")); diff != "" {
		t.Errorf("resets columns after Down to 7 (-want +got):\n%s", diff)
	}
	var n int
	must(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE id = 'ws-1' AND maintenance = 1`).Scan(&n))
	if n != 1 {
		t.Errorf("after Down to 7, %d rows of ws-1; want 1", n)
	}
	must(t, db.Close())
	check("after Down and Open", false) // the target is lost with the columns
}

// The Down migration keeps one tracker per WorkSpace ID, the first target's.
func TestOpen_migration8DownKeepsOneTrackerPerID(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deskpilot.db")
	s := openAt(t, path)
	viewSave(t, view(s, targetB), []reset.Tracked{{ID: "ws-1", UserName: "bob"}}, nil, nil)
	viewSave(t, view(s, targetA), []reset.Tracked{{ID: "ws-1", UserName: "alice"}, {ID: "ws-2", UserName: "ann"}}, nil, nil)
	viewSave(t, view(s, targetC), []reset.Tracked{{ID: "ws-1", UserName: "carol"}}, nil, nil)
	must(t, s.Close())

	db := openVersion(t, path, 7)
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT id, user_name FROM workspaces ORDER BY id`)
	must(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, user string
		must(t, rows.Scan(&id, &user))
		got = append(got, id+" "+user)
	}
	must(t, rows.Err())
	if diff := cmp.Diff([]string{"ws-1 alice", "ws-2 ann"}, got); diff != "" {
		t.Errorf("trackers after Down to 7 (-want +got):\n%s", diff)
	}
}
