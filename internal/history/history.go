// Package history is the vocabulary of deskpilot's audit trail: every decision a controller
// makes and every call it makes to AWS is recorded as an Event of one of a closed set of Kinds,
// with structured fields, the same for rollouts and WorkSpaces resets. The store keeps them; the
// API, the CLI, the dashboard and the metrics read them. It has no dependencies, so domain
// packages can build events without importing an adapter.
package history

import (
	"fmt"
	"time"
)

// Kind is what an Event records. The set is closed: Valid reports whether a kind belongs to it,
// and the store refuses any other.
type Kind string

// Decisions about a whole rollout.
const (
	// Planned: a tagged image became a rollout with a start time.
	Planned Kind = "planned"
	// Refused: a tag could not be planned; Reason lists every problem.
	Refused Kind = "refused"
	// Started: the first fleet of a rollout began.
	Started Kind = "started"
	// Cancelled: a person stopped a rollout (or a reset) before it acted.
	Cancelled Kind = "cancelled"
	// Superseded: a newer request replaced a rollout (or some of its fleets).
	Superseded Kind = "superseded"
	// Succeeded: every fleet of a rollout runs its image.
	Succeeded Kind = "succeeded"
	// Failed: a rollout ended with a failed fleet, or a reset failed.
	Failed Kind = "failed"
)

// Decisions about one fleet's step, and the calls made for it.
const (
	// Step: a fleet's step moved to State; Reason says why.
	Step Kind = "step"
	// Call: deskpilot made an AWS call (Call) for a fleet or a WorkSpace; Result is "ok" or the
	// failure's class, Error the message.
	Call Kind = "call"
	// Escalated: a fleet needs a person (a restore keeps failing, a fleet stayed at 0/0 past the
	// drain timeout); an urgent notice was sent.
	Escalated Kind = "escalated"
	// Resolved: an escalated fleet is back to normal.
	Resolved Kind = "resolved"
)

// Decisions about a WorkSpace.
const (
	// Logoff: the user of an opted-in WorkSpace logged off or disconnected; the grace began.
	Logoff Kind = "logoff"
	// Reset: the WorkSpace was rebuilt or restored.
	Reset Kind = "reset"
	// Skipped: a due reset was not made (the user came back, the WorkSpace is not in a state
	// that allows it, it opted out).
	Skipped Kind = "skipped"
	// Wave: a wave of a progressive rollout was released (its fleets may start).
	Wave Kind = "wave"
	// Gate: a wave's health gate passed, failed, or is waiting (bake, approval).
	Gate Kind = "gate"
	// Approved: a person approved a rollout (API, CLI or the Approve tag).
	Approved Kind = "approved"
	// RolledBack: a rollout's fleets went back to their previous images.
	RolledBack Kind = "rolled-back"
)

var kinds = map[Kind]bool{
	Planned: true, Refused: true, Started: true, Cancelled: true, Superseded: true, Succeeded: true, Failed: true,
	Step: true, Call: true, Escalated: true, Resolved: true, Logoff: true, Reset: true, Skipped: true,
	Wave: true, Gate: true, Approved: true, RolledBack: true,
}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { return kinds[k] }

// Kinds returns every kind, for documentation and validation in other packages.
func Kinds() []Kind {
	return []Kind{Planned, Refused, Started, Cancelled, Superseded, Succeeded, Failed, Step, Call, Escalated, Resolved, Logoff, Reset, Skipped, Wave, Gate, Approved, RolledBack}
}

// ResultOK is a Call event's Result when the call succeeded.
const ResultOK = "ok"

// Event is one line of the audit trail.
type Event struct {
	ID int64
	At time.Time
	// Kind is what happened.
	Kind Kind
	// RolloutID is the rollout the event belongs to, or 0.
	RolloutID int64
	// Account, Region and Fleet name the fleet the event is about (empty for a rollout-wide
	// event or a WorkSpace's).
	Account, Region, Fleet string
	// WorkspaceID names the WorkSpace the event is about.
	WorkspaceID string
	// State is the state the subject moved to (a step's or a rollout's), when it moved.
	State string
	// Call is the AWS operation made, e.g. "UpdateFleet" (Call events).
	Call string
	// Result is ResultOK or the fault class of a failed call (Call events).
	Result string
	// Reason says, for people, why the decision was taken or what the call was for.
	Reason string
	// Error is a failed call's message.
	Error string
}

// Validate reports an event the store must not record.
func (e Event) Validate() error {
	if !e.Kind.Valid() {
		return fmt.Errorf("history: unknown event kind %q", e.Kind)
	}
	if e.Kind == Call && (e.Call == "" || e.Result == "") {
		return fmt.Errorf("history: a call event needs Call and Result")
	}
	return nil
}
