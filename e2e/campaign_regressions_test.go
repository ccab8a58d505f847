// Regression tests for the bugs the fault campaign (campaign_test.go) found, each failing
// before its fix.

package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
)

// campaignNoAPI is a WorkSpaces estate with no WorkSpaces: the digest is all that runs. The
// embedded interface keeps it compiling as reset.API grows (a method not listed here panics).
type campaignNoAPI struct{ reset.API }

func (campaignNoAPI) List(context.Context) ([]reset.WorkSpace, error) { return nil, nil }
func (campaignNoAPI) Connections(context.Context, []string) (map[string]reset.Connection, error) {
	return map[string]reset.Connection{}, nil
}

// campaignDiesInDigest is the store of a daemon killed while it wrote its first digest: the
// digest's transaction never commits.
type campaignDiesInDigest struct {
	*store.Store
	killed bool
}

func (s *campaignDiesInDigest) SaveDigest(ctx context.Context, deliveries []reset.Delivery, key, value string) error {
	if !s.killed {
		s.killed = true
		return errors.New("killed")
	}
	return s.Store.SaveDigest(ctx, deliveries, key, value)
}

// TestCampaignBug_DigestLostAfterKillBetweenEnqueueAndWatermark: the reset digest was enqueued
// in one transaction and its watermark moved in another. A SIGKILL between the two left the
// watermark at the period's start; after the restart the next digest covered [start, later)
// under the same notice id ("workspaces/digest/<start>"), which the outbox dropped as already
// enqueued, and the watermark then moved to later: every decision between the first digest and
// the restart's was in no digest. Fixed by writing both in one transaction (SaveDigest). Here
// the daemon dies during its first digest, and a decision is made before the restarted daemon's
// digest: each is in exactly one queued digest.
func TestCampaignBug_DigestLostAfterKillBetweenEnqueueAndWatermark(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "deskpilot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := reset.Config{DigestInterval: time.Hour, Senders: []string{"email"}}
	record := func(at time.Time, ws string) {
		t.Helper()
		if err := st.SaveResets(ctx, nil, nil, []reset.Record{{At: at, WorkspaceID: ws, UserName: "u-" + ws, Mode: reset.Rebuild, Outcome: "reset", Reason: "rebuild after the user logged off"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	digests := func() []string {
		t.Helper()
		due, err := st.Due(ctx, time.Now().Add(24*time.Hour), 0) // the outbox stamps deliveries with the wall clock
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, d := range due {
			for _, it := range d.Notice.Items {
				listed = append(listed, it.Name)
			}
		}
		return listed
	}

	// 1. The first daemon sets the watermark at t0, then dies writing the digest of [t0, t0+1h).
	dying := &campaignDiesInDigest{Store: st}
	first := reset.New(cfg, campaignNoAPI{}, dying, clock, log)
	if _, err := first.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	record(t0.Add(10*time.Minute), "ws-first00001")
	now = t0.Add(time.Hour + time.Second)
	if _, err := first.Reconcile(ctx); err == nil || !dying.killed {
		t.Fatal("the kill during the digest was not simulated")
	}
	if got := digests(); len(got) != 0 {
		t.Fatalf("a digest was queued by a transaction that died: %q", got)
	}

	// 2. A decision after the kill, then the restarted daemon's digest an hour later, and the
	// one after it.
	record(t0.Add(90*time.Minute), "ws-second0001")
	now = t0.Add(2*time.Hour + 2*time.Second)
	second := reset.New(cfg, campaignNoAPI{}, st, clock, log)
	if _, err := second.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	record(t0.Add(150*time.Minute), "ws-third00001")
	now = t0.Add(3*time.Hour + 3*time.Second)
	if _, err := second.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}

	// 3. Every decision is in exactly one digest.
	listed := strings.Join(digests(), "\n")
	for _, ws := range []string{"ws-first00001", "ws-second0001", "ws-third00001"} {
		if n := strings.Count(listed, ws+" ("); n != 1 {
			t.Errorf("the reset of %s is in %d digests, want 1; the digests list %q", ws, n, listed)
		}
	}
}

// TestCampaignBug_ScheduledActionLostBetweenSaveAndDrain: found by the campaign (short, seed 3,
// variant faults, round 1, fleet cz-06-000: Min/Max 3/4 at the end, want 2/6). deskpilot saves
// a fleet's Min/Max in one pass and, in the next, stamps DrainStartedAt, tags the fleet and
// scales it to 0/0 (suspending scheduled scaling). A scheduled action that fires between the
// two passes is applied by AWS (nothing is suspended yet) and is then undone by the restore,
// which puts back the saved pair and replays only the firings from DrainStartedAt on. Under
// throttling the two passes were 37 s apart. Cause: internal/rollout/step.go, restoreTarget
// replays firings from s.DrainStartedAt instead of from when the Min/Max were read (the saved
// capacity's SavedAt).
func TestCampaignBug_ScheduledActionLostBetweenSaveAndDrain(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 18, 53, 50, 0, time.UTC)
	p := rollout.Params{ScaleImmediately: true, PollInterval: time.Second, DrainPollInterval: time.Second, DrainTimeout: time.Hour}
	fleet := rollout.Fleet{Name: "cz-06-000", State: "RUNNING", Type: "ALWAYS_ON", Desired: 3, Running: 3, Available: 3}
	s := rollout.Step{RolloutID: 1, Fleet: fleet.Name, State: rollout.StepSaving, Drain: true, WindowStart: t0.Add(-time.Hour), WindowEnd: t0.Add(time.Hour)}
	world := func(now time.Time, target rollout.Capacity) rollout.World {
		return rollout.World{Now: now, FleetFound: true, Fleet: fleet, Target: target, TargetFound: true, ImageFound: true}
	}
	orig, sched := rollout.Capacity{Min: 3, Max: 4}, rollout.Capacity{Min: 2, Max: 6}

	// 1. The Min/Max are read and saved.
	d := rollout.Decide(s, world(t0, orig), p)
	if d.Save == nil {
		t.Fatalf("the first pass did not save the Min/Max: %+v", d)
	}
	saved := *d.Save
	s = d.Next
	// 2. The scheduled action fires at t0+5s (AWS applies it: nothing is suspended yet); the
	// next pass comes 37 s later, under throttling.
	w := world(t0.Add(42*time.Second), sched)
	w.Saved, w.SavedFound = saved, true
	for i := 0; i < 30 && s.State != rollout.StepRestoring; i++ {
		d = rollout.Decide(s, w, p)
		s = d.Next
		if d.Action == rollout.ActScaleToZero {
			w.Target, w.Suspended = rollout.Capacity{}, rollout.Suspension{DynamicIn: true, DynamicOut: true, Scheduled: true}
			w.Fleet.Available = 0
		}
		w.Now = w.Now.Add(time.Second)
		if s.NextAt.After(w.Now) {
			w.Now = s.NextAt
		}
	}
	if s.State != rollout.StepRestoring {
		t.Fatalf("the step did not reach restoring: %+v", s)
	}
	// 3. The restore reads the schedule: the action was due at t0+5s.
	w.Scheduled = []rollout.ScheduledAction{{Name: "campaign-r01", Schedule: "at(" + t0.Add(5*time.Second).Format("2006-01-02T15:04:05") + ")",
		Created: t0.Add(-time.Minute), Min: &sched.Min, Max: &sched.Max}}
	d = rollout.Decide(s, w, p)
	if d.Action != rollout.ActRestore || d.Capacity != sched {
		t.Errorf("the restore registers %v %s; want %s, what the schedule says now (the action fired after the Min/Max %s were read at %s; the drain started at %s)",
			d.Action, d.Capacity, sched, orig, t0.Format(time.RFC3339), s.DrainStartedAt.Format(time.RFC3339))
	}
}
