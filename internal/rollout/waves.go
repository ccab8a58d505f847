package rollout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
)

// This file holds progressive rollouts: waves, health gates, approval and rollback.

// Defaults of WaveSettings.
const (
	DefaultCanaryBake    = 10 * time.Minute
	DefaultHealthTimeout = 30 * time.Minute
	// rollbackWindow is how long a rollback may take to start its fleets: it starts at once,
	// window or not, because the image it undoes is the emergency.
	rollbackWindow = 24 * time.Hour
)

// WaveSettings are the config's rollouts.waves, rollouts.health and rollouts.rollback.
type WaveSettings struct {
	// Size is the most fleets in a wave after the canary when the image has no Waves tag
	// (0: all remaining fleets in one wave).
	Size int
	// CanaryBake is how long the canary wave must stay healthy before the next wave; Bake
	// the same between later waves.
	CanaryBake, Bake time.Duration
	// HealthTimeout is how long a finished wave may take to become healthy.
	HealthTimeout time.Duration
	// CheckURL, when set, must answer 2xx to GET <url>?fleet=<name>&image=<name> for a fleet
	// to be healthy.
	CheckURL string
	// NoRollback is rollouts.rollback: off: a failed gate stops the rollout and waits for a
	// person instead of rolling the wave back.
	NoRollback bool
}

// HealthChecker asks an admin's own check whether a fleet is healthy on an image (the
// check_url). A nil error is healthy.
type HealthChecker interface {
	Check(ctx context.Context, fleet, image string) error
}

// RequestKind is what a person asks of a rollout through the API or the CLI.
type RequestKind string

// Requests.
const (
	// RequestApprove approves the wait after the canary (or a halted rollout: go on).
	RequestApprove RequestKind = "approve"
	// RequestCancel stops the rollout where it is: nothing more starts, fleets in progress
	// finish (no fleet is left drained).
	RequestCancel RequestKind = "cancel"
	// RequestRollback takes every fleet the rollout changed back to its previous image.
	RequestRollback RequestKind = "rollback"
)

// Errors of Controller.Request.
var (
	// ErrNoRollout: there is no rollout with that id.
	ErrNoRollout = errors.New("no such rollout")
	// ErrConflict: the rollout is not in a state that allows the request (the error says
	// why); nothing was changed.
	ErrConflict = errors.New("conflict")
)

// WavePlan is one wave of a rollout as the plan shows it (API, pending notice).
type WavePlan struct {
	Wave   int
	Canary bool
	Fleets []string
	// State is "waiting", "running", "checking", "baking", "awaiting-approval", "halted",
	// "passed", "rolled-back" or "cancelled".
	State string
	// Gate says what the wave must pass before the next one starts.
	Gate string
	// ExpectedStart is when the wave is expected to start (zero when it depends on an
	// approval); later waves assume each gate passes at once and the bakes run in full.
	ExpectedStart time.Time `json:",omitzero"`
}

// waveSteps returns the indexes of r's steps in wave k.
func waveSteps(r Rollout, k int) []int {
	var out []int
	for i, s := range r.Steps {
		if stepWave(s) == k {
			out = append(out, i)
		}
	}
	return out
}

// stepWave is a step's wave; steps written before waves existed are wave 1.
func stepWave(s Step) int { return max(1, s.Wave) }

// released reports whether a step's wave may run.
func released(r Rollout, s Step) bool { return stepWave(s) <= max(1, r.Wave) }

// bakeAfter is how long wave k must stay healthy before the next.
func (ws WaveSettings) bakeAfter(r Rollout) time.Duration {
	if r.Wave == 1 && r.Canary != "" {
		return ws.CanaryBake
	}
	return ws.Bake
}

// WaveHealth is what a gate read about the fleets of a wave.
type WaveHealth struct {
	Fleets  map[string]Fleet
	Targets map[string]Target
	// Checks holds the check_url result of each fleet that was checked (nil: 2xx).
	Checks map[string]error
}

// HealthProblems returns, by fleet, the failed checks of wave k of r: a fleet is healthy when
// it runs the image, is RUNNING with no FleetErrors and all its desired instances running, has
// its Min/Max back when it was drained, and (when checked) its check_url answered 2xx.
func HealthProblems(r Rollout, k int, h WaveHealth) map[string][]string {
	out := map[string][]string{}
	for _, i := range waveSteps(r, k) {
		s := r.Steps[i]
		if s.State == StepCancelled {
			continue
		}
		var p []string
		f, ok := h.Fleets[s.Fleet]
		switch {
		case s.State == StepFailed:
			p = append(p, "its update failed: "+s.Message)
		case !ok:
			p = append(p, "the fleet no longer exists")
		default:
			if f.ImageARN != r.ImageARN {
				p = append(p, "it runs "+f.ImageARN+", not the image")
			}
			if f.State != fleetRunning {
				p = append(p, "it is "+f.State+", not RUNNING")
			}
			for _, e := range f.Errors {
				p = append(p, "it reports "+e)
			}
			if f.Running < f.Desired {
				p = append(p, fmt.Sprintf("%d of its %d desired instances are running", f.Running, f.Desired))
			}
			want := Capacity{s.SavedMin, s.SavedMax}
			if s.Restored != (Capacity{}) {
				want = s.Restored
			}
			if t, tok := h.Targets[s.Fleet]; s.Drain && want.Max > 0 && tok && t.Capacity != want {
				p = append(p, fmt.Sprintf("its Min/Max is %s, not the %s it was restored to", t.Capacity, want))
			}
			if err, checked := h.Checks[s.Fleet]; checked && err != nil {
				p = append(p, "its health check failed: "+err.Error())
			}
		}
		if len(p) > 0 {
			out[s.Fleet] = p
		}
	}
	return out
}

// describeProblems is problems as one line per fleet, in fleet order.
func describeProblems(problems map[string][]string) []string {
	out := make([]string, 0, len(problems))
	for _, n := range slices.Sorted(maps.Keys(problems)) {
		out = append(out, "fleet "+n+": "+strings.Join(problems[n], "; "))
	}
	return out
}

// gate moves a progressive rollout's current wave through its gate once its fleets finished:
// health checked until rollouts.health.timeout, the bake, approval after the canary, then the
// next wave, or the end. A failed gate rolls the wave back (or halts the rollout).
func (p Policy) gate(in RolloutInput) Command {
	r, now := in.Rollout, in.Now
	if now.Before(r.NextAt) {
		return Command{}
	}
	wave := waveSteps(r, r.Wave)
	var names []string
	for _, i := range wave {
		if !r.Steps[i].State.Final() {
			return Command{}
		}
		if r.Steps[i].State != StepCancelled {
			names = append(names, r.Steps[i].Fleet)
		}
	}
	switch r.Gate {
	case GateApproval, GateHalted:
		if !r.Approved {
			return Command{}
		}
		if r.Wave >= r.Waves {
			// A halted last wave approved: nothing left to release; it ends as its fleets did.
			return p.finish(RolloutInput{Now: now, Rollout: r, ImageRead: in.ImageRead, Image: in.Image, ImageFound: in.ImageFound})
		}
		return p.release(in, r, fmt.Sprintf("approved by %s", orNone(r.ApprovedBy)))
	}
	if !in.HealthRead {
		return Command{NeedHealth: true, FleetNames: names}
	}
	problems := describeProblems(in.Health)
	var events []Event
	if r.Gate == GateNone {
		r.Gate, r.GateSince = GateChecking, now
		events = append(events, Event{At: now, RolloutID: r.ID, Kind: history.Gate, State: string(r.State),
			Reason: fmt.Sprintf("wave %d of %d finished; checking its health", r.Wave, r.Waves)})
	}
	switch r.Gate {
	case GateChecking:
		if len(problems) > 0 {
			for _, i := range wave {
				if r.Steps[i].State == StepFailed {
					// A failed update cannot heal by waiting.
					return p.failGate(in, r, problems)
				}
			}
			if now.Sub(r.GateSince) >= p.Waves.HealthTimeout {
				return p.failGate(in, r, problems)
			}
			r.Checks, r.NextAt, r.UpdatedAt = strings.Join(problems, "; "), now.Add(p.CheckEvery), now
			return Command{Change: &Change{Update: &r, Events: events}}
		}
		if r.Wave >= r.Waves {
			r.Checks = ""
			return p.finish(RolloutInput{Now: now, Rollout: r, ImageRead: in.ImageRead, Image: in.Image, ImageFound: in.ImageFound})
		}
		if bake := p.Waves.bakeAfter(r); bake > 0 {
			r.Gate, r.GateSince, r.NextAt, r.Checks, r.UpdatedAt = GateBaking, now, now.Add(bake), "", now
			events = append(events, Event{At: now, RolloutID: r.ID, Kind: history.Gate, State: string(r.State),
				Reason: fmt.Sprintf("wave %d is healthy; baking for %s before the next wave", r.Wave, bake)})
			return Command{Change: &Change{Update: &r, Events: events}, Log: fmt.Sprintf("rollout %d: wave %d healthy, baking %s", r.ID, r.Wave, bake)}
		}
	case GateBaking, GateRechecking:
		if len(problems) > 0 {
			if r.Gate == GateBaking {
				r.Gate, r.GateSince = GateRechecking, now
				events = append(events, Event{At: now, RolloutID: r.ID, Kind: history.Gate, State: string(r.State),
					Reason: fmt.Sprintf("wave %d is not healthy at the end of its bake (%s); checking again until %s", r.Wave, strings.Join(problems, "; "), p.Waves.HealthTimeout)})
			} else if now.Sub(r.GateSince) >= p.Waves.HealthTimeout {
				return p.failGate(in, r, problems)
			}
			r.Checks, r.NextAt, r.UpdatedAt = strings.Join(problems, "; "), now.Add(p.CheckEvery), now
			return Command{Change: &Change{Update: &r, Events: events}}
		}
	}
	return p.passed(in, r, events)
}

// passed moves on from a healthy, baked wave: to the approval after the canary when the image
// asks for one, else to the next wave.
func (p Policy) passed(in RolloutInput, r Rollout, events []Event) Command {
	now := in.Now
	if r.Approval && !r.Approved && r.Wave == 1 {
		r.Gate, r.GateSince, r.NextAt, r.Checks, r.UpdatedAt = GateApproval, now, time.Time{}, "", now
		events = append(events, Event{At: now, RolloutID: r.ID, Kind: history.Gate, State: string(r.State),
			Reason: "the canary wave is healthy; waiting for a person to approve the next wave"})
		return Command{Change: &Change{Update: &r, Events: events, Deliveries: p.deliver(approvalNotice(r, p.Keys, now))},
			Action: ImageAction{ARN: r.ImageARN, Tag: map[string]string{p.Keys.Status: StatusAwaitingApproval(now)}},
			Log:    fmt.Sprintf("rollout %d: canary healthy, awaiting approval", r.ID)}
	}
	cmd := p.release(in, r, fmt.Sprintf("wave %d passed its gate", r.Wave))
	if cmd.Change != nil {
		cmd.Change.Events = append(events, cmd.Change.Events...)
	}
	return cmd
}

// release starts the next wave: its fleets get the window opening they can start in now (the
// current one if enough of it is left, else the next), and the admins are told when a wave
// must wait for a later opening.
func (p Policy) release(in RolloutInput, r Rollout, why string) Command {
	r.Steps = slices.Clone(r.Steps) // decided on a copy: the input stays as read
	now := in.Now
	k := r.Wave + 1
	idx := waveSteps(r, k)
	if !in.FleetTagsRead {
		return Command{NeedFleetTags: true, FleetNames: waveFleets(r, k)}
	}
	var changed []Step
	var first time.Time
	for _, i := range idx {
		s := &r.Steps[i]
		if s.State != StepWaiting {
			continue
		}
		w, err := p.Planner.WindowFor(s.Fleet, in.FleetTags[s.Fleet])
		var start, end time.Time
		if err == nil {
			start, end = w.Schedule(now, p.Planner.Margin)
		}
		if err != nil || start.IsZero() {
			s.State, s.FinishedAt, s.NextAt = StepFailed, now, now
			s.Message = fmt.Sprintf("no window to start in: %v", orNone(errString(err)))
		} else {
			s.WindowStart, s.WindowEnd, s.NextAt = start.UTC(), end.UTC(), start.UTC()
			s.Message = "wave released; waiting for the window opening at " + s.WindowStart.Format(time.RFC3339)
			if first.IsZero() || s.WindowStart.Before(first) {
				first = s.WindowStart
			}
		}
		changed = append(changed, *s)
	}
	r.Wave, r.Gate, r.GateSince, r.NextAt, r.Checks, r.UpdatedAt = k, GateNone, time.Time{}, time.Time{}, "", now
	r.WaveAt = now
	if first.After(now) {
		r.WaveAt = first
	}
	reason := fmt.Sprintf("%s; wave %d of %d released", why, k, r.Waves)
	ch := &Change{Update: &r, Steps: changed,
		Events: []Event{{At: now, RolloutID: r.ID, Kind: history.Wave, State: string(r.State), Reason: reason}}}
	if first.After(now.Add(time.Minute)) {
		ch.Deliveries = p.deliver(waveWaitsNotice(r, k, first))
	}
	return Command{Change: ch, Action: ImageAction{ARN: r.ImageARN, Tag: map[string]string{p.Keys.Status: StatusWave(k, r.Waves)}},
		Log: fmt.Sprintf("rollout %d: %s", r.ID, reason)}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// failGate ends a wave that is not healthy: its fleets are rolled back (later waves never
// start), or with rollouts.rollback: off the rollout halts for a person.
func (p Policy) failGate(in RolloutInput, r Rollout, problems []string) Command {
	now := in.Now
	r.Checks = strings.Join(problems, "; ")
	why := fmt.Sprintf("wave %d failed its health gate: %s", r.Wave, r.Checks)
	if p.Waves.NoRollback {
		r.Gate, r.GateSince, r.NextAt, r.Approved, r.ApprovedBy, r.UpdatedAt = GateHalted, now, time.Time{}, false, "", now
		r.Reason = why + "; waiting for a person (rollouts.rollback is off)"
		return Command{Change: &Change{Update: &r,
			Events:     []Event{{At: now, RolloutID: r.ID, Kind: history.Gate, State: string(r.State), Reason: r.Reason}},
			Deliveries: p.deliver(haltedNotice(r, problems, now))},
			Action: ImageAction{ARN: r.ImageARN, Tag: map[string]string{p.Keys.Status: StatusFailed(now)}},
			Log:    fmt.Sprintf("rollout %d halted: %s", r.ID, why)}
	}
	wave := r.Wave
	return p.rollback(r, why, now, func(s Step) bool { return stepWave(s) == wave })
}

// rollback takes the fleets of r that include selects and that the rollout changed back to
// their previous images; steps not started are cancelled, so nothing new starts.
func (p Policy) rollback(r Rollout, why string, now time.Time, include func(Step) bool) Command {
	r.Steps = slices.Clone(r.Steps) // decided on a copy: the input stays as read
	var changed []Step
	back := 0
	for i := range r.Steps {
		s := &r.Steps[i]
		switch {
		case s.RollingBack:
			continue
		case s.State == StepWaiting:
			s.State, s.FinishedAt, s.NextAt, s.Message = StepCancelled, now, now, "not started: the rollout is being rolled back"
		case include(*s) && (s.State.Started() || s.State == StepDone || (s.State == StepFailed && s.PreviousImageARN != "")):
			s.RollingBack, s.State, s.Attempts, s.FinishedAt = true, StepWaiting, 0, time.Time{}
			s.WindowStart, s.WindowEnd, s.NextAt = now, now.Add(rollbackWindow), now
			s.Message = "rolling back to its previous image"
			back++
		default:
			continue
		}
		changed = append(changed, *s)
	}
	r.State, r.Gate, r.GateSince, r.NextAt, r.Reason, r.UpdatedAt = Running, GateRollingBack, now, time.Time{}, why, now
	return Command{Change: &Change{Update: &r, Steps: changed,
		Events: []Event{{At: now, RolloutID: r.ID, Kind: history.Gate, State: string(r.State),
			Reason: fmt.Sprintf("rolling back %d fleets: %s", back, why)}}},
		Log: fmt.Sprintf("rollout %d rolling back %d fleets: %s", r.ID, back, why)}
}

// approvable reports whether a person's approval means something to r now or later: it
// waits (or will wait) for one after its canary, or it halted after a failed gate.
func approvable(r Rollout) bool {
	return r.State.Active() && !r.Approved && (r.Approval || r.Gate == GateHalted) && r.Gate != GateRollingBack && r.Gate != GateCancelling
}

// approve records a person's approval; the next steps pass releases the next wave.
func (p Policy) approve(img Image, r Rollout, by string, now time.Time) Command {
	r.Approved, r.ApprovedBy, r.NextAt, r.UpdatedAt = true, by, time.Time{}, now
	cmd := Command{Change: &Change{Update: &r,
		Events: []Event{{At: now, RolloutID: r.ID, Kind: history.Approved, State: string(r.State), Reason: "approved by " + by}}},
		Log: fmt.Sprintf("rollout %d approved by %s", r.ID, by)}
	if _, ok := img.Tags[p.Keys.Approve]; ok && img.ARN != "" {
		// The tag is consumed, so it cannot approve a later rollout of the image.
		cmd.Action = ImageAction{ARN: img.ARN, Untag: []string{p.Keys.Approve}}
	}
	return cmd
}

// stop cancels what has not started of a running rollout; fleets in progress finish. A
// rollout without waves ends as its fleets did (the recipe's cancel); a progressive one, or
// one cancelled on request, ends Cancelled.
func (p Policy) stop(r Rollout, why string, now time.Time) Command {
	r.Steps = slices.Clone(r.Steps) // decided on a copy: the input stays as read
	if !r.Progressive() {
		return p.cancelWaiting(r, why, now)
	}
	if r.Gate == GateCancelling {
		return Command{}
	}
	steps := cancelSteps(&r, why, now)
	r.Gate, r.GateSince, r.NextAt, r.Reason, r.UpdatedAt = GateCancelling, now, time.Time{}, why, now
	return Command{Change: &Change{Update: &r, Steps: steps,
		Events: []Event{{At: now, RolloutID: r.ID, Kind: history.Cancelled, State: string(r.State), Reason: why}}},
		Log: fmt.Sprintf("rollout %d stopping: %s", r.ID, why)}
}

// DecideRequest decides a person's request on r. An error wrapping ErrConflict says why the
// request does not apply; nothing is changed then. A request already in effect (approving an
// approved rollout, rolling back one being rolled back) is no error and changes nothing.
func (p Policy) DecideRequest(r Rollout, kind RequestKind, by string, now time.Time) (Command, error) {
	r.Steps = slices.Clone(r.Steps) // decided on a copy: the input stays as read
	ended := func() error {
		return fmt.Errorf("%w: rollout %d has ended (%s)", ErrConflict, r.ID, r.State)
	}
	switch kind {
	case RequestApprove:
		switch {
		case !r.State.Active():
			return Command{}, ended()
		case r.Approved && (r.Approval || r.Gate == GateHalted):
			return Command{}, nil
		case !approvable(r):
			return Command{}, fmt.Errorf("%w: rollout %d has nothing to approve: it has no %s=Manual tag and has not halted on a failed gate", ErrConflict, r.ID, p.Keys.Approval)
		}
		return p.approve(Image{}, r, by, now), nil
	case RequestCancel:
		why := "cancelled by " + by
		switch {
		case !r.State.Active():
			return Command{}, ended()
		case r.Gate == GateCancelling:
			return Command{}, nil
		case r.Gate == GateRollingBack:
			return Command{}, fmt.Errorf("%w: rollout %d is being rolled back; a rollback is not cancelled", ErrConflict, r.ID)
		case r.State == Pending:
			cmd := p.cancel(r, why, "", nil, now)
			if cmd.Change != nil && cmd.Change.Update != nil {
				// The tag is still there: it is this request, not a new one.
				cmd.Change.Update.TagCleared = false
			}
			return cmd, nil
		}
		steps := cancelSteps(&r, why, now)
		r.Gate, r.GateSince, r.NextAt, r.Reason, r.UpdatedAt = GateCancelling, now, time.Time{}, why, now
		return Command{Change: &Change{Update: &r, Steps: steps,
			Events: []Event{{At: now, RolloutID: r.ID, Kind: history.Cancelled, State: string(r.State), Reason: why}}},
			Log: fmt.Sprintf("rollout %d stopping: %s", r.ID, why)}, nil
	case RequestRollback:
		switch {
		case r.Gate == GateRollingBack && r.State.Active():
			return Command{}, nil
		case r.State == Pending:
			return Command{}, fmt.Errorf("%w: rollout %d has not started, so it changed no fleet; cancel it instead", ErrConflict, r.ID)
		case r.State == RolledBack:
			return Command{}, fmt.Errorf("%w: rollout %d was rolled back already", ErrConflict, r.ID)
		}
		changedAny := false
		for _, s := range r.Steps {
			changedAny = changedAny || s.State.Started() || s.State == StepDone || (s.State == StepFailed && s.PreviousImageARN != "")
		}
		if !changedAny {
			return Command{}, fmt.Errorf("%w: rollout %d changed no fleet; nothing to roll back", ErrConflict, r.ID)
		}
		return p.rollback(r, "rollback requested by "+by, now, func(Step) bool { return true }), nil
	}
	return Command{}, fmt.Errorf("%w: unknown request %q", ErrConflict, kind)
}

// PlanWaves returns r's waves as planned, with when each is expected to start: wave 1 at the
// rollout's start, each later one when the one before is expected to have passed its gate
// (its fleets' time is not known in advance, so that counts only the bake).
func PlanWaves(r Rollout, ws WaveSettings) []WavePlan {
	n := max(1, r.Waves)
	out := make([]WavePlan, n)
	for k := 1; k <= n; k++ {
		wp := &out[k-1]
		wp.Wave, wp.Canary = k, k == 1 && r.Canary != ""
		running, final, rolledBack, cancelled := false, true, false, true
		for _, i := range waveSteps(r, k) {
			s := r.Steps[i]
			wp.Fleets = append(wp.Fleets, s.Fleet)
			running = running || s.State.Started()
			final = final && s.State.Final()
			rolledBack = rolledBack || s.RollingBack
			cancelled = cancelled && s.State == StepCancelled
		}
		switch {
		case !r.Progressive():
			wp.Gate = "none: the recipe's behaviour (every fleet at once, no health gate)"
		case k == n:
			wp.Gate = fmt.Sprintf("healthy within %s", ws.HealthTimeout)
		case wp.Canary && r.Approval:
			wp.Gate = fmt.Sprintf("healthy within %s, then healthy after a %s bake, then a person's approval", ws.HealthTimeout, ws.CanaryBake)
		default:
			wp.Gate = fmt.Sprintf("healthy within %s, then healthy after a %s bake", ws.HealthTimeout, ws.bakeAfter(Rollout{Wave: k, Canary: r.Canary}))
		}
		switch {
		case rolledBack:
			wp.State = "rolled-back"
		case cancelled && len(wp.Fleets) > 0:
			wp.State = "cancelled"
		case k < r.Wave || (k == r.Wave && final && !r.State.Active()):
			wp.State = "passed"
		case k == r.Wave && r.Gate != GateNone && r.Gate != GateCancelling && r.Gate != GateRollingBack:
			wp.State = string(r.Gate)
		case k == r.Wave && (running || final):
			wp.State = "running"
		default:
			wp.State = "waiting"
		}
		switch {
		case k == 1:
			wp.ExpectedStart = r.Start
		case k <= r.Wave:
			wp.ExpectedStart = r.WaveAt
			if k < r.Wave {
				wp.ExpectedStart = time.Time{} // started; its steps say when
			}
		case out[k-2].ExpectedStart.IsZero() || (k == 2 && r.Approval && !r.Approved):
			wp.ExpectedStart = time.Time{}
		default:
			wp.ExpectedStart = out[k-2].ExpectedStart.Add(ws.bakeAfter(Rollout{Wave: k - 1, Canary: r.Canary}))
		}
	}
	return out
}
