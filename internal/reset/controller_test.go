package reset

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/notice"
)

func TestParseWatermark(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Time
	}{
		{"", time.Time{}},
		{"not a time", time.Time{}},
		{"2026-11-23T17:00:00Z", t0},
		{"2026-11-23T17:00:00.123Z", t0.Add(123 * time.Millisecond)},
		// Written with nanoseconds: the period it ended held the records of 17:00:00.123.
		{"2026-11-23T17:00:00.123456789Z", t0.Add(124 * time.Millisecond)},
		{"2026-11-23T18:00:00.000000001+01:00", t0.Add(time.Millisecond)},
	}
	for _, tt := range tests {
		if got := parseWatermark(tt.raw); !got.Equal(tt.want) {
			t.Errorf("parseWatermark(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// memStore is a Store in memory holding every target's rows, as store.Store does: trackers
// upserted and removed by account, region and ID.
type memStore struct {
	trackers   []Tracked
	records    []Record
	meta       map[string]string
	deliveries []Delivery
}

func (m *memStore) Trackers(context.Context) (map[string]Tracked, error) {
	out := map[string]Tracked{}
	for _, t := range m.trackers {
		out[t.Account+"/"+t.Region+"/"+t.ID] = t // keyed like no real store, which the controller must not mind
	}
	return out, nil
}

func (m *memStore) SaveResets(_ context.Context, save, remove []Tracked, records []Record, ds []Delivery) error {
	for _, s := range save {
		i := slices.IndexFunc(m.trackers, func(t Tracked) bool { return t.Account == s.Account && t.Region == s.Region && t.ID == s.ID })
		if i < 0 {
			m.trackers = append(m.trackers, s)
		} else {
			m.trackers[i] = s
		}
	}
	m.trackers = slices.DeleteFunc(m.trackers, func(t Tracked) bool {
		return slices.ContainsFunc(remove, func(r Tracked) bool { return r.Account == t.Account && r.Region == t.Region && r.ID == t.ID })
	})
	m.records = append(m.records, records...)
	m.deliveries = append(m.deliveries, ds...)
	return nil
}

func (m *memStore) RecordsBetween(_ context.Context, since, until time.Time) ([]Record, error) {
	var out []Record
	for _, r := range m.records {
		if !r.At.Before(since) && r.At.Before(until) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) Meta(_ context.Context, key string) (string, error) { return m.meta[key], nil }

func (m *memStore) SetMeta(_ context.Context, key, value string) error {
	if m.meta == nil {
		m.meta = map[string]string{}
	}
	m.meta[key] = value
	return nil
}

func (m *memStore) SaveDigest(ctx context.Context, ds []Delivery, key, value string) error {
	m.deliveries = append(m.deliveries, ds...)
	return m.SetMeta(ctx, key, value)
}

// fakeAPI is a WorkSpaces estate of AVAILABLE WorkSpaces, all opted in by tag, all
// disconnected since t0 - 1h; it makes no acting call.
type fakeAPI struct{ ids []string }

func (f fakeAPI) List(context.Context) ([]WorkSpace, error) {
	var out []WorkSpace
	for _, id := range f.ids {
		out = append(out, WorkSpace{ID: id, UserName: "u-" + id, State: "AVAILABLE"})
	}
	return out, nil
}

func (f fakeAPI) Get(ctx context.Context, ids []string) (map[string]WorkSpace, error) {
	all, _ := f.List(ctx)
	out := map[string]WorkSpace{}
	for _, ws := range all {
		if slices.Contains(ids, ws.ID) {
			out[ws.ID] = ws
		}
	}
	return out, nil
}

func (fakeAPI) Tags(context.Context, string) (map[string]string, error) {
	return map[string]string{"reset": "rebuild"}, nil
}

func (f fakeAPI) Connections(_ context.Context, ids []string) (map[string]Connection, error) {
	out := map[string]Connection{}
	for _, id := range f.ids {
		if ids == nil || slices.Contains(ids, id) {
			out[id] = Connection{ID: id, State: connDisconnected, LastConnected: t0.Add(-time.Hour)}
		}
	}
	return out, nil
}

func (fakeAPI) Snapshots(context.Context, string) (Snapshots, error) { return Snapshots{}, nil }

var errAct = errors.New("no acting call expected")

func (fakeAPI) SetMaintenance(context.Context, string, bool) error { return errAct }
func (fakeAPI) Rebuild(context.Context, string) error              { return errAct }
func (fakeAPI) Restore(context.Context, string) error              { return errAct }

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// A controller with a target acts on its target's trackers alone, even given a Store of every
// target, and stamps what it writes with its target.
func TestController_keepsToItsTarget(t *testing.T) {
	connected := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Idle, LastState: connConnected, LastConnected: t0.Add(-time.Hour),
		HandledLogon: t0.Add(-2 * time.Hour), TagsCheckedAt: t0}
	ours, theirs, theirsOnly := connected, connected, connected
	ours.Account, ours.Region = "111", "eu-west-1"
	theirs.Account, theirs.Region = "222", "eu-west-1"
	theirsOnly.ID, theirsOnly.Account, theirsOnly.Region = "ws-gone", "111", "us-east-1"
	st := &memStore{trackers: []Tracked{ours, theirs, theirsOnly}}
	cfg := Config{Account: "111", Region: "eu-west-1", Selection: Selection{TagKey: "reset"}, Senders: []string{"mail"}}
	c := New(cfg, fakeAPI{ids: []string{"ws-1", "ws-new"}}, st, fixed(t0), discard)
	if _, err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}

	byTarget := map[string]Tracked{}
	for _, tr := range st.trackers {
		byTarget[tr.Account+"/"+tr.Region+"/"+tr.ID] = tr
	}
	if got := byTarget["111/eu-west-1/ws-1"]; got.Phase != Grace {
		t.Errorf("our ws-1 is %s; want in its grace after the logoff", got.Phase)
	}
	if got, ok := byTarget["111/eu-west-1/ws-new"]; !ok || got.Mode != Rebuild {
		t.Errorf("the new WorkSpace is not tracked in our target: %+v", st.trackers)
	}
	if got := byTarget["222/eu-west-1/ws-1"]; got != theirs {
		t.Errorf("another account's ws-1 changed: %+v", got)
	}
	if _, ok := byTarget["111/us-east-1/ws-gone"]; !ok {
		t.Error("another region's WorkSpace, absent from our estate, was removed")
	}
	if len(st.trackers) != 4 {
		t.Errorf("trackers = %+v; want 4", st.trackers)
	}
	if len(st.records) != 1 || st.records[0].Outcome != "logoff" || st.records[0].Account != "111" || st.records[0].Region != "eu-west-1" {
		t.Errorf("records = %+v; want our logoff, in our target", st.records)
	}
	if _, ok := st.meta[DigestKey("111", "eu-west-1")]; !ok || len(st.meta) != 1 {
		t.Errorf("meta = %v; want our watermark alone", st.meta)
	}
}

// Without a target the controller takes every tracker its Store holds, as before targets, and
// keeps the watermark under the old key.
func TestController_withoutTarget(t *testing.T) {
	legacy := Tracked{ID: "ws-1", Mode: Rebuild, Phase: Idle, LastState: connConnected, LastConnected: t0.Add(-time.Hour),
		HandledLogon: t0.Add(-2 * time.Hour), TagsCheckedAt: t0}
	st := &memStore{trackers: []Tracked{legacy}}
	c := New(Config{Selection: Selection{TagKey: "reset"}}, fakeAPI{ids: []string{"ws-1"}}, st, fixed(t0), discard)
	if _, err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.trackers) != 1 || st.trackers[0].Phase != Grace || st.trackers[0].Account != "" {
		t.Errorf("trackers = %+v; want ws-1 in its grace, without a target", st.trackers)
	}
	if _, ok := st.meta["workspaces.digest.until"]; !ok || len(st.meta) != 1 {
		t.Errorf("meta = %v; want the watermark under workspaces.digest.until", st.meta)
	}
}

func TestDigestKey(t *testing.T) {
	for _, tt := range []struct{ account, region, want string }{
		{"", "", "workspaces.digest.until"},
		{"123456789012", "eu-west-1", "workspaces.digest.until/123456789012/eu-west-1"},
		{"", "eu-west-1", "workspaces.digest.until//eu-west-1"},
	} {
		if got := DigestKey(tt.account, tt.region); got != tt.want {
			t.Errorf("DigestKey(%q, %q) = %q, want %q", tt.account, tt.region, got, tt.want)
		}
	}
}

// The digest names its target in its id, subject and fields, lists the target's records
// alone, and without a target is as it always was.
func TestController_digestNamesTarget(t *testing.T) {
	tests := []struct {
		name            string
		account, region string
		inSubject       bool
		wantID          string
		wantSubject     string
		extra           []Record
		wantFields      []notice.Field
		wantItems       []string
	}{
		{"no target: as before, every record", "", "", false, "workspaces/digest/20261123T170000Z",
			"WorkSpaces reset: 2 reset, 0 skipped, 1 failed", nil, nil, []string{"ws-1 (alice)", "ws-1 (bob)", "ws-legacy (old)"}},
		{"a target", "111", "eu-west-1", true, "workspaces/digest/111/eu-west-1/20261123T170000Z",
			"WorkSpaces reset: 1 reset, 0 skipped, 0 failed (account 111, eu-west-1)", nil,
			[]notice.Field{{Name: "Account", Value: "111"}, {Name: "Region", Value: "eu-west-1"}}, []string{"ws-1 (alice)"}},
		{"the one target of a daemon: the subject as before", "111", "eu-west-1", false, "workspaces/digest/111/eu-west-1/20261123T170000Z",
			"WorkSpaces reset: 1 reset, 0 skipped, 0 failed", nil,
			[]notice.Field{{Name: "Account", Value: "111"}, {Name: "Region", Value: "eu-west-1"}}, []string{"ws-1 (alice)"}},
		{"a region only", "", "eu-west-1", true, "workspaces/digest/-/eu-west-1/20261123T170000Z",
			"WorkSpaces reset: 0 reset, 1 skipped, 0 failed (eu-west-1)",
			[]Record{{At: t0.Add(5 * time.Minute), Region: "eu-west-1", WorkspaceID: "ws-8", UserName: "y", Outcome: "skipped"}},
			[]notice.Field{{Name: "Region", Value: "eu-west-1"}}, []string{"ws-8 (y)"}},
		{"an account only, not a notice id's characters", "my account", "", true, "workspaces/digest/my_account/-/20261123T170000Z",
			"WorkSpaces reset: 0 reset, 1 skipped, 0 failed (account my account)",
			[]Record{{At: t0.Add(5 * time.Minute), Account: "my account", WorkspaceID: "ws-9", UserName: "x", Outcome: "skipped"}},
			[]notice.Field{{Name: "Account", Value: "my account"}}, []string{"ws-9 (x)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{
				meta: map[string]string{DigestKey(tt.account, tt.region): t0.Format(time.RFC3339Nano)},
				records: []Record{
					{At: t0.Add(time.Minute), Account: "111", Region: "eu-west-1", WorkspaceID: "ws-1", UserName: "alice", Mode: Rebuild, Outcome: "reset"},
					{At: t0.Add(2 * time.Minute), Account: "222", Region: "eu-west-1", WorkspaceID: "ws-1", UserName: "bob", Mode: Rebuild, Outcome: "failed"},
					{At: t0.Add(3 * time.Minute), WorkspaceID: "ws-legacy", UserName: "old", Mode: Rebuild, Outcome: "reset"},
					{At: t0.Add(4 * time.Minute), Account: "111", Region: "eu-west-1", WorkspaceID: "ws-2", UserName: "ann", Mode: Rebuild, Outcome: "logoff"},
				},
			}
			st.records = append(st.records, tt.extra...)
			cfg := Config{Account: tt.account, Region: tt.region, TargetInSubject: tt.inSubject, DigestInterval: time.Hour, Senders: []string{"mail"}}
			c := New(cfg, fakeAPI{}, st, fixed(t0.Add(time.Hour)), discard)
			if _, err := c.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(st.deliveries) != 1 {
				t.Fatalf("deliveries = %+v; want one digest", st.deliveries)
			}
			n := st.deliveries[0].Notice
			if err := n.Validate(); err != nil {
				t.Errorf("digest does not validate: %v", err)
			}
			var items []string
			for _, it := range n.Items {
				items = append(items, it.Name)
			}
			got := struct {
				ID, Subject string
				Fields      []notice.Field
				Items       []string
			}{n.ID, n.Subject, n.Fields, items}
			want := got
			want.ID, want.Subject, want.Fields, want.Items = tt.wantID, tt.wantSubject, tt.wantFields, tt.wantItems
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("digest (-want +got):\n%s", diff)
			}
			if v := st.meta[DigestKey(tt.account, tt.region)]; v != t0.Add(time.Hour).Format(time.RFC3339Nano) {
				t.Errorf("watermark = %q; want moved to the end of the period", v)
			}
		})
	}
}
