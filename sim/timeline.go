package sim

import (
	"time"
)

// FleetTimeline is what happened to a fleet's capacity, on the emulator's clock: every change
// of its scalable target's Min/Max, and every time its Available or Running instance count
// reached 0 or left it. It is what measurements of a rollout need: how long a drained fleet
// stayed at 0/0, and how long after its last idle instance was gone its Min/Max came back.
type FleetTimeline struct {
	FleetName string
	// Now is the emulator's clock when the timeline was read; a drain still under way is
	// measured up to it.
	Now time.Time
	// Targets are the scalable target's changes, oldest first: its registration, each
	// registration that changed Min or Max (one that repeats the bounds is not a change), each
	// scheduled action firing that changed them, and its deregistration.
	Targets []TargetChange
	// Capacity holds the fleet's ComputeCapacityStatus each time Available or Running reached 0
	// or left it, oldest first. The first entry is the first change the emulator saw (a fleet
	// created STOPPED and never started has none).
	Capacity []CapacityChange
	// Drains pairs, for each time the target was registered with 0/0, the moment its idle
	// instances were gone with the registration that gave the fleet capacity again.
	Drains []Drain
	// Dropped counts the oldest entries left out of Targets and Capacity to bound memory
	// (Options.MaxTimeline per list). Drains are computed from what is kept.
	Dropped int
}

// TargetChange is one change of a fleet's scalable target.
type TargetChange struct {
	Time        time.Time
	MinCapacity int32
	MaxCapacity int32
	// Deregistered is true for DeregisterScalableTarget (the bounds are then 0).
	Deregistered bool `json:",omitempty"`
	// ScheduledAction names the scheduled action whose firing made the change; empty for a
	// RegisterScalableTarget.
	ScheduledAction string `json:",omitempty"`
}

// CapacityChange is a fleet's capacity at an instant when Available or Running reached 0 or
// left it.
type CapacityChange struct {
	Time      time.Time
	Running   int32
	InUse     int32
	Available int32
}

// Drain is one period during which a fleet's scalable target was 0/0.
type Drain struct {
	// ZeroAt is when the target was registered with 0/0 or a scheduled action set it to 0/0;
	// SavedMin and SavedMax are the bounds it had just before (0/0 when it had none).
	ZeroAt             time.Time
	SavedMin, SavedMax int32
	// IdleGoneAt is the first instant at or after ZeroAt, while the target was still 0/0, at
	// which the fleet had no Available instance: its last idle instance was gone (instances in
	// use stay). Zero when that never happened before the restore.
	IdleGoneAt time.Time `json:",omitzero"`
	// RestoredAt is the next registration (or scheduled-action firing) with Max > 0, and
	// RestoredMin and RestoredMax its bounds. Zero while the fleet is still at 0/0.
	RestoredAt               time.Time `json:",omitzero"`
	RestoredMin, RestoredMax int32
	// AtZeroSeconds is RestoredAt − ZeroAt, or Now − ZeroAt while the fleet is still at 0/0.
	AtZeroSeconds float64
	// RestoreLagSeconds is RestoredAt − IdleGoneAt, or Now − IdleGoneAt while the fleet is still
	// at 0/0: how long the fleet had nothing to offer a new user because its Min/Max was not
	// back. Absent when IdleGoneAt is zero.
	RestoreLagSeconds *float64 `json:",omitempty"`
}

// Restored reports whether the drain has ended with a registration of Max > 0.
func (d Drain) Restored() bool { return !d.RestoredAt.IsZero() }

// AtZero is how long the target was 0/0 (so far, if it still is).
func (d Drain) AtZero() time.Duration { return secondsDuration(d.AtZeroSeconds) }

// RestoreLag is how long after the last idle instance was gone the Min/Max came back (so far,
// if it has not); ok is false when no such instant was seen.
func (d Drain) RestoreLag() (lag time.Duration, ok bool) {
	if d.RestoreLagSeconds == nil {
		return 0, false
	}
	return secondsDuration(*d.RestoreLagSeconds), true
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// timeline is a fleet's record as the emulator keeps it.
type timeline struct {
	targets  []TargetChange
	capacity []CapacityChange
	dropped  int
	// seen tells whether capacity holds the fleet's last observed state.
	seen bool
}

// appendBounded appends v, dropping the oldest entry once the list holds max.
func appendBounded[T any](list []T, v T, max int, dropped *int) []T {
	if max > 0 && len(list) >= max {
		n := len(list) - max + 1
		list = append(list[:0], list[n:]...)
		*dropped += n
	}
	return append(list, v)
}

// noteTarget records a change of f's scalable target at the current instant.
func (s *Sim) noteTarget(f *fleet, change TargetChange) {
	change.Time = s.now
	f.timeline.targets = appendBounded(f.timeline.targets, change, s.opts.MaxTimeline, &f.timeline.dropped)
}

// touch marks a fleet whose instances, sessions or state changed, so that its capacity is
// looked at once the change is complete (see flushCapacity).
func (s *Sim) touch(f *fleet) {
	s.touched[f] = struct{}{}
}

// flushCapacity records, for each touched fleet, whether Available or Running reached 0 or
// left it. It runs before the clock moves (at the start of advance and after each event), so
// entries carry the instant of the change that caused them.
func (s *Sim) flushCapacity() {
	for f := range s.touched {
		delete(s.touched, f)
		if s.fleets[f.name] != f {
			continue // deleted
		}
		running, inUse, available := f.capacity()
		tl := &f.timeline
		if tl.seen {
			last := tl.capacity[len(tl.capacity)-1]
			if (last.Available == 0) == (available == 0) && (last.Running == 0) == (running == 0) {
				continue
			}
		}
		tl.seen = true
		tl.capacity = appendBounded(tl.capacity, CapacityChange{Time: s.now, Running: running, InUse: inUse, Available: available}, s.opts.MaxTimeline, &tl.dropped)
	}
}

// Timeline returns a fleet's capacity timeline (GET /_sim/appstream/fleets/{name}/timeline).
func (s *Sim) Timeline(fleetName string) (FleetTimeline, error) {
	s.lock()
	defer s.mu.Unlock()
	f, ok := s.fleets[fleetName]
	if !ok {
		return FleetTimeline{}, notFoundf("fleet %s does not exist", fleetName)
	}
	return s.fleetTimeline(f), nil
}

// Timelines returns the timeline of every fleet, by name (GET /_sim/appstream/timelines).
func (s *Sim) Timelines() []FleetTimeline {
	s.lock()
	defer s.mu.Unlock()
	out := make([]FleetTimeline, 0, len(s.fleets))
	for _, name := range sortedKeys(s.fleets) {
		out = append(out, s.fleetTimeline(s.fleets[name]))
	}
	return out
}

func (s *Sim) fleetTimeline(f *fleet) FleetTimeline {
	tl := FleetTimeline{
		FleetName: f.name,
		Now:       s.now,
		Targets:   append([]TargetChange{}, f.timeline.targets...),
		Capacity:  append([]CapacityChange{}, f.timeline.capacity...),
		Dropped:   f.timeline.dropped,
	}
	tl.Drains = drains(tl.Targets, tl.Capacity, s.now)
	return tl
}

// drains finds the periods at 0/0 in a target history and dates, for each, the last idle
// instance going and the restore.
func drains(targets []TargetChange, capacity []CapacityChange, now time.Time) []Drain {
	out := []Drain{}
	var prev *TargetChange
	for i := range targets {
		t := &targets[i]
		zero := !t.Deregistered && t.MaxCapacity == 0
		wasZero := prev != nil && !prev.Deregistered && prev.MaxCapacity == 0
		switch {
		case zero && !wasZero:
			d := Drain{ZeroAt: t.Time}
			if prev != nil && !prev.Deregistered {
				d.SavedMin, d.SavedMax = prev.MinCapacity, prev.MaxCapacity
			}
			out = append(out, d)
		case wasZero && !t.Deregistered && t.MaxCapacity > 0:
			d := &out[len(out)-1]
			d.RestoredAt, d.RestoredMin, d.RestoredMax = t.Time, t.MinCapacity, t.MaxCapacity
		}
		prev = t
	}
	for i := range out {
		d := &out[i]
		end := now
		if d.Restored() {
			end = d.RestoredAt
		}
		d.IdleGoneAt = idleGone(capacity, d.ZeroAt, end)
		d.AtZeroSeconds = end.Sub(d.ZeroAt).Seconds()
		if !d.IdleGoneAt.IsZero() {
			lag := end.Sub(d.IdleGoneAt).Seconds()
			d.RestoreLagSeconds = &lag
		}
	}
	return out
}

// idleGone returns the first instant in [from, to] at which the fleet had no Available
// instance, or zero.
func idleGone(capacity []CapacityChange, from, to time.Time) time.Time {
	// The state at from is the last entry at or before it.
	for i := len(capacity) - 1; i >= 0; i-- {
		if !capacity[i].Time.After(from) {
			if capacity[i].Available == 0 {
				return from
			}
			break
		}
	}
	for _, c := range capacity {
		if !c.Time.After(from) {
			continue
		}
		if c.Time.After(to) {
			break
		}
		if c.Available == 0 {
			return c.Time
		}
	}
	return time.Time{}
}
