package rollout

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	img := Image{Name: "img-2", ARN: "arn:img-2", State: "AVAILABLE", Platform: "WINDOWS_SERVER_2022"}
	fleet := Fleet{Name: "f", ARN: "arn:f", State: "RUNNING", ImageARN: "arn:img-1", Platform: "WINDOWS_SERVER_2022", Desired: 4, Running: 4, Available: 3, InUse: 1}
	p := Params{ScaleImmediately: true, PollInterval: 10 * time.Second, DrainPollInterval: 5 * time.Second, DrainTimeout: time.Hour}
	base := Step{RolloutID: 1, Fleet: "f", WindowStart: t0, WindowEnd: t0.Add(3 * time.Hour)}
	world := func(edit func(*World)) World {
		w := World{Now: t0.Add(time.Minute), Image: img, ImageFound: true, Fleet: fleet, FleetFound: true, Target: Capacity{2, 10}, TargetFound: true}
		if edit != nil {
			edit(&w)
		}
		return w
	}
	step := func(state StepState, edit func(*Step)) Step {
		s := base
		s.State = state
		if edit != nil {
			edit(&s)
		}
		return s
	}
	drained := func(s *Step) { s.Drain, s.SavedMin, s.SavedMax, s.DrainStartedAt = true, 2, 10, t0 }

	tests := []struct {
		name       string
		step       Step
		world      World
		params     Params
		wantAction Action
		wantState  StepState
		wantNextIn time.Duration // NextAt - Now
		check      func(*testing.T, Decision)
	}{
		{"before the window", step(StepWaiting, nil), world(func(w *World) { w.Now = t0.Add(-time.Hour) }), p, ActNone, StepWaiting, time.Hour, nil},
		{"window closed", step(StepWaiting, nil), world(func(w *World) { w.Now = t0.Add(3 * time.Hour) }), p, ActNone, StepFailed, 0, nil},
		{"image pending", step(StepWaiting, nil), world(func(w *World) { w.Image.State = "PENDING" }), p, ActNone, StepWaiting, 10 * time.Second, nil},
		{"image failed", step(StepWaiting, nil), world(func(w *World) { w.Image.State = "FAILED" }), p, ActNone, StepFailed, 0, nil},
		{"image gone", step(StepWaiting, nil), world(func(w *World) { w.ImageFound = false }), p, ActNone, StepFailed, 0, nil},
		{"fleet gone", step(StepWaiting, nil), world(func(w *World) { w.FleetFound = false }), p, ActNone, StepFailed, 0, nil},
		{"already on the image", step(StepWaiting, nil), world(func(w *World) { w.Fleet.ImageARN = img.ARN }), p, ActNone, StepSkipped, 0, nil},
		{"already on the image but at 0/0, Min/Max in tags: restore, never skip", step(StepWaiting, nil), world(func(w *World) {
			w.Fleet.ImageARN, w.Target, w.TagSaved, w.TagSavedFound = img.ARN, Capacity{}, Capacity{2, 5}, true
		}), p, ActNone, StepRestoring, 0, func(t *testing.T, d Decision) {
			if d.Next.SavedMin != 2 || d.Next.SavedMax != 5 || d.Save == nil || d.Save.Max != 5 {
				t.Errorf("restores %d/%d, saves %+v; want 2/5 from the tags, saved", d.Next.SavedMin, d.Next.SavedMax, d.Save)
			}
		}},
		{"already on the image at 0/0, Min/Max in the store", step(StepWaiting, nil), world(func(w *World) {
			w.Fleet.ImageARN, w.Target, w.Saved, w.SavedFound = img.ARN, Capacity{}, SavedCapacity{Fleet: "f", Min: 1, Max: 4, RolloutID: 7}, true
		}), p, ActNone, StepRestoring, 0, func(t *testing.T, d Decision) {
			if d.Next.SavedMax != 4 || d.Save != nil {
				t.Errorf("restores %d/%d, saves %+v; want 1/4 from the store, no new save", d.Next.SavedMin, d.Next.SavedMax, d.Save)
			}
		}},
		{"already on the image at 0/0, held by another rollout: skipped", step(StepWaiting, nil), world(func(w *World) {
			w.Fleet.ImageARN, w.Target, w.TagSaved, w.TagSavedFound, w.Held = img.ARN, Capacity{}, Capacity{2, 5}, true, true
		}), p, ActNone, StepSkipped, 0, nil},
		{"already on the image at 0/0, Min/Max unknown: skipped", step(StepWaiting, nil), world(func(w *World) {
			w.Fleet.ImageARN, w.Target = img.ARN, Capacity{}
		}), p, ActNone, StepSkipped, 0, nil},
		{"window closed at 0/0 with Min/Max in tags: restore", step(StepWaiting, nil), world(func(w *World) {
			w.Now, w.Target, w.TagSaved, w.TagSavedFound = t0.Add(3*time.Hour), Capacity{}, Capacity{2, 5}, true
		}), p, ActNone, StepRestoring, 0, nil},
		{"fleet starting", step(StepWaiting, nil), world(func(w *World) { w.Fleet.State = "STARTING" }), p, ActNone, StepWaiting, 10 * time.Second, nil},
		{"other platform", step(StepWaiting, nil), world(func(w *World) { w.Fleet.Platform = "AMAZON_LINUX2" }), p, ActNone, StepFailed, 0, nil},
		{"busy", step(StepWaiting, nil), world(func(w *World) { w.Busy = "in rollout #2" }), p, ActNone, StepWaiting, 10 * time.Second, nil},
		{"start with drain", step(StepWaiting, nil), world(nil), p, ActNone, StepApplying, 0, func(t *testing.T, d Decision) {
			if !d.Next.Drain || d.Next.StartedAt.IsZero() {
				t.Errorf("Drain %v StartedAt %v", d.Next.Drain, d.Next.StartedAt)
			}
		}},
		{"start without target: no drain", step(StepWaiting, nil), world(func(w *World) { w.TargetFound = false }), p, ActNone, StepApplying, 0, func(t *testing.T, d Decision) {
			if d.Next.Drain {
				t.Error("drains a fleet without a scalable target")
			}
		}},
		{"start stopped fleet: no drain", step(StepWaiting, nil), world(func(w *World) { w.Fleet.State = "STOPPED" }), p, ActNone, StepApplying, 0, func(t *testing.T, d Decision) {
			if d.Next.Drain {
				t.Error("drains a stopped fleet")
			}
		}},
		{"apply", step(StepApplying, func(s *Step) { s.Drain = true }), world(nil), p, ActUpdateImage, StepSaving, 0, nil},
		{"apply without drain", step(StepApplying, nil), world(nil), p, ActUpdateImage, StepDone, 0, nil},
		{"applied before a crash", step(StepApplying, func(s *Step) { s.Drain = true }), world(func(w *World) { w.Fleet.ImageARN = img.ARN }), p, ActNone, StepSaving, 0, nil},
		{"save the target", step(StepSaving, func(s *Step) { s.Drain = true }), world(nil), p, ActNone, StepSaving, 0, func(t *testing.T, d Decision) {
			if d.Save == nil || d.Save.Min != 2 || d.Save.Max != 10 {
				t.Errorf("Save = %+v, want 2/10", d.Save)
			}
		}},
		{"saved: tag and drain", step(StepSaving, func(s *Step) { s.Drain = true }), world(func(w *World) { w.Saved, w.SavedFound = SavedCapacity{Fleet: "f", Min: 2, Max: 10, RolloutID: 1}, true }),
			p, ActTagSaved, StepDraining, 0, func(t *testing.T, d Decision) {
				if d.Next.SavedMin != 2 || d.Next.SavedMax != 10 || d.Next.DrainStartedAt.IsZero() {
					t.Errorf("next = %+v", d.Next)
				}
			}},
		{"saved wins over a 0/0 target", step(StepSaving, func(s *Step) { s.Drain = true }),
			world(func(w *World) {
				w.Target = Capacity{}
				w.Saved, w.SavedFound = SavedCapacity{Fleet: "f", Min: 3, Max: 6}, true
			}), p, ActTagSaved, StepDraining, 0, func(t *testing.T, d Decision) {
				if d.Next.SavedMin != 3 || d.Next.SavedMax != 6 {
					t.Errorf("saved %d/%d, want 3/6", d.Next.SavedMin, d.Next.SavedMax)
				}
			}},
		{"0/0 and nothing saved: never save 0/0", step(StepSaving, func(s *Step) { s.Drain = true }), world(func(w *World) { w.Target = Capacity{} }), p, ActNone, StepDone, 0, func(t *testing.T, d Decision) {
			if d.Save != nil {
				t.Errorf("saved %+v", d.Save)
			}
		}},
		{"0/0 with the recipe's tags", step(StepSaving, func(s *Step) { s.Drain = true }), world(func(w *World) { w.Target = Capacity{}; w.TagSaved, w.TagSavedFound = Capacity{1, 5}, true }),
			p, ActNone, StepSaving, 0, func(t *testing.T, d Decision) {
				if d.Save == nil || d.Save.Min != 1 || d.Save.Max != 5 {
					t.Errorf("Save = %+v, want 1/5 from tags", d.Save)
				}
			}},
		{"apply after the window closed: never", step(StepApplying, nil), world(func(w *World) { w.Now = t0.Add(3 * time.Hour) }), p, ActNone, StepFailed, 0, nil},
		{"drain not started when the window closed", step(StepSaving, func(s *Step) { s.Drain = true }), world(func(w *World) { w.Now = t0.Add(3 * time.Hour) }), p, ActNone, StepDone, 0, nil},
		{"stale saved row is replaced by the current capacity", step(StepSaving, func(s *Step) { s.Drain = true }),
			world(func(w *World) { w.Saved, w.SavedFound = SavedCapacity{Fleet: "f", Min: 1, Max: 1, RolloutID: 9}, true }), p, ActNone, StepSaving, 0, func(t *testing.T, d Decision) {
				if !d.Forget || d.Save == nil || d.Save.Min != 2 || d.Save.Max != 10 {
					t.Errorf("Forget %v Save %+v, want the stale row replaced by 2/10", d.Forget, d.Save)
				}
			}},
		{"saving a fleet that vanished", step(StepSaving, func(s *Step) { s.Drain = true }), world(func(w *World) { w.FleetFound = false }), p, ActNone, StepFailed, 0, nil},
		{"drain: window closed before 0/0", step(StepDraining, drained), world(func(w *World) { w.Now = t0.Add(3 * time.Hour) }), p, ActNone, StepRestoring, 0, nil},
		{"drain: scale to zero", step(StepDraining, drained), world(nil), p, ActScaleToZero, StepDraining, 5 * time.Second, nil},
		{"drain: wait", step(StepDraining, drained), world(func(w *World) { w.Target = Capacity{} }), p, ActNone, StepDraining, 5 * time.Second, nil},
		{"drain: done", step(StepDraining, drained), world(func(w *World) { w.Target = Capacity{}; w.Fleet.Available = 0 }), p, ActNone, StepRestoring, 0, nil},
		{"drain: timeout", step(StepDraining, drained), world(func(w *World) { w.Target = Capacity{}; w.Now = t0.Add(time.Hour) }), p, ActNone, StepRestoring, 0, nil},
		{"restore", step(StepRestoring, drained), world(func(w *World) { w.Target = Capacity{} }), p, ActRestore, StepRestoring, 0, func(t *testing.T, d Decision) {
			if d.Capacity != (Capacity{2, 10}) {
				t.Errorf("restores %v, want 2/10", d.Capacity)
			}
		}},
		{"restored: untag", step(StepRestoring, drained), world(nil), p, ActUntagSaved, StepDone, 0, func(t *testing.T, d Decision) {
			if !d.Forget {
				t.Error("saved capacity kept after the restore")
			}
		}},
		{"restore after the target vanished", step(StepRestoring, drained), world(func(w *World) { w.TargetFound = false }), p, ActRestore, StepRestoring, 0, nil},
		{"never restore 0/0", step(StepRestoring, func(s *Step) { s.Drain = true }), world(func(w *World) { w.Target = Capacity{} }), p, ActNone, StepFailed, 0, func(t *testing.T, d Decision) {
			if d.Forget {
				t.Error("forgot the saved row of a fleet that needs a look")
			}
		}},
		{"restore of a vanished fleet keeps the saved row", step(StepRestoring, drained), world(func(w *World) { w.FleetFound = false }), p, ActNone, StepFailed, 0, func(t *testing.T, d Decision) {
			if d.Forget {
				t.Error("forgot the saved row")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.step, tt.world, tt.params)
			if d.Action != tt.wantAction || d.Next.State != tt.wantState {
				t.Fatalf("Decide = %s → %s (%q), want %s → %s", d.Action, d.Next.State, d.Next.Message, tt.wantAction, tt.wantState)
			}
			if got := d.Next.NextAt.Sub(tt.world.Now); got != tt.wantNextIn {
				t.Errorf("NextAt in %s, want %s", got, tt.wantNextIn)
			}
			if d.Next.State.Final() && d.Next.FinishedAt.IsZero() {
				t.Error("final step without FinishedAt")
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}
