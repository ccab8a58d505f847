package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Image is what the controller needs to know about an AppStream image.
type Image struct {
	Name, ARN, State, Platform string
	// Tags are filled by AppStream.Images (the scan) and AppStream.Image.
	Tags map[string]string
}

// Fleet is what the controller needs to know about an AppStream fleet.
type Fleet struct {
	Name, ARN, State, Type, ImageARN, Platform string
	Desired, Running, InUse, Available         int32
	// Errors are the fleet's FleetErrors, as "CODE: message".
	Errors []string
}

// Capacity is a scalable target's bounds.
type Capacity struct{ Min, Max int32 }

func (c Capacity) String() string { return fmt.Sprintf("%d/%d", c.Min, c.Max) }

// AppStream is the part of AppStream the controller uses.
type AppStream interface {
	// Images returns every private and shared image with its tags.
	Images(ctx context.Context) ([]Image, error)
	// Image returns one image with its tags; ok is false when it does not exist.
	Image(ctx context.Context, name string) (img Image, ok bool, err error)
	// ImageState returns one image without its tags (one call fewer).
	ImageState(ctx context.Context, name string) (img Image, ok bool, err error)
	// Fleets returns the named fleets that exist, by name; nil names means every fleet. When
	// only some could be read it returns them with a FleetErrors naming the others.
	Fleets(ctx context.Context, names []string) (map[string]Fleet, error)
	// FleetTags returns a fleet's tags.
	FleetTags(ctx context.Context, arn string) (map[string]string, error)
	// UpdateFleetImage points a fleet at an image (by ARN).
	UpdateFleetImage(ctx context.Context, fleet, imageARN string) error
	TagResource(ctx context.Context, arn string, tags map[string]string) error
	UntagResource(ctx context.Context, arn string, keys []string) error
}

// Scaler is the part of Application Auto Scaling the controller uses.
type Scaler interface {
	// Targets returns the scalable targets of the named fleets that have one, by fleet name.
	// When only some could be read it returns them with a FleetErrors naming the others.
	Targets(ctx context.Context, fleets []string) (map[string]Capacity, error)
	// SetCapacity registers a fleet's target with new bounds.
	SetCapacity(ctx context.Context, fleet string, c Capacity) error
}

// FleetErrors is the error of a batched read that could read some fleets but not others: the
// failures, by fleet name. The controller holds back only those fleets' steps.
type FleetErrors map[string]error

func (e FleetErrors) Error() string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+": "+e[n].Error())
	}
	return fmt.Sprintf("%d fleets could not be read: %s", len(e), strings.Join(parts, "; "))
}

// Unwrap lets errors.As and fault.Classify see the failures.
func (e FleetErrors) Unwrap() []error {
	out := make([]error, 0, len(e))
	for _, err := range e {
		out = append(out, err)
	}
	return out
}

// AppStream values the controller compares against.
const (
	imageAvailable = "AVAILABLE"
	fleetRunning   = "RUNNING"
	fleetStarting  = "STARTING"
	fleetStopping  = "STOPPING"
	fleetElastic   = "ELASTIC"
)

// World is what the controller read about a step's fleet just before deciding. Everything a
// decision depends on is in it, so Decide is a pure function.
type World struct {
	Now         time.Time
	Image       Image
	ImageFound  bool
	Fleet       Fleet
	FleetFound  bool
	Target      Capacity
	TargetFound bool
	// Saved is the fleet's saved Min/Max in the store.
	Saved      SavedCapacity
	SavedFound bool
	// TagSaved is the Min/Max the fleet carries in its tags (read only when the store has
	// none and the target is already 0/0).
	TagSaved      Capacity
	TagSavedFound bool
	// Busy says why the fleet cannot start now (another rollout is working on it, or the
	// parallel limit is reached); empty when it is free.
	Busy string
	// Held is set when another rollout's started step holds the fleet: its capacity is that
	// rollout's to restore, never this one's.
	Held bool
}

// Params are the settings a decision depends on.
type Params struct {
	// ImageARN is the rollout's image (what a rolling-back fleet must still run to be taken
	// back: a fleet a later rollout changed is left alone).
	ImageARN          string
	ScaleImmediately  bool
	PollInterval      time.Duration
	DrainPollInterval time.Duration
	DrainTimeout      time.Duration
}

// Action is the AWS call a decision asks for. It is made in the state that names it, which was
// persisted before, so a crash repeats at most this one call, after reading the world again.
type Action int

// Actions.
const (
	ActNone Action = iota
	// ActUpdateImage: UpdateFleet(ImageArn).
	ActUpdateImage
	// ActTagSaved: tag the fleet with the saved Min/Max and Status=Pending.
	ActTagSaved
	// ActScaleToZero: register the target with 0/0.
	ActScaleToZero
	// ActRestore: register the target with the saved Min/Max.
	ActRestore
	// ActUntagSaved: remove the Min, Max and Status tags from the fleet.
	ActUntagSaved
)

func (a Action) String() string {
	return [...]string{"none", "update-image", "tag-saved", "scale-to-zero", "restore", "untag-saved"}[a]
}

// Call is the AWS operation the action makes, for the history.
func (a Action) Call() string {
	return [...]string{"", "UpdateFleet", "TagResource", "RegisterScalableTarget", "RegisterScalableTarget", "UntagResource"}[a]
}

// Decision is what to do with a step: an optional action, and the step as it is to be written
// once the action succeeded (or at once, without an action).
type Decision struct {
	Action Action
	// Capacity is the bounds for ActTagSaved and ActRestore.
	Capacity Capacity
	Next     Step
	// Save asks the store to save the fleet's capacity (never overwriting).
	Save *SavedCapacity
	// Forget asks the store to drop the fleet's saved capacity.
	Forget bool
	// Event is an audit message for the change, if it is worth one.
	Event string
	// DrainTimedOut says the drain was ended by DrainTimeout (admins are warned).
	DrainTimedOut bool
}

// Decide is the transition function of a step: given the step and the world as read, what to
// do next. It never acts; the controller does what it says.
//
// One rule holds over every state: a step never ends while its fleet is at 0/0 and its Min/Max
// are known (saved in the store or in the fleet's tags), unless another rollout holds the fleet.
// Such a fleet would be an outage reported as success (an earlier tool, or a lost store, left it
// drained); the step restores it first.
func Decide(s Step, w World, p Params) Decision {
	d := decide(s, w, p)
	if !d.Next.State.Final() || d.Next.State == StepCancelled || w.Held {
		return d
	}
	saved, from, ok := recoverable(w)
	if !ok {
		return d
	}
	n := d.Next
	n.State, n.FinishedAt, n.NextAt, n.Attempts = StepRestoring, time.Time{}, w.Now, 0
	n.Drain, n.SavedMin, n.SavedMax = true, saved.Min, saved.Max
	if n.StartedAt.IsZero() {
		n.StartedAt = w.Now
	}
	if n.DrainStartedAt.IsZero() {
		n.DrainStartedAt = w.Now
	}
	n.Message = fmt.Sprintf("the fleet is at 0/0 and its Min/Max %s are known from %s; restoring them (%s)", saved, from, orNone(d.Next.Message))
	out := Decision{Action: d.Action, Capacity: d.Capacity, Next: n, Event: n.Message}
	if from == "its tags" {
		out.Save = &SavedCapacity{Fleet: s.Fleet, Min: saved.Min, Max: saved.Max, RolloutID: s.RolloutID, SavedAt: w.Now}
	}
	return out
}

// recoverable returns the Min/Max a fleet at 0/0 should have, and where they come from.
func recoverable(w World) (Capacity, string, bool) {
	if !w.FleetFound || !w.TargetFound || w.Target != (Capacity{}) {
		return Capacity{}, "", false
	}
	if w.SavedFound && w.Saved.Max > 0 {
		return Capacity{w.Saved.Min, w.Saved.Max}, "deskpilot's store", true
	}
	if w.TagSavedFound && w.TagSaved.Max > 0 {
		return w.TagSaved, "its tags", true
	}
	return Capacity{}, "", false
}

func decide(s Step, w World, p Params) Decision {
	next := s
	next.Message = s.Message
	wait := func(d time.Duration, why string) Decision {
		n := next
		n.NextAt = w.Now.Add(d)
		n.Message = why
		return Decision{Next: n}
	}
	move := func(to StepState, why string) Decision {
		n := next
		n.State, n.NextAt, n.Message = to, w.Now, why
		if to != s.State {
			n.Attempts = 0 // attempts count failures of the state's own action
		}
		if to.Final() {
			n.FinishedAt = w.Now
		}
		return Decision{Next: n, Event: why}
	}
	act := func(a Action, to StepState, why string) Decision {
		d := move(to, why)
		d.Action = a
		return d
	}

	finished := StepDone // a step that did its work ends here
	if s.RollingBack {
		finished = StepRolledBack
	}

	switch s.State {
	case StepWaiting:
		if s.RollingBack {
			return decideRollbackStart(s, w, p, next, wait, move)
		}
		switch {
		case !w.Now.Before(s.WindowEnd):
			return move(StepFailed, fmt.Sprintf("the window closed at %s before the fleet could start (%s)", s.WindowEnd.UTC().Format(time.RFC3339), orNone(s.Message)))
		case w.Now.Before(s.WindowStart):
			return wait(s.WindowStart.Sub(w.Now), "waiting for the window opening at "+s.WindowStart.UTC().Format(time.RFC3339))
		case !w.ImageFound:
			return move(StepFailed, "the image no longer exists")
		case w.Image.State == "FAILED" || w.Image.State == "DELETING":
			return move(StepFailed, "the image is "+w.Image.State)
		case w.Image.State != imageAvailable:
			return wait(p.PollInterval, "the image is "+w.Image.State+"; waiting for it to become AVAILABLE")
		case !w.FleetFound:
			return move(StepFailed, "the fleet no longer exists")
		case w.Fleet.Type == fleetElastic:
			return move(StepFailed, "the fleet is ELASTIC; Elastic fleets have no image")
		case w.Fleet.ImageARN == w.Image.ARN:
			return move(StepSkipped, "the fleet already runs the image")
		case w.Fleet.State == fleetStarting || w.Fleet.State == fleetStopping:
			return wait(p.PollInterval, "the fleet is "+w.Fleet.State+"; retrying while the window is open")
		case w.Fleet.State == fleetRunning && w.Fleet.Platform != "" && w.Image.Platform != "" && w.Fleet.Platform != w.Image.Platform:
			return move(StepFailed, fmt.Sprintf("the image's platform %s differs from the running fleet's %s; stop the fleet to change its operating system", w.Image.Platform, w.Fleet.Platform))
		case w.Busy != "":
			return wait(p.PollInterval, w.Busy)
		}
		next.StartedAt = w.Now
		next.PreviousImageARN = w.Fleet.ImageARN
		next.Drain = p.ScaleImmediately && w.Fleet.State == fleetRunning && w.TargetFound
		why := "applying the image"
		switch {
		case p.ScaleImmediately && !w.TargetFound:
			why = "applying the image; the fleet has no scalable target, so it is not drained"
		case p.ScaleImmediately && w.Fleet.State != fleetRunning:
			why = "applying the image; the fleet is " + w.Fleet.State + ", so it is not drained"
		}
		return move(StepApplying, why)

	case StepApplying:
		after := finished
		if s.Drain {
			after = StepSaving
		}
		target, what := w.Image.ARN, "the image"
		if s.RollingBack {
			target, what = s.PreviousImageARN, "its previous image"
		}
		switch {
		case !w.FleetFound:
			return move(StepFailed, "the fleet no longer exists")
		case w.Fleet.ImageARN == target:
			return move(after, "the fleet runs "+what)
		case !w.Now.Before(s.WindowEnd):
			// Never change a fleet outside its window: the recipe's worst defect was doing so
			// during business hours.
			return move(StepFailed, fmt.Sprintf("the window closed at %s before the image could be applied (%s)", s.WindowEnd.UTC().Format(time.RFC3339), orNone(s.Message)))
		case w.Fleet.State == fleetStarting || w.Fleet.State == fleetStopping:
			return wait(p.PollInterval, "the fleet is "+w.Fleet.State+"; retrying while the window is open")
		}
		if s.RollingBack {
			return act(ActUpdateImage, after, "previous image applied")
		}
		return act(ActUpdateImage, after, "image applied")

	case StepSaving:
		stale := w.SavedFound && w.Saved.RolloutID != s.RolloutID && w.TargetFound && w.Target != Capacity{}
		switch {
		case !w.FleetFound:
			return move(StepFailed, "the fleet no longer exists")
		case !w.Now.Before(s.WindowEnd):
			d := move(finished, "the image is applied, but the window closed before the drain could start, so the fleet was not drained")
			d.Forget = w.SavedFound && w.Saved.RolloutID == s.RolloutID && w.Target != Capacity{}
			return d
		case stale:
			// A saved Min/Max left by another rollout while the fleet is not drained is out of
			// date: the fleet's current capacity is the one to keep.
			d := wait(0, fmt.Sprintf("replaced an out-of-date saved Min/Max %d/%d (rollout #%d) with the current %s", w.Saved.Min, w.Saved.Max, w.Saved.RolloutID, w.Target))
			d.Forget = true
			d.Save = &SavedCapacity{Fleet: s.Fleet, Min: w.Target.Min, Max: w.Target.Max, RolloutID: s.RolloutID, SavedAt: w.Now}
			d.Event = d.Next.Message
			return d
		case w.SavedFound:
			next.SavedMin, next.SavedMax = w.Saved.Min, w.Saved.Max
			next.DrainStartedAt = w.Now
			return act(ActTagSaved, StepDraining, fmt.Sprintf("saved Min/Max %d/%d; scaling to 0/0", w.Saved.Min, w.Saved.Max))
		case !w.TargetFound:
			return move(finished, "the fleet's scalable target disappeared; it was not drained")
		case w.Target == Capacity{}:
			if !w.TagSavedFound {
				return move(finished, "the fleet is already at 0/0 and neither the store nor its tags hold its Min/Max; it was not drained and its capacity needs a look")
			}
			d := wait(0, "recovered Min/Max "+w.TagSaved.String()+" from the fleet's tags")
			d.Save = &SavedCapacity{Fleet: s.Fleet, Min: w.TagSaved.Min, Max: w.TagSaved.Max, RolloutID: s.RolloutID, SavedAt: w.Now}
			return d
		}
		d := wait(0, "saving Min/Max "+w.Target.String())
		d.Save = &SavedCapacity{Fleet: s.Fleet, Min: w.Target.Min, Max: w.Target.Max, RolloutID: s.RolloutID, SavedAt: w.Now}
		return d

	case StepDraining:
		saved := Capacity{s.SavedMin, s.SavedMax}
		zero := w.TargetFound && w.Target == Capacity{}
		switch {
		case !w.FleetFound:
			return move(StepRestoring, "the fleet no longer exists; restoring its target")
		case w.Now.Sub(s.DrainStartedAt) >= p.DrainTimeout:
			d := move(StepRestoring, fmt.Sprintf("the drain timed out after %s with %d instances still available; restoring Min/Max %s anyway", p.DrainTimeout, w.Fleet.Available, saved))
			d.DrainTimedOut = true
			return d
		case !zero && !w.Now.Before(s.WindowEnd):
			return move(StepRestoring, "the window closed before the fleet was scaled to 0/0; it was not drained")
		case !zero:
			d := act(ActScaleToZero, StepDraining, "scaled to 0/0")
			d.Next.NextAt = w.Now.Add(p.DrainPollInterval)
			return d
		case w.Fleet.Available == 0:
			return move(StepRestoring, fmt.Sprintf("drained in %s (%d in use); restoring Min/Max %s", w.Now.Sub(s.DrainStartedAt).Round(time.Second), w.Fleet.InUse, saved))
		}
		return wait(p.DrainPollInterval, fmt.Sprintf("draining: %d available, %d in use", w.Fleet.Available, w.Fleet.InUse))

	case StepRestoring:
		saved := Capacity{s.SavedMin, s.SavedMax}
		switch {
		case saved.Max == 0:
			// 0/0 is never an original capacity: restoring it would be an outage. Keep the
			// saved row (if any) for a person to look at.
			return move(StepFailed, "the saved Min/Max is 0/0, which cannot be the fleet's original capacity; nothing was restored and the fleet needs a look")
		case !w.FleetFound:
			return move(StepFailed, fmt.Sprintf("the fleet no longer exists; its saved Min/Max %s stays in deskpilot's store", saved))
		}
		if !w.TargetFound || w.Target != saved {
			d := act(ActRestore, StepRestoring, "restored Min/Max "+saved.String())
			d.Capacity = saved
			return d
		}
		d := act(ActUntagSaved, finished, "capacity restored to "+saved.String())
		d.Forget = true
		return d
	}
	return Decision{Next: next}
}

// decideRollbackStart starts taking a fleet back to the image it ran before the rollout. It
// does not look at the rollout's image (it may be gone, or broken) nor at the window (a
// rollback is the emergency); a fleet that runs neither image any more was changed by someone
// else since, and is left alone.
func decideRollbackStart(s Step, w World, p Params, next Step, wait func(time.Duration, string) Decision, move func(StepState, string) Decision) Decision {
	switch {
	case !w.FleetFound:
		return move(StepFailed, "the fleet no longer exists; nothing to roll back")
	case s.PreviousImageARN == "":
		return move(StepFailed, "the image the fleet ran before is not known; it was not rolled back")
	case w.Fleet.ImageARN == s.PreviousImageARN && !(w.TargetFound && w.Target == Capacity{} && s.Drain):
		return move(StepRolledBack, "the fleet runs its previous image")
	case w.Fleet.ImageARN != s.PreviousImageARN && w.Fleet.ImageARN != p.ImageARN:
		return move(StepFailed, "the fleet runs another image now ("+w.Fleet.ImageARN+"); it was not rolled back")
	case w.Fleet.State == fleetStarting || w.Fleet.State == fleetStopping:
		return wait(p.PollInterval, "the fleet is "+w.Fleet.State+"; the rollback waits for it")
	case w.Busy != "":
		return wait(p.PollInterval, w.Busy)
	}
	next.Drain = p.ScaleImmediately && w.Fleet.State == fleetRunning && w.TargetFound
	d := move(StepApplying, "rolling back to its previous image "+s.PreviousImageARN)
	d.Next.Drain = next.Drain
	if d.Next.StartedAt.IsZero() {
		d.Next.StartedAt = w.Now
	}
	return d
}

func orNone(s string) string {
	if s == "" {
		return "no reason recorded"
	}
	return s
}
