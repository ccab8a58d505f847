package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/notice"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// t0 has milliseconds, which the store keeps, and no finer part, which it drops.
var t0 = time.Date(2025, 3, 11, 2, 0, 0, 123_000_000, time.UTC)

// fixedClock returns a clock stopped at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// openTest opens a store in a new file that is closed when the test ends.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "deskpilot.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Now: fixedClock(t0.Add(time.Hour))})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func apply(t testing.TB, s *Store, c *rollout.Change) {
	t.Helper()
	if err := s.Apply(context.Background(), c); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// create applies a Change creating r and returns r with its ID.
func create(t testing.TB, s *Store, r rollout.Rollout) rollout.Rollout {
	t.Helper()
	apply(t, s, &rollout.Change{Create: &r})
	return r
}

// fullRollout returns a rollout with every field set but ID (TestFullRollout checks), and
// steps with every field set but RolloutID (b) or every optional field zero (a, in wave 1, the
// canary).
func fullRollout(image string) rollout.Rollout {
	return rollout.Rollout{
		Account:          "123456789012",
		Region:           "eu-west-1",
		ImageName:        image,
		ImageARN:         "arn:aws:appstream:eu-west-1:123456789012:image/" + image,
		FleetTag:         "b / a",
		ScaleImmediately: true,
		Drain:            "sessions",
		State:            rollout.Running,
		Start:            t0.Add(24 * time.Hour),
		TagCleared:       true,
		Reason:           "window opened",
		CreatedAt:        t0,
		UpdatedAt:        t0.Add(time.Minute),
		Canary:           "a",
		WaveSize:         5,
		Approval:         true,
		Waves:            3,
		Wave:             2,
		Gate:             rollout.GateBaking,
		GateSince:        t0.Add(25 * time.Hour),
		WaveAt:           t0.Add(24*time.Hour + 30*time.Minute),
		NextAt:           t0.Add(25*time.Hour + 10*time.Minute),
		Approved:         true,
		ApprovedBy:       "jdoe ünïcode",
		Checks:           "fleet b: 2 sessions failed to start; fleet b: capacity below 50%",
		Steps: []rollout.Step{
			{Fleet: "a", State: rollout.StepWaiting, Wave: 1},
			{
				Fleet:            "b",
				State:            rollout.StepDraining,
				WindowStart:      t0.Add(24 * time.Hour),
				WindowEnd:        t0.Add(26 * time.Hour),
				NextAt:           t0.Add(24*time.Hour + 5*time.Second),
				Attempts:         3,
				Drain:            true,
				SavedMin:         2,
				SavedMax:         -7, // any int32 survives, negative included
				DrainStartedAt:   t0.Add(24*time.Hour + time.Second),
				StartedAt:        t0.Add(24 * time.Hour),
				FinishedAt:       t0.Add(25 * time.Hour),
				Message:          "waiting for 4 sessions to end",
				EscalatedAt:      t0.Add(25*time.Hour + time.Minute),
				RemindedAt:       t0.Add(26 * time.Hour),
				Wave:             2,
				PreviousImageARN: "arn:aws:appstream:eu-west-1:123456789012:image/previous",
				RollingBack:      true,
				SavedSuspended:   rollout.Suspension{DynamicOut: true, Scheduled: true},
				Restored:         rollout.Capacity{Min: 4, Max: 20},
				DrainMode:        "deadline",
				AppliedAt:        t0.Add(24*time.Hour + 2*time.Second),
				WarnedAt:         t0.Add(27 * time.Hour),
			},
		},
	}
}

// TestFullRollout checks that fullRollout sets every field, so that the round-trip tests
// cover a field added to rollout.Rollout or rollout.Step.
func TestFullRollout(t *testing.T) {
	r := fullRollout("img")
	check := func(what string, v reflect.Value, except ...string) {
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			if v.Field(i).IsZero() && !slices.Contains(except, name) {
				t.Errorf("fullRollout leaves %s.%s zero", what, name)
			}
		}
	}
	check("Rollout", reflect.ValueOf(r), "ID")
	check("Steps[1]", reflect.ValueOf(r.Steps[1]), "RolloutID")
}

// written returns r as the store writes it: a rollout and its steps have at least one wave.
func written(r rollout.Rollout) rollout.Rollout {
	r.Waves, r.Wave = max(r.Waves, 1), max(r.Wave, 1)
	r.Steps = slices.Clone(r.Steps)
	for i := range r.Steps {
		r.Steps[i].Wave = max(r.Steps[i].Wave, 1)
	}
	return r
}

// checkUTC fails if any non-zero time.Time reachable from v is not in UTC.
func checkUTC(t *testing.T, v any) {
	t.Helper()
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if !v.CanInterface() {
			return
		}
		if tm, ok := v.Interface().(time.Time); ok {
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("%s = %v is not in UTC", path, tm)
			}
			return
		}
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(fmt.Sprintf("%s[%v]", path, it.Key()), it.Value())
			}
		}
	}
	walk("", reflect.ValueOf(v))
}

func TestStore_Apply_roundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		zero := rollout.Rollout{ImageARN: "arn:zero", State: rollout.Pending, CreatedAt: t0, UpdatedAt: t0,
			Steps: []rollout.Step{{Fleet: "z", State: rollout.StepWaiting}}}
		other := time.FixedZone("UTC+2", 2*3600)
		inZone := fullRollout("zoned")
		inZone.Start = inZone.Start.In(other)
		inZone.Steps[1].NextAt = inZone.Steps[1].NextAt.In(other)
		inZone.GateSince = inZone.GateSince.In(other)
		inZone.Steps[1].EscalatedAt = inZone.Steps[1].EscalatedAt.In(other)
		tests := []struct {
			name string
			in   rollout.Rollout
		}{
			{"every field set", fullRollout("full")},
			{"zero times, false flags and no waves", zero},
			{"times in another zone", inZone},
			{"no steps", rollout.Rollout{ImageARN: "arn:nosteps", State: rollout.Refused, Reason: "unknown fleet x",
				CreatedAt: t0, UpdatedAt: t0}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				in := tc.in
				in.Steps = append([]rollout.Step(nil), tc.in.Steps...)
				c := &rollout.Change{Create: &in}
				apply(t, s, c)
				if in.ID == 0 {
					t.Fatal("Apply did not set the created rollout's ID")
				}
				want := written(tc.in)
				want.ID = in.ID
				for i := range want.Steps {
					want.Steps[i].RolloutID = in.ID
				}
				if diff := cmp.Diff(want, in); diff != "" {
					t.Errorf("Change.Create after Apply (-want +got):\n%s", diff)
				}

				got, ok, err := s.Rollout(context.Background(), in.ID)
				if err != nil || !ok {
					t.Fatalf("Rollout(%d) = _, %v, %v", in.ID, ok, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Rollout(%d) (-want +got):\n%s", in.ID, diff)
				}
				checkUTC(t, got)
				all, err := s.Rollouts(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]rollout.Rollout{want}, all); diff != "" {
					t.Errorf("Rollouts (-want +got):\n%s", diff)
				}
				latest, err := s.LatestRollouts(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(map[string]rollout.Rollout{want.ImageARN: want}, latest); diff != "" {
					t.Errorf("LatestRollouts (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestStore_Apply_stampsZeroRecordTimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		now := t0.Add(time.Hour) // openTest's clock
		r := rollout.Rollout{ImageARN: "arn:a", State: rollout.Pending}
		c := &rollout.Change{
			Create: &r,
			Events: []rollout.Event{{Kind: history.Planned}, {Kind: history.Step, At: t0, RolloutID: 0}},
			Save:   &rollout.SavedCapacity{Fleet: "f", Min: 1, Max: 2, Suspended: rollout.Suspension{DynamicIn: true}},
		}
		apply(t, s, c)
		if !r.CreatedAt.Equal(now) || !r.UpdatedAt.Equal(now) {
			t.Errorf("CreatedAt, UpdatedAt = %v, %v; want both %v", r.CreatedAt, r.UpdatedAt, now)
		}
		wantEvents := []rollout.Event{{At: t0, RolloutID: r.ID, Kind: history.Step}, {At: now, RolloutID: r.ID, Kind: history.Planned}}
		if diff := cmp.Diff([]rollout.Event{{At: now, RolloutID: r.ID, Kind: history.Planned}, {At: t0, RolloutID: r.ID, Kind: history.Step}}, c.Events); diff != "" {
			t.Errorf("Change.Events after Apply (-want +got):\n%s", diff)
		}
		got, err := s.Events(context.Background(), r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantEvents, got, ignoreEventID); diff != "" {
			t.Errorf("Events (-want +got):\n%s", diff)
		}
		sc, _, err := savedOne(s, "f")
		if err != nil {
			t.Fatal(err)
		}
		if sc.Suspended != (rollout.Suspension{DynamicIn: true}) {
			t.Errorf("Suspended stored as %+v, want dynamic scale-in only", sc.Suspended)
		}
		if !sc.SavedAt.Equal(now) || !c.Save.SavedAt.Equal(now) {
			t.Errorf("SavedAt stored %v, in Change %v; want %v", sc.SavedAt, c.Save.SavedAt, now)
		}
	})
}

func TestStore_Apply_updateAndSteps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		r := create(t, s, fullRollout("img"))

		// Update writes State, Start, TagCleared, Reason, UpdatedAt and the waves' fields only, not
		// the steps nor what the request was; Steps replace whole rows and add new ones.
		upd := r
		upd.Account, upd.Region = "ignored", "ignored"
		upd.ImageName, upd.ImageARN, upd.FleetTag, upd.ScaleImmediately = "ignored", "ignored", "ignored", false
		upd.CreatedAt = t0.Add(99 * time.Hour)
		upd.State, upd.Start, upd.TagCleared, upd.Reason, upd.UpdatedAt = rollout.Succeeded, time.Time{}, false, "done", t0.Add(2*time.Hour)
		upd.Canary, upd.WaveSize, upd.Approval = "b", 0, false
		upd.Waves, upd.Wave, upd.Gate = 4, 3, rollout.GateRollingBack
		upd.GateSince, upd.WaveAt, upd.NextAt = t0.Add(30*time.Hour), time.Time{}, t0.Add(31*time.Hour)
		upd.Approved, upd.ApprovedBy, upd.Checks = false, "", "fleet c: 1 session failed"
		upd.Steps = nil
		b := rollout.Step{RolloutID: r.ID, Fleet: "b", State: rollout.StepDone, Attempts: 1, Message: "restored",
			Wave: 3, PreviousImageARN: "arn:prev-b"}
		c := rollout.Step{RolloutID: r.ID, Fleet: "c", State: rollout.StepSkipped, FinishedAt: t0, Wave: 4, RollingBack: true}
		apply(t, s, &rollout.Change{Update: &upd, Steps: []rollout.Step{c, b}})

		want := upd
		want.Account, want.Region = r.Account, r.Region
		want.ImageName, want.ImageARN, want.FleetTag, want.ScaleImmediately = r.ImageName, r.ImageARN, r.FleetTag, r.ScaleImmediately
		want.CreatedAt = r.CreatedAt
		want.Steps = []rollout.Step{r.Steps[0], b, c}
		got, ok, err := s.Rollout(context.Background(), r.ID)
		if err != nil || !ok {
			t.Fatalf("Rollout(%d) = _, %v, %v", r.ID, ok, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Rollout after update (-want +got):\n%s", diff)
		}
	})
}

// TestStore_Apply_atLeastOneWave checks that a rollout's Waves and Wave, and a step's Wave, left
// zero (or negative) are written as 1 by each part of a Change that writes them, and that the
// Change shows it afterwards.
func TestStore_Apply_atLeastOneWave(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		tests := []struct {
			name                string
			waves, wave, step   int // as given: the rollout's Waves and Wave, every step's Wave
			wantWaves, wantWave int
			wantStep            int
		}{
			{"zero", 0, 0, 0, 1, 1, 1},
			{"negative", -2, -1, -3, 1, 1, 1},
			{"one", 1, 1, 1, 1, 1, 1},
			{"set", 4, 2, 3, 4, 2, 3},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				check := func(what string, r rollout.Rollout, steps []rollout.Step) {
					t.Helper()
					if r.Waves != tc.wantWaves || r.Wave != tc.wantWave {
						t.Errorf("%s: Waves, Wave = %d, %d; want %d, %d", what, r.Waves, r.Wave, tc.wantWaves, tc.wantWave)
					}
					for _, st := range steps {
						if st.Wave != tc.wantStep {
							t.Errorf("%s: step %s has Wave %d; want %d", what, st.Fleet, st.Wave, tc.wantStep)
						}
					}
				}
				read := func(id int64) rollout.Rollout {
					t.Helper()
					got, ok, err := s.Rollout(context.Background(), id)
					if err != nil || !ok {
						t.Fatalf("Rollout(%d) = _, %v, %v", id, ok, err)
					}
					return got
				}

				// Create.
				r := rollout.Rollout{ImageARN: "arn:created", State: rollout.Pending, Waves: tc.waves, Wave: tc.wave,
					Steps: []rollout.Step{{Fleet: "a", State: rollout.StepWaiting, Wave: tc.step}}}
				apply(t, s, &rollout.Change{Create: &r})
				check("Change.Create after Apply", r, r.Steps)
				got := read(r.ID)
				check("after Create", got, got.Steps)

				// Update and Steps, over a rollout in wave 7 of 7.
				old := create(t, s, rollout.Rollout{ImageARN: "arn:updated", State: rollout.Running, Waves: 7, Wave: 7,
					Steps: []rollout.Step{{Fleet: "a", State: rollout.StepWaiting, Wave: 7}}})
				upd := old
				upd.Waves, upd.Wave, upd.Steps = tc.waves, tc.wave, nil
				c := &rollout.Change{Update: &upd, Steps: []rollout.Step{
					{RolloutID: old.ID, Fleet: "a", State: rollout.StepApplying, Wave: tc.step},
					{RolloutID: old.ID, Fleet: "b", State: rollout.StepWaiting, Wave: tc.step},
				}}
				apply(t, s, c)
				check("Change.Update and Change.Steps after Apply", upd, c.Steps)
				got = read(old.ID)
				check("after Update and Steps", got, got.Steps)
				if len(got.Steps) != 2 {
					t.Errorf("after Update and Steps, steps %+v; want a and b", got.Steps)
				}
			})
		}
	})
}

func TestStore_ActiveRollouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		var ids []int64
		for _, st := range []rollout.State{rollout.Running, rollout.Succeeded, rollout.Pending, rollout.Failed,
			rollout.Cancelled, rollout.Superseded, rollout.Refused, rollout.Running} {
			r := fullRollout(string(st))
			r.State = st
			ids = append(ids, create(t, s, r).ID)
		}
		got, err := s.ActiveRollouts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, r := range got {
			gotIDs = append(gotIDs, r.ID)
			if len(r.Steps) != 2 || r.Steps[0].Fleet != "a" || r.Steps[1].Fleet != "b" {
				t.Errorf("rollout %d has steps %+v, want fleets a, b", r.ID, r.Steps)
			}
		}
		if diff := cmp.Diff([]int64{ids[0], ids[2], ids[7]}, gotIDs); diff != "" {
			t.Errorf("ActiveRollouts IDs, oldest first (-want +got):\n%s", diff)
		}
	})
}

func TestStore_LatestRollouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		a1 := create(t, s, fullRollout("a"))
		b1 := create(t, s, fullRollout("b"))
		a2 := fullRollout("a")
		a2.State, a2.Steps = rollout.Superseded, a2.Steps[:1]
		a2 = create(t, s, a2)
		if a2.ID <= a1.ID {
			t.Fatalf("IDs not increasing: %d then %d", a1.ID, a2.ID)
		}
		got, err := s.LatestRollouts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]rollout.Rollout{a2.ImageARN: a2, b1.ImageARN: b1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("LatestRollouts (-want +got):\n%s", diff)
		}
	})
}

func TestStore_Rollouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		var want []rollout.Rollout
		for i := range 5 {
			want = append([]rollout.Rollout{create(t, s, fullRollout(fmt.Sprint("img", i)))}, want...)
		}
		tests := []struct {
			limit int
			want  []rollout.Rollout
		}{
			{0, want},
			{-1, want},
			{2, want[:2]},
			{10, want},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprint("limit", tc.limit), func(t *testing.T) {
				got, err := s.Rollouts(context.Background(), tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Rollouts(%d) (-want +got):\n%s", tc.limit, diff)
				}
			})
		}
		if _, ok, err := s.Rollout(context.Background(), 999); ok || err != nil {
			t.Errorf("Rollout(999) = _, %v, %v; want not found", ok, err)
		}
	})
}

func TestStore_SavedCapacity(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		ctx := context.Background()
		// Each case starts from a new store holding rollouts 1 and 2.
		save := func(min, max int32, rolloutID int64) *rollout.Change {
			return &rollout.Change{Save: &rollout.SavedCapacity{Fleet: "f", Min: min, Max: max, RolloutID: rolloutID, SavedAt: t0.Add(time.Duration(rolloutID) * time.Second)}}
		}
		forget := &rollout.Change{Forget: []rollout.FleetRef{{Name: "f"}, {Name: "never-saved"}}}
		saved := func(min, max int32, rolloutID int64) *rollout.SavedCapacity {
			return save(min, max, rolloutID).Save
		}
		tests := []struct {
			name    string
			changes []*rollout.Change
			want    *rollout.SavedCapacity // nil: none saved
		}{
			{"save", []*rollout.Change{save(3, 5, 1)}, saved(3, 5, 1)},
			{"second save never overwrites", []*rollout.Change{save(3, 5, 1), save(0, 0, 2)}, saved(3, 5, 1)},
			{"second save in one change with a step", []*rollout.Change{save(3, 5, 1), {
				Save:  saved(0, 0, 2),
				Steps: []rollout.Step{{RolloutID: 2, Fleet: "f", State: rollout.StepDraining}},
			}}, saved(3, 5, 1)},
			{"forget", []*rollout.Change{save(3, 5, 1), forget}, nil},
			{"forget then save", []*rollout.Change{save(3, 5, 1), forget, save(1, 9, 2)}, saved(1, 9, 2)},
			{"forget and save in one change replaces", []*rollout.Change{save(3, 5, 1), {
				Forget: []rollout.FleetRef{{Name: "f"}},
				Save:   saved(1, 9, 2),
			}}, saved(1, 9, 2)},
			{"no rollout", []*rollout.Change{save(4, 4, 0)}, saved(4, 4, 0)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				if r1, r2 := create(t, s, fullRollout("one")).ID, create(t, s, fullRollout("two")).ID; r1 != 1 || r2 != 2 {
					t.Fatalf("created rollouts %d, %d; want 1, 2", r1, r2)
				}
				for _, c := range tc.changes {
					apply(t, s, c)
				}
				got, ok, err := savedOne(s, "f")
				if err != nil {
					t.Fatal(err)
				}
				all, err := s.SavedCapacities(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tc.want == nil {
					if ok || len(all) != 0 {
						t.Errorf("SavedCapacity = %+v, %v; SavedCapacities = %+v; want none", got, ok, all)
					}
					return
				}
				if !ok {
					t.Fatal("SavedCapacity: none saved")
				}
				if diff := cmp.Diff(*tc.want, got); diff != "" {
					t.Errorf("SavedCapacity (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]rollout.SavedCapacity{*tc.want}, all); diff != "" {
					t.Errorf("SavedCapacities (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestStore_SavedCapacities_order(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		// Byte order on both databases: "B" and "_" before "a", whatever PostgreSQL's collation.
		for _, f := range []string{"b", "c", "a", "B", "_x"} {
			apply(t, s, &rollout.Change{Save: &rollout.SavedCapacity{Fleet: f, Min: 1, Max: 2, SavedAt: t0}})
		}
		got, err := s.SavedCapacities(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var fleets []string
		for _, sc := range got {
			fleets = append(fleets, sc.Fleet)
		}
		if diff := cmp.Diff([]string{"B", "_x", "a", "b", "c"}, fleets); diff != "" {
			t.Errorf("SavedCapacities fleets (-want +got):\n%s", diff)
		}
	})
}

// TestStore_Apply_atomic checks that a Change failing at any point leaves nothing of itself.
func TestStore_Apply_atomic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		ctx := context.Background()
		tests := []struct {
			name  string
			spoil func(c *rollout.Change, existing int64)
		}{
			{"update of a missing rollout", func(c *rollout.Change, _ int64) {
				c.Update = &rollout.Rollout{ID: 999, State: rollout.Failed}
			}},
			{"step of a missing rollout", func(c *rollout.Change, existing int64) {
				c.Steps = append(c.Steps, rollout.Step{RolloutID: 999, Fleet: "x", State: rollout.StepWaiting})
			}},
			{"event of a missing rollout", func(c *rollout.Change, _ int64) {
				c.Events = append(c.Events, rollout.Event{RolloutID: 999, Kind: history.Step})
			}},
			{"delivery without a notice ID", func(c *rollout.Change, _ int64) {
				c.Deliveries = append(c.Deliveries, rollout.Delivery{Sender: "mail"})
			}},
			{"cancelled context", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t, testOptions())
				existing := create(t, s, fullRollout("existing"))
				before := snapshot(t, s)

				r := fullRollout("new")
				c := &rollout.Change{
					Create: &r,
					Update: &rollout.Rollout{ID: existing.ID, State: rollout.Failed, Reason: "changed", UpdatedAt: t0},
					Steps:  []rollout.Step{{RolloutID: existing.ID, Fleet: "a", State: rollout.StepDone}, {RolloutID: existing.ID, Fleet: "new", State: rollout.StepDone}},
					Save:   &rollout.SavedCapacity{Fleet: "a", Min: 3, Max: 5, RolloutID: existing.ID, SavedAt: t0},
					Events: []rollout.Event{{At: t0, Kind: history.Planned}, {At: t0, RolloutID: existing.ID, Kind: history.Step}},
					Deliveries: []rollout.Delivery{
						{Sender: "mail", Notice: notice.Notice{ID: "n1", Kind: "k", Subject: "s"}},
						{Sender: "hook", Notice: notice.Notice{ID: "n1", Kind: "k", Subject: "s"}},
					},
				}
				actx := ctx
				if tc.spoil != nil {
					tc.spoil(c, existing.ID)
				} else {
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					actx = cctx
				}
				if err := s.Apply(actx, c); err == nil {
					t.Fatal("Apply succeeded, want an error")
				} else {
					t.Logf("Apply: %v", err)
				}
				if r.ID != 0 || r.Steps[0].RolloutID != 0 {
					t.Errorf("failed Apply set Create.ID = %d, Steps[0].RolloutID = %d; want 0", r.ID, r.Steps[0].RolloutID)
				}
				if c.Events[0].RolloutID != 0 {
					t.Errorf("failed Apply set Events[0].RolloutID = %d; want 0", c.Events[0].RolloutID)
				}
				if diff := cmp.Diff(before, snapshot(t, s), ignoreEventID); diff != "" {
					t.Errorf("failed Apply changed the store (-before +after):\n%s", diff)
				}
				// The writer is still usable.
				apply(t, s, &rollout.Change{Events: []rollout.Event{{At: t0, Kind: history.Step}}})
			})
		}
	})
}

// contents is everything a store holds, as its read methods show it.
type contents struct {
	Rollouts   []rollout.Rollout
	Saved      []rollout.SavedCapacity
	Events     []rollout.Event
	Deliveries []DeliveryRecord
}

func snapshot(t *testing.T, s *Store) contents {
	t.Helper()
	ctx := context.Background()
	var c contents
	var err error
	if c.Rollouts, err = s.Rollouts(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if c.Saved, err = s.SavedCapacities(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Events, err = s.Events(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if c.Deliveries, err = s.Deliveries(ctx, 0); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStore_Events(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		r1 := create(t, s, fullRollout("one")).ID
		r2 := create(t, s, fullRollout("two")).ID
		// Event times need not be in insertion order: newest means most recently written.
		all := []rollout.Event{
			{At: t0.Add(3 * time.Second), RolloutID: r1, Fleet: "a", Kind: history.Step, Reason: "UpdateFleet sent"},
			{At: t0.Add(1 * time.Second), RolloutID: r2, Kind: history.Planned},
			{At: t0.Add(2 * time.Second), Fleet: "ws-1", Kind: history.Reset, Reason: "no rollout"},
			{At: t0.Add(4 * time.Second), RolloutID: r1, Fleet: "b", Kind: history.Step, Reason: "ünïcode ✓"},
		}
		apply(t, s, &rollout.Change{Events: all[:2]})
		apply(t, s, &rollout.Change{Events: all[2:]})
		tests := []struct {
			rolloutID int64
			limit     int
			want      []rollout.Event
		}{
			{0, 0, []rollout.Event{all[3], all[2], all[1], all[0]}},
			{0, 2, []rollout.Event{all[3], all[2]}},
			{r1, 0, []rollout.Event{all[3], all[0]}},
			{r1, 1, []rollout.Event{all[3]}},
			{r2, -1, []rollout.Event{all[1]}},
			{999, 0, nil},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("rollout%d/limit%d", tc.rolloutID, tc.limit), func(t *testing.T) {
				got, err := s.Events(context.Background(), tc.rolloutID, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got, ignoreEventID); diff != "" {
					t.Errorf("Events(%d, %d) (-want +got):\n%s", tc.rolloutID, tc.limit, diff)
				}
				checkUTC(t, got)
			})
		}
	})
}

// TestOpen_reopen checks that what one Open committed, the next sees (a restart), and that
// migrations already applied are not applied again.
func TestOpen_reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub dir?#%", "deskpilot.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s1, err := Open(ctx, path, Options{Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	r := fullRollout("img")
	apply(t, s1, &rollout.Change{
		Create:     &r,
		Save:       &rollout.SavedCapacity{Fleet: "b", Min: 3, Max: 5, RolloutID: 0, SavedAt: t0},
		Events:     []rollout.Event{{At: t0, Kind: history.Planned}},
		Deliveries: []rollout.Delivery{{Sender: "mail", Notice: notice.Notice{ID: "rollout/1/pending", Kind: "rollout.pending", Subject: "s"}}},
	})
	want := snapshot(t, s1)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s2, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+2, err)
		}
		if diff := cmp.Diff(want, snapshot(t, s2), ignoreEventID); diff != "" {
			t.Errorf("after reopen #%d (-before +after):\n%s", i+1, diff)
		}
		var versions, maxVersion int
		if err := s2.r.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&versions, &maxVersion); err != nil {
			t.Fatal(err)
		}
		files, err := fs.Glob(migrations, "migrations/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		if versions != len(files) || maxVersion != len(files) {
			t.Errorf("goose_db_version has %d applied versions, newest %d; want %d, %d", versions, maxVersion, len(files), len(files))
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpen_settings(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var mode string
	var fk, sync int
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || fk != 1 || sync != 2 {
		t.Errorf("writer: journal_mode=%s foreign_keys=%d synchronous=%d; want wal 1 2", mode, fk, sync)
	}
	// The read pool cannot write.
	if _, err := s.r.ExecContext(ctx, `DELETE FROM events`); err == nil {
		t.Error("a read connection could write")
	}
}

// TestStore_concurrent reads while writing, for the race detector and to check that readers
// always see whole Changes.
func TestStore_concurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		r := create(t, s, fullRollout("img"))
		r.Steps[1].Attempts = 0
		apply(t, s, &rollout.Change{Steps: r.Steps})
		const writes = 50
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range writes {
					got, err := s.ActiveRollouts(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					// Each Change below moves both steps' Attempts together.
					if len(got) != 1 || got[0].Steps[0].Attempts != got[0].Steps[1].Attempts {
						t.Errorf("torn read: %+v", got)
						return
					}
				}
			})
		}
		for i := range writes {
			a, b := r.Steps[0], r.Steps[1]
			a.Attempts, b.Attempts = i+1, i+1
			apply(t, s, &rollout.Change{Steps: []rollout.Step{a, b}, Events: []rollout.Event{{At: t0, RolloutID: r.ID, Kind: history.Step}}})
		}
		wg.Wait()
	})
}

// savedOne reads one fleet's saved capacity in the account and region tests use ("" and "").
func savedOne(s *Store, fleet string) (rollout.SavedCapacity, bool, error) {
	m, err := s.SavedFor(context.Background(), "", "", []string{fleet})
	sc, ok := m[fleet]
	return sc, ok, err
}

func TestStore_Apply_refusesUnknownEventKinds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		err := s.Apply(context.Background(), &rollout.Change{Events: []rollout.Event{{At: t0, Kind: "rollout.whatever"}}})
		if err == nil {
			t.Fatal("Apply of an event of an unknown kind succeeded")
		}
	})
}

func TestStore_SavedFor_keysByAccountAndRegion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		apply(t, s, &rollout.Change{Saves: []rollout.SavedCapacity{
			{Account: "111", Region: "eu-west-1", Fleet: "f", Min: 1, Max: 2},
			{Account: "222", Region: "eu-west-1", Fleet: "f", Min: 3, Max: 4},
			{Account: "111", Region: "us-east-1", Fleet: "f", Min: 5, Max: 6},
		}})
		apply(t, s, &rollout.Change{Forget: []rollout.FleetRef{{Account: "222", Region: "eu-west-1", Name: "f"}}})
		for _, c := range []struct {
			account, region string
			want            int32 // Max, or 0 for none
		}{{"111", "eu-west-1", 2}, {"222", "eu-west-1", 0}, {"111", "us-east-1", 6}, {"", "", 0}} {
			got, err := s.SavedFor(ctx, c.account, c.region, []string{"f", "other"})
			if err != nil {
				t.Fatal(err)
			}
			if sc, ok := got["f"]; sc.Max != c.want || ok != (c.want != 0) || len(got) > 1 {
				t.Errorf("SavedFor(%s, %s) = %+v; want Max %d", c.account, c.region, got, c.want)
			}
		}
	})
}

func TestStore_Adopt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, testOptions())
		ctx := context.Background()
		legacy := fullRollout("legacy")
		legacy.Account, legacy.Region = "", "" // as written before migration 3
		r := create(t, s, legacy)
		apply(t, s, &rollout.Change{Save: &rollout.SavedCapacity{Fleet: "f", Min: 2, Max: 5, RolloutID: r.ID}})
		for range 2 { // idempotent
			if err := s.Adopt(ctx, "123456789012", "eu-central-1"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.SavedFor(ctx, "123456789012", "eu-central-1", []string{"f"})
		if err != nil {
			t.Fatal(err)
		}
		if got["f"].Max != 5 {
			t.Errorf("after Adopt, SavedFor = %+v; want the legacy row", got)
		}
		ro, _, err := s.Rollout(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ro.Account != "123456789012" || ro.Region != "eu-central-1" {
			t.Errorf("after Adopt, rollout is in %q/%q", ro.Account, ro.Region)
		}
	})
}

// ignoreEventID compares events without the ID the store assigns.
var ignoreEventID = cmpopts.IgnoreFields(history.Event{}, "ID")

// latestVersion is the newest embedded migration's version.
func latestVersion(t *testing.T) int64 {
	t.Helper()
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(files))
}
