package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/schedule"
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
	// MaxSessions is MaxSessionsPerInstance (0 or 1: single-session). For multi-session
	// fleets, AvailableSessions is AvailableUserSessions, Draining the instances in drain mode
	// and DrainUnused their free slots, which no new session can use.
	MaxSessions                              int32
	AvailableSessions, Draining, DrainUnused int32
}

// multiSession reports whether the fleet hosts several sessions per instance.
func (f Fleet) multiSession() bool { return f.MaxSessions > 1 }

// Session is a streaming session of a fleet (DescribeSessions).
type Session struct {
	ID, UserID, InstanceID string
	// Draining says its instance is in drain mode (InstanceDrainStatus DRAINING).
	Draining bool
	Start    time.Time
}

// Capacity is a scalable target's bounds.
type Capacity struct{ Min, Max int32 }

func (c Capacity) String() string { return fmt.Sprintf("%d/%d", c.Min, c.Max) }

// Suspension is a scalable target's SuspendedState. A drained fleet has all three suspended,
// so that no scaling policy or scheduled action raises it mid-drain; its own suspension is
// saved with its Min/Max and restored exactly.
type Suspension struct{ DynamicIn, DynamicOut, Scheduled bool }

// suspendedAll is the suspension of a drained fleet.
var suspendedAll = Suspension{true, true, true}

func (s Suspension) String() string {
	var on []string
	for _, p := range []struct {
		set  bool
		name string
	}{{s.DynamicIn, "dynamic scale-in"}, {s.DynamicOut, "dynamic scale-out"}, {s.Scheduled, "scheduled scaling"}} {
		if p.set {
			on = append(on, p.name)
		}
	}
	if len(on) == 0 {
		return "none suspended"
	}
	return strings.Join(on, ", ") + " suspended"
}

// Target is a fleet's scalable target as read.
type Target struct {
	Capacity
	Suspended Suspension
}

// ScheduledAction is an Application Auto Scaling scheduled action of a fleet's target.
type ScheduledAction struct {
	Name, Schedule, Timezone string
	Start, End, Created      time.Time
	// Min and Max are the action's new bounds; nil leaves that bound alone.
	Min, Max *int32
}

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
	// Sessions returns every streaming session of a fleet, across its stacks and
	// authentication types.
	Sessions(ctx context.Context, fleet string) ([]Session, error)
	// DrainSessionInstance puts the instance hosting a session in drain mode.
	DrainSessionInstance(ctx context.Context, sessionID string) error
	// ExpireSession ends a session.
	ExpireSession(ctx context.Context, sessionID string) error
	TagResource(ctx context.Context, arn string, tags map[string]string) error
	UntagResource(ctx context.Context, arn string, keys []string) error
}

// Scaler is the part of Application Auto Scaling the controller uses.
type Scaler interface {
	// Targets returns the scalable targets of the named fleets that have one, by fleet name.
	// When only some could be read it returns them with a FleetErrors naming the others.
	Targets(ctx context.Context, fleets []string) (map[string]Target, error)
	// SetCapacity registers a fleet's target with new bounds and suspension.
	SetCapacity(ctx context.Context, fleet string, c Capacity, s Suspension) error
	// ScheduledActions returns the scheduled actions of the named fleets' targets, by fleet.
	ScheduledActions(ctx context.Context, fleets []string) (map[string][]ScheduledAction, error)
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
	// Suspended is the target's SuspendedState.
	Suspended Suspension
	// Scheduled are the fleet's scheduled actions, read for a restore; ScheduledErr says why
	// they could not be (the saved Min/Max is restored then, rather than waiting).
	Scheduled    []ScheduledAction
	ScheduledErr error
	// Saved is the fleet's saved Min/Max in the store.
	Saved      SavedCapacity
	SavedFound bool
	// TagSaved is the Min/Max the fleet carries in its tags (read only when the store has
	// none and the target is already 0/0).
	TagSaved      Capacity
	TagSavedFound bool
	// Sessions are the fleet's sessions, read for a step in StepSessions (SessionsRead).
	Sessions     []Session
	SessionsRead bool
	// ScheduledUnread says the pass did not read the fleet's scheduled actions (it reads them
	// for fleets that are being restored or may be).
	ScheduledUnread bool
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
	// SessionDeadline and DeadlineWarning are rollouts.drain.session_deadline and warning.
	SessionDeadline, DeadlineWarning time.Duration
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
	// ActDrainInstances: DrainSessionInstance with each of Decision.Sessions (one per
	// old-image instance).
	ActDrainInstances
	// ActExpireSessions: ExpireSession for each of Decision.Sessions.
	ActExpireSessions
	// ActRaise: register the target with Decision.Capacity and Suspension, above the saved
	// Min/Max, while a multi-session fleet's old instances drain.
	ActRaise
)

func (a Action) String() string {
	return [...]string{"none", "update-image", "tag-saved", "scale-to-zero", "restore", "untag-saved", "drain-instances", "expire-sessions", "raise-capacity"}[a]
}

// Call is the AWS operation the action makes, for the history.
func (a Action) Call() string {
	return [...]string{"", "UpdateFleet", "TagResource", "RegisterScalableTarget", "RegisterScalableTarget", "UntagResource", "DrainSessionInstance", "ExpireSession", "RegisterScalableTarget"}[a]
}

// Decision is what to do with a step: an optional action, and the step as it is to be written
// once the action succeeded (or at once, without an action).
type Decision struct {
	Action Action
	// Capacity is the bounds for ActTagSaved and ActRestore, Suspension the SuspendedState
	// ActRestore registers.
	Capacity   Capacity
	Suspension Suspension
	// Scheduled says the restored Min/Max is what a scheduled action that fired during the
	// drain set, not the saved pair (which may be 0/0: a nightly scale-to-zero).
	Scheduled bool
	Next      Step
	// Save asks the store to save the fleet's capacity (never overwriting).
	Save *SavedCapacity
	// Forget asks the store to drop the fleet's saved capacity.
	Forget bool
	// Event is an audit message for the change, if it is worth one.
	Event string
	// DrainTimedOut says the drain was ended by DrainTimeout (admins are warned).
	DrainTimedOut bool
	// Sessions are the session IDs of ActDrainInstances and ActExpireSessions.
	Sessions []string
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
	if !d.Next.State.Final() || d.Next.State == StepCancelled || w.Held || d.Scheduled {
		return d
	}
	saved, suspended, from, ok := recoverable(w)
	if !ok {
		return d
	}
	n := d.Next
	n.State, n.FinishedAt, n.NextAt, n.Attempts = StepRestoring, time.Time{}, w.Now, 0
	n.Drain, n.SavedMin, n.SavedMax, n.SavedSuspended = true, saved.Min, saved.Max, suspended
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

// recoverable returns the Min/Max a fleet at 0/0 should have, its suspension, and where they
// come from. The tags hold no suspension: a fleet recovered from them gets AWS's default,
// nothing suspended.
func recoverable(w World) (Capacity, Suspension, string, bool) {
	if !w.FleetFound || !w.TargetFound || w.Target != (Capacity{}) {
		return Capacity{}, Suspension{}, "", false
	}
	if w.SavedFound && w.Saved.Max > 0 {
		return Capacity{w.Saved.Min, w.Saved.Max}, w.Saved.Suspended, "deskpilot's store", true
	}
	if w.TagSavedFound && w.TagSaved.Max > 0 {
		return w.TagSaved, Suspension{}, "its tags", true
	}
	return Capacity{}, Suspension{}, "", false
}

// restoreTarget is the Min/Max a drained fleet goes back to: its saved pair, updated by every
// scheduled action that would have fired during the drain (its scheduled scaling was suspended,
// so AWS skipped them), in the order they would have fired. The text says why, when it is not
// simply the saved pair.
func restoreTarget(s Step, w World) (Capacity, string) {
	saved := Capacity{s.SavedMin, s.SavedMax}
	switch {
	case s.SavedSuspended.Scheduled:
		return saved, "" // its scheduled scaling was suspended before the drain: nothing was skipped
	case w.ScheduledErr != nil:
		return saved, fmt.Sprintf(" (its scheduled actions could not be read, so any that fired during the drain are not applied: %v)", w.ScheduledErr)
	}
	// The saved pair is what the fleet had when it was saved, which may be a pass or more
	// before the drain began (a throttled pass): an action due in between is skipped too.
	since := s.DrainStartedAt
	if w.SavedFound && !w.Saved.SavedAt.IsZero() && w.Saved.SavedAt.Before(since) {
		since = w.Saved.SavedAt
	}
	type firing struct {
		at time.Time
		a  ScheduledAction
	}
	var fired []firing
	var unreadable []string
	for _, a := range w.Scheduled {
		e, err := schedule.Parse(a.Schedule, a.Timezone)
		if err != nil {
			unreadable = append(unreadable, fmt.Sprintf("%s (%v)", a.Name, err))
			continue
		}
		if at := e.Firings(schedule.Bounds{Start: a.Start, End: a.End, Created: a.Created}, since, w.Now); len(at) > 0 {
			fired = append(fired, firing{at[len(at)-1], a})
		}
	}
	sort.SliceStable(fired, func(i, j int) bool { return fired[i].at.Before(fired[j].at) })
	c := saved
	var names []string
	for _, f := range fired {
		if f.a.Min != nil {
			c.Min = *f.a.Min
		}
		if f.a.Max != nil {
			c.Max = *f.a.Max
		}
		names = append(names, fmt.Sprintf("%q (%s, due %s)", f.a.Name, f.a.Schedule, f.at.UTC().Format(time.RFC3339)))
	}
	if c.Min > c.Max {
		c.Max = c.Min
	}
	var why string
	if len(names) > 0 {
		why = fmt.Sprintf(", as scheduled action %s set while the fleet was drained (saved: %s)", strings.Join(names, " then "), saved)
	}
	if len(unreadable) > 0 {
		why += "; scheduled actions deskpilot cannot evaluate were not applied: " + strings.Join(unreadable, ", ")
	}
	return c, why
}

// scheduleReadAttempts is how many passes a restored step waits for its fleet's scheduled
// actions to be readable before it ends with the saved pair.
const scheduleReadAttempts = 5

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
		next.AppliedAt = w.Now // sessions that start from now on may land on the new image
		next.PreviousImageARN = w.Fleet.ImageARN
		scales := scalesToZero(s, w.Fleet, p)
		// A multi-session fleet drained instance by instance first gets the capacity of those
		// instances on top of its own, so its Min/Max is saved as for a scale-to-zero drain.
		next.Drain = (scales || raisesCapacity(s, w.Fleet)) && w.Fleet.State == fleetRunning && w.TargetFound
		why := "applying the image"
		switch {
		case scales && !w.TargetFound:
			why = "applying the image; the fleet has no scalable target, so it is not drained"
		case scales && w.Fleet.State != fleetRunning:
			why = "applying the image; the fleet is " + w.Fleet.State + ", so it is not drained"
		}
		return move(StepApplying, why)

	case StepApplying:
		after := finished
		switch {
		case s.Drain:
			after = StepSaving
		case watchesSessions(s) && w.Fleet.State == fleetRunning:
			after = StepSessions
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
			d.Save = &SavedCapacity{Fleet: s.Fleet, Min: w.Target.Min, Max: w.Target.Max, Suspended: w.Suspended, RolloutID: s.RolloutID, SavedAt: w.Now}
			d.Event = d.Next.Message
			return d
		case w.SavedFound:
			next.SavedMin, next.SavedMax, next.SavedSuspended = w.Saved.Min, w.Saved.Max, w.Saved.Suspended
			next.DrainStartedAt = w.Now
			if raisesCapacity(s, w.Fleet) {
				return act(ActTagSaved, StepSessions, fmt.Sprintf("saved Min/Max %d/%d; adding capacity for the instances to drain", w.Saved.Min, w.Saved.Max))
			}
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
		d := wait(0, "saving Min/Max "+w.Target.String()+" ("+w.Suspended.String()+")")
		d.Save = &SavedCapacity{Fleet: s.Fleet, Min: w.Target.Min, Max: w.Target.Max, Suspended: w.Suspended, RolloutID: s.RolloutID, SavedAt: w.Now}
		return d

	case StepDraining:
		saved := Capacity{s.SavedMin, s.SavedMax}
		zero := w.TargetFound && w.Target == Capacity{}
		// A drained fleet's scaling is suspended with its 0/0, in one call, so that no alarm
		// or scheduled action raises it mid-drain.
		suspended := w.Suspended == suspendedAll
		switch {
		case !w.FleetFound:
			return move(StepRestoring, "the fleet no longer exists; restoring its target")
		case w.Now.Sub(s.DrainStartedAt) >= p.DrainTimeout:
			d := move(StepRestoring, fmt.Sprintf("the drain timed out after %s with %d instances still available; restoring Min/Max %s anyway", p.DrainTimeout, w.Fleet.Available, saved))
			d.DrainTimedOut = true
			return d
		case !zero && !w.Now.Before(s.WindowEnd):
			return move(StepRestoring, "the window closed before the fleet was scaled to 0/0; it was not drained")
		case !zero || !suspended:
			d := act(ActScaleToZero, StepDraining, "scaled to 0/0 with its scaling suspended")
			d.Next.NextAt = w.Now.Add(p.DrainPollInterval)
			return d
		case w.Fleet.Available == 0:
			return move(StepRestoring, fmt.Sprintf("drained in %s (%d in use); restoring Min/Max %s", w.Now.Sub(s.DrainStartedAt).Round(time.Second), w.Fleet.InUse, saved))
		}
		return wait(p.DrainPollInterval, fmt.Sprintf("draining: %d available, %d in use", w.Fleet.Available, w.Fleet.InUse))

	case StepRestoring:
		saved := Capacity{s.SavedMin, s.SavedMax}
		want, why := restoreTarget(s, w)
		switch {
		case saved.Max == 0:
			// 0/0 is never an original capacity: restoring it would be an outage. Keep the
			// saved row (if any) for a person to look at.
			return move(StepFailed, "the saved Min/Max is 0/0, which cannot be the fleet's original capacity; nothing was restored and the fleet needs a look")
		case !w.FleetFound:
			return move(StepFailed, fmt.Sprintf("the fleet no longer exists; its saved Min/Max %s stays in deskpilot's store", saved))
		}
		if !w.TargetFound || w.Target != want || w.Suspended != s.SavedSuspended {
			d := act(ActRestore, StepRestoring, "restored Min/Max "+want.String()+why)
			d.Capacity, d.Suspension, d.Scheduled = want, s.SavedSuspended, want != saved
			d.Next.Restored = want
			return d
		}
		if w.ScheduledErr != nil && !s.SavedSuspended.Scheduled && s.Attempts < scheduleReadAttempts {
			// The capacity is back; the step ends once the schedule could be read, so that an
			// action it skipped is not lost to one throttled call.
			d := wait(p.DrainPollInterval, fmt.Sprintf("restored Min/Max %s; reading the fleet's scheduled actions failed (%v), retrying", want, w.ScheduledErr))
			d.Next.Attempts = s.Attempts + 1
			return d
		}
		if w.ScheduledUnread && !s.SavedSuspended.Scheduled {
			// Restored from the saved pair before the scheduled actions were read: the next
			// pass reads them, and applies what they say before the step ends.
			return wait(0, "restored Min/Max "+want.String()+"; checking the fleet's scheduled actions")
		}
		after := finished
		if watchesSessions(s) {
			after = StepSessions // a deadline fleet's old sessions may still be on old instances
		}
		d := act(ActUntagSaved, after, "capacity restored to "+want.String()+why)
		d.Forget, d.Scheduled = true, want != saved
		d.Next.Restored = want
		return d

	case StepSessions:
		return decideSessions(s, w, p, finished, wait, move, act)
	}
	return Decision{Next: next}
}

// scalesToZero reports whether the step's drain is the recipe's: a single-session fleet in
// deadline mode drains so too (its idle instances go), then its remaining old sessions wait
// for the deadline. Steps written before drain modes follow ScaleImmediately.
func scalesToZero(s Step, f Fleet, p Params) bool {
	switch s.DrainMode {
	case "":
		return p.ScaleImmediately
	case DrainScaleToZero:
		return true
	case DrainDeadline:
		return !f.multiSession()
	}
	return false
}

// raisesCapacity reports whether the step drains a multi-session fleet instance by instance,
// adding their capacity first.
func raisesCapacity(s Step, f Fleet) bool {
	return !s.RollingBack && f.multiSession() && (s.DrainMode == DrainSessions || s.DrainMode == DrainDeadline)
}

// watchesSessions reports whether the step follows its fleet's old-image sessions after the
// image is applied (and the fleet restored, for a single-session deadline fleet).
func watchesSessions(s Step) bool {
	return !s.RollingBack && (s.DrainMode == DrainSessions || s.DrainMode == DrainDeadline)
}

// minFreeSlots is how many session slots on instances not in drain mode a sessions drain
// keeps free, so that a new session always has somewhere to go.
const minFreeSlots = 1

// decideSessions follows a fleet's sessions on old-image instances: those that started before
// the image was applied, and any other session on the same instances. In sessions and deadline
// mode a multi-session fleet's old instances are put in drain mode, as many as leave other
// instances free slots; in deadline mode the sessions still there at the deadline are ended,
// after a warning.
func decideSessions(s Step, w World, p Params, finished StepState, wait func(time.Duration, string) Decision,
	move func(StepState, string) Decision, act func(Action, StepState, string) Decision) Decision {
	switch {
	case !w.FleetFound:
		return move(StepFailed, "the fleet no longer exists")
	case !w.SessionsRead:
		return wait(p.DrainPollInterval, "reading the fleet's sessions")
	}
	old, instances := oldSessions(s, w.Sessions)
	deadlineMode := s.DrainMode == DrainDeadline
	deadline := sessionDeadline(s, p)
	since := w.Now.Sub(s.AppliedAt).Round(time.Second)
	switch {
	case len(old) == 0 && raisesCapacity(s, w.Fleet) && s.Drain && s.SavedMax > 0 && s.Restored == (Capacity{}):
		return move(StepRestoring, fmt.Sprintf("no session is left on an old-image instance (%s after the image was applied); restoring Min/Max %s", since, Capacity{s.SavedMin, s.SavedMax}))
	case len(old) == 0 && w.Fleet.Draining == 0:
		return move(finished, fmt.Sprintf("no session is left on an old-image instance (%s after the image was applied)", since))
	case deadlineMode && !w.Now.Before(deadline.Add(p.DrainTimeout)):
		return sessionsTimedOut(s, move, finished, fmt.Sprintf("%d sessions on %d old-image instances were still there %s after the deadline; giving up on them", len(old), len(instances), p.DrainTimeout))
	case !deadlineMode && w.Now.Sub(s.AppliedAt) >= p.DrainTimeout:
		return sessionsTimedOut(s, move, finished, fmt.Sprintf("the drain timed out after %s with %d sessions still on %d old-image instances; they move to the new image when they end", p.DrainTimeout, len(old), len(instances)))
	case len(old) == 0:
		return wait(p.DrainPollInterval, fmt.Sprintf("no old-image session is left; %d instances in drain mode are being replaced", w.Fleet.Draining))
	case deadlineMode && p.DeadlineWarning > 0 && s.WarnedAt.IsZero() && !w.Now.Before(deadline.Add(-p.DeadlineWarning)):
		// The warning comes first, also when no pass landed in the warning period (the daemon
		// was down): a late warning moves the deadline to a full warning period after it.
		if late := w.Now.Add(p.DeadlineWarning); late.After(deadline) {
			deadline = late
		}
		d := wait(p.DrainPollInterval, fmt.Sprintf("%d sessions on old-image instances will be ended at %s; admins were warned", len(old), deadline.UTC().Format(time.RFC3339)))
		d.Next.WarnedAt = w.Now
		d.Event = d.Next.Message
		return d
	case deadlineMode && !w.Now.Before(deadline):
		ids := make([]string, len(old))
		for i, ss := range old {
			ids[i] = ss.ID
		}
		d := act(ActExpireSessions, StepSessions, fmt.Sprintf("ended %d sessions still on old-image instances at the deadline %s", len(old), deadline.UTC().Format(time.RFC3339)))
		d.Sessions = ids
		d.Next.NextAt = w.Now.Add(p.DrainPollInterval)
		return d
	}
	if raisesCapacity(s, w.Fleet) && s.Drain && s.SavedMax > 0 {
		// The fleet's capacity is raised by the sessions of its old instances while they drain,
		// with dynamic scale-in and scheduled scaling suspended so the headroom stays, and
		// scale-out as it was so that demand still adds capacity.
		raised := raisedCapacity(s, w.Fleet, len(instances))
		sus := Suspension{DynamicIn: true, DynamicOut: s.SavedSuspended.DynamicOut, Scheduled: true}
		if len(instances) > 0 && (!w.TargetFound || w.Target != raised || w.Suspended != sus) {
			d := act(ActRaise, StepSessions, fmt.Sprintf("raised Min/Max to %s for the %d old-image instances to drain", raised, len(instances)))
			d.Capacity, d.Suspension = raised, sus
			d.Next.NextAt = w.Now.Add(p.DrainPollInterval)
			return d
		}
		if w.Fleet.Running < w.Fleet.Desired {
			return wait(p.DrainPollInterval, fmt.Sprintf("waiting for the added capacity: %d of %d instances running", w.Fleet.Running, w.Fleet.Desired))
		}
	}
	if w.Fleet.multiSession() {
		if ids := instancesToDrain(old, w.Fleet); len(ids) > 0 {
			d := act(ActDrainInstances, StepSessions, fmt.Sprintf("put %d old-image instances in drain mode", len(ids)))
			d.Sessions = ids
			d.Next.NextAt = w.Now.Add(p.DrainPollInterval)
			return d
		}
	}
	why := fmt.Sprintf("waiting for %d sessions on %d old-image instances to end", len(old), len(instances))
	if deadlineMode {
		why += "; they are ended at " + deadline.UTC().Format(time.RFC3339)
	}
	return wait(p.DrainPollInterval, why)
}

// sessionDeadline is when a deadline drain ends the old-image sessions: session_deadline after
// the image was applied, or a full warning period after a warning that came late.
func sessionDeadline(s Step, p Params) time.Time {
	deadline := s.AppliedAt.Add(p.SessionDeadline)
	if p.DeadlineWarning > 0 && !s.WarnedAt.IsZero() {
		if late := s.WarnedAt.Add(p.DeadlineWarning); late.After(deadline) {
			return late
		}
	}
	return deadline
}

// sessionsTimedOut ends a sessions drain that ran out of time. A fleet whose capacity was raised
// for it is restored first (the notice is sent once: it has one id per fleet and rollout).
func sessionsTimedOut(s Step, move func(StepState, string) Decision, finished StepState, why string) Decision {
	if s.Drain && s.SavedMax > 0 && s.Restored == (Capacity{}) {
		d := move(StepRestoring, why+"; restoring Min/Max "+Capacity{s.SavedMin, s.SavedMax}.String())
		d.DrainTimedOut = true
		return d
	}
	d := move(finished, why)
	d.DrainTimedOut = true
	return d
}

// raisedCapacity is the saved Min/Max plus the session slots of k instances (Application Auto
// Scaling counts sessions on multi-session fleets).
func raisedCapacity(s Step, f Fleet, k int) Capacity {
	add := int32(k) * f.MaxSessions
	lo := s.SavedMin + add
	return Capacity{lo, max(s.SavedMax, lo)}
}

// oldSessions returns the sessions on old-image instances (those that started before the image
// was applied, and the others on their instances) and those instances.
func oldSessions(s Step, sessions []Session) ([]Session, map[string]bool) {
	instances := map[string]bool{}
	for _, ss := range sessions {
		if ss.Start.Before(s.AppliedAt) {
			instances[ss.InstanceID] = true
		}
	}
	var old []Session
	for _, ss := range sessions {
		if ss.Start.Before(s.AppliedAt) || (ss.InstanceID != "" && instances[ss.InstanceID]) {
			old = append(old, ss)
		}
	}
	delete(instances, "")
	return old, instances
}

// instancesToDrain picks the old-image instances to put in drain mode now, one session ID per
// instance: the emptiest first (they are replaced soonest), as long as instances not in drain
// mode keep minFreeSlots for new sessions.
func instancesToDrain(old []Session, f Fleet) []string {
	type inst struct {
		id, session string
		sessions    int32
	}
	byID := map[string]*inst{}
	var list []*inst
	for _, ss := range old {
		if ss.Draining || ss.InstanceID == "" {
			continue
		}
		in, ok := byID[ss.InstanceID]
		if !ok {
			in = &inst{id: ss.InstanceID, session: ss.ID}
			byID[ss.InstanceID] = in
			list = append(list, in)
		}
		in.sessions++
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].sessions != list[j].sessions {
			return list[i].sessions < list[j].sessions
		}
		return list[i].id < list[j].id
	})
	free := f.AvailableSessions - f.DrainUnused
	var ids []string
	for _, in := range list {
		slots := max(0, f.MaxSessions-in.sessions)
		if free-slots < minFreeSlots {
			continue
		}
		free -= slots
		ids = append(ids, in.session)
	}
	return ids
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
	next.Drain = scalesToZero(s, w.Fleet, p) && w.Fleet.State == fleetRunning && w.TargetFound
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

// ScheduledDuring describes the scheduled actions that fire in [from, to), such as a window
// in which a fleet is to be drained: each is suspended during the drain and applied at the
// restore, which the plan tells the admin about.
func ScheduledDuring(actions []ScheduledAction, from, to time.Time) []string {
	var out []string
	for _, a := range actions {
		e, err := schedule.Parse(a.Schedule, a.Timezone)
		if err != nil {
			out = append(out, fmt.Sprintf("%q (%s) cannot be evaluated by deskpilot: %v", a.Name, a.Schedule, err))
			continue
		}
		at := e.Firings(schedule.Bounds{Start: a.Start, End: a.End, Created: a.Created}, from.Add(-time.Nanosecond), to.Add(-time.Nanosecond))
		if len(at) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%q (%s) is due at %s, setting Min/Max to %s", a.Name, a.Schedule, at[0].UTC().Format(time.RFC3339), boundsText(a.Min, a.Max)))
	}
	return out
}

func boundsText(lo, hi *int32) string {
	v := func(p *int32) string {
		if p == nil {
			return "unchanged"
		}
		return fmt.Sprint(*p)
	}
	return v(lo) + "/" + v(hi)
}
