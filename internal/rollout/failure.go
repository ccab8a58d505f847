package rollout

import (
	"fmt"
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// Escalation thresholds.
const (
	// EscalateAfter is how many failed restores in a row open an incident.
	EscalateAfter = 3
	// RemindEvery is how often an open incident is brought up again.
	RemindEvery = time.Hour
)

// Failure is what a failed action does to its step: the step as it is to be written, and
// whether admins must be told urgently. It is pure, like Decide.
type Failure struct {
	Next Step
	// Escalate is EscalateNone, or the notice an open incident calls for.
	Escalate Escalation
	// Retryable says the call will be made again (at Next.NextAt).
	Retryable bool
}

// Escalation is an urgent notice about a fleet that needs a person.
type Escalation int

// Escalations.
const (
	EscalateNone Escalation = iota
	// EscalateOpen: the first notice of an incident.
	EscalateOpen
	// EscalateRemind: the incident is still open an hour (RemindEvery) later.
	EscalateRemind
	// EscalateResolved: the fleet of an open incident is back to normal.
	EscalateResolved
)

// OnFailure decides what a failed action means for its step. class sorts the error (see package
// fault); attempts count the failures of the step's current action. The rules:
//  1. A call that cannot succeed as it is (not found, denied, invalid) fails a step that has not
//     touched capacity yet (UpdateFleet), and sends a step that may have drained the fleet on to
//     restore it (tag or scale-to-zero failed).
//  2. Anything else is retried: restores on the fast schedule (fault.Loop, a fleet at 0/0 is an
//     outage), other calls on fault.Call.
//  3. A restore that keeps failing (EscalateAfter attempts) or a fleet at 0/0 longer than the
//     drain timeout opens an incident: an urgent notice once, then a reminder every RemindEvery,
//     while the restore is retried. A restore is never given up.
func OnFailure(s Step, d Decision, class fault.Class, cause string, now time.Time, p Params) Failure {
	n := s
	if d.Action == ActTagSaved {
		// The decision carried the saved Min/Max; a restore must use them, never zeros.
		n.SavedMin, n.SavedMax, n.DrainStartedAt = d.Next.SavedMin, d.Next.SavedMax, d.Next.DrainStartedAt
	}
	n.Attempts++
	n.Message = fmt.Sprintf("%s failed (attempt %d, %s): %s", d.Action, n.Attempts, class, cause)
	out := Failure{Next: n}
	switch {
	case !class.Retryable() && d.Action == ActUpdateImage:
		out.Next.State, out.Next.FinishedAt, out.Next.NextAt = StepFailed, now, now
		return out
	case !class.Retryable() && (d.Action == ActScaleToZero || d.Action == ActTagSaved):
		out.Next.State, out.Next.NextAt, out.Next.Attempts = StepRestoring, now, 0
		return out
	case d.Action == ActRestore || d.Action == ActUntagSaved:
		out.Next.NextAt = now.Add(fault.Loop.Delay(n.Attempts, class))
	default:
		out.Next.NextAt = now.Add(fault.Call.Delay(n.Attempts, class))
	}
	out.Retryable = true
	if d.Action == ActRestore {
		out.Next, out.Escalate = escalate(out.Next, now, p)
	}
	return out
}

// escalate opens or reminds an incident for a step whose fleet is stuck at 0/0.
func escalate(s Step, now time.Time, p Params) (Step, Escalation) {
	stuck := s.Attempts >= EscalateAfter || (!s.DrainStartedAt.IsZero() && now.Sub(s.DrainStartedAt) >= p.DrainTimeout)
	switch {
	case !stuck:
		return s, EscalateNone
	case s.EscalatedAt.IsZero():
		s.EscalatedAt, s.RemindedAt = now, now
		return s, EscalateOpen
	case now.Sub(s.RemindedAt) >= RemindEvery:
		s.RemindedAt = now
		return s, EscalateRemind
	}
	return s, EscalateNone
}

// resolved closes a step's incident once the step ends; a fleet that got its capacity back
// (StepDone) is worth telling admins about.
func resolved(prev, next Step) (Step, Escalation) {
	if prev.EscalatedAt.IsZero() || !next.State.Final() {
		return next, EscalateNone
	}
	next.EscalatedAt, next.RemindedAt = time.Time{}, time.Time{}
	if next.State == StepDone {
		return next, EscalateResolved
	}
	return next, EscalateNone
}

// Unreadable decides about a step whose fleet could not be read failures times in a row:
// nothing can be done to the fleet meanwhile, but a drained fleet that deskpilot cannot see is
// an incident like a restore that keeps failing, and a person must hear of it.
func Unreadable(s Step, failures int, cause string, now time.Time, p Params) (Step, Escalation) {
	if s.State != StepDraining && s.State != StepRestoring {
		return s, EscalateNone
	}
	probe := s
	probe.Attempts = max(s.Attempts, failures)
	n, e := escalate(probe, now, p)
	n.Attempts = s.Attempts
	if e != EscalateNone {
		n.Message = fmt.Sprintf("the fleet could not be read %d times in a row: %s", failures, cause)
	}
	return n, e
}
