// Package rollout applies AppStream images to fleets in maintenance windows: the tag protocol
// admins use to ask for a rollout, the plan that turns a tagged image into per-fleet steps,
// the pure transition function of a step, and the level-triggered controller that drives
// rollouts to completion through any number of restarts.
package rollout

import (
	"context"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/notice"
)

// FleetRef names a fleet across accounts and regions: a fleet name is unique only within one
// account and region. Saved capacity, steps and history are keyed by it, so that several
// accounts and regions need no second migration of the capacity deskpilot holds.
type FleetRef struct {
	Account, Region, Name string
}

func (f FleetRef) String() string {
	if f.Account == "" && f.Region == "" {
		return f.Name
	}
	return f.Account + "/" + f.Region + "/" + f.Name
}

// State is where a rollout is in its life.
type State string

// Rollout states. Pending and Running are active; the others are final.
const (
	// Pending: planned and announced; waiting for the first fleet's window.
	Pending State = "pending"
	// Running: at least one step has started.
	Running State = "running"
	// Succeeded: every fleet runs the image (or was skipped because it already did).
	Succeeded State = "succeeded"
	// Failed: at least one fleet could not be updated; each fleet's capacity was restored.
	Failed State = "failed"
	// Cancelled: the admin removed the FleetName tag before the rollout started.
	Cancelled State = "cancelled"
	// Superseded: every fleet of the rollout was claimed by a newer tag before it started,
	// or its tag was changed (the newer plan replaced it).
	Superseded State = "superseded"
	// Refused: the tag could not be planned (unknown fleet, Elastic fleet, bad window…);
	// nothing was changed. Fix the tag to try again.
	Refused State = "refused"
	// RolledBack: the fleets the rollout changed went back to their previous images, after a
	// failed health gate or on request.
	RolledBack State = "rolled-back"
)

// Active reports whether a rollout in state s still has work to do.
func (s State) Active() bool { return s == Pending || s == Running }

// StepState is where one fleet is in a rollout.
type StepState string

// Step states. A step moves forward only; every state names the action that is due next, so
// that after a restart the controller repeats at most that action, after checking the world.
const (
	// StepWaiting: the fleet's window has not opened, or the fleet is busy (STARTING,
	// STOPPING, or in another rollout's active step).
	StepWaiting StepState = "waiting"
	// StepApplying: UpdateFleet(ImageArn) is due (or was sent and is being confirmed).
	StepApplying StepState = "applying"
	// StepSaving: the fleet's Min/Max are to be saved (store, then fleet tags).
	StepSaving StepState = "saving"
	// StepDraining: the target is (being) set to 0/0; waiting for Available == 0.
	StepDraining StepState = "draining"
	// StepRestoring: the saved Min/Max are to be registered again and the tags removed.
	StepRestoring StepState = "restoring"
	// StepSessions: the image is applied (and the fleet restored, if it drained); sessions
	// on old-image instances are followed until none is left: their instances put in drain
	// mode (sessions and deadline mode, multi-session fleets), ended at the deadline (deadline
	// mode).
	StepSessions StepState = "sessions"
	// StepDone: the fleet runs the image (and its capacity is restored).
	StepDone StepState = "done"
	// StepSkipped: the fleet already ran the image.
	StepSkipped StepState = "skipped"
	// StepFailed: the fleet could not be updated; its capacity is as it was.
	StepFailed StepState = "failed"
	// StepCancelled: the rollout was cancelled or superseded before this fleet started.
	StepCancelled StepState = "cancelled"
	// StepRolledBack: the fleet is back on the image it ran before the rollout (Min/Max
	// restored exactly when it was drained).
	StepRolledBack StepState = "rolled-back"
)

// Final reports whether a step in state s is finished.
func (s StepState) Final() bool {
	switch s {
	case StepDone, StepSkipped, StepFailed, StepCancelled, StepRolledBack:
		return true
	}
	return false
}

// Started reports whether a step has changed anything on its fleet, or may have: from then on
// it must run to a final state, restoring capacity if it drained.
func (s StepState) Started() bool {
	switch s {
	case StepApplying, StepSaving, StepDraining, StepRestoring, StepSessions:
		return true
	}
	return false
}

// Rollout is one request to apply an image to fleets, made by tagging the image.
type Rollout struct {
	ID int64
	// Account and Region are where the image and every fleet of the rollout are: a rollout
	// never crosses one.
	Account, Region string
	ImageName       string
	ImageARN        string
	// FleetTag is the FleetName tag value as the admin wrote it; with ScaleImmediately it is
	// the request's identity: the same tags seen again are the same request.
	FleetTag         string
	ScaleImmediately bool
	// Drain is the image's Drain tag (one of DrainModes, "" when absent); each step has its
	// fleet's resolved mode.
	Drain string
	State State
	// Start is the earliest window opening among the steps (what Status=Pending/<time> shows).
	Start time.Time
	// TagCleared records that the FleetName tag was seen removed after this rollout ended, so
	// that tagging the image again with the same value is a new request.
	TagCleared bool
	// Reason says why the rollout is in its state, for people.
	Reason    string
	CreatedAt time.Time
	UpdatedAt time.Time
	Steps     []Step

	// Progressive rollouts (Canary, Waves and Approval tags; see waves.go).

	// Canary is the Canary tag as written ("" for none); its fleets are wave 1.
	Canary string
	// WaveSize is the Waves tag (0: rollouts.waves.size).
	WaveSize int
	// Approval is set by Approval=Manual: after the canary wave is healthy the rollout waits
	// for a person.
	Approval bool
	// Waves is how many waves the steps form (1 for a rollout without Canary or Waves), and
	// Wave the highest released one: steps of later waves do not start.
	Waves, Wave int
	// Gate is where the current wave is after its fleets finished; GateSince when it got
	// there; WaveAt when the current wave was released.
	Gate      Gate
	GateSince time.Time
	WaveAt    time.Time
	// NextAt is when the rollout's gate is next looked at (zero: at every pass).
	NextAt time.Time
	// Approved records a person's approval (API, CLI or Approve=True); ApprovedBy who.
	Approved   bool
	ApprovedBy string
	// Checks lists the health checks that failed at the latest look, "; "-joined.
	Checks string
}

// Progressive reports whether the rollout has health gates: it has a canary or more than one
// wave. A rollout without either runs as the recipe's did.
func (r Rollout) Progressive() bool { return r.Canary != "" || r.Waves > 1 }

// Gate is where a progressive rollout's current wave is once its fleets finished (and where a
// rollout is that is being rolled back or cancelled on request).
type Gate string

// Gates.
const (
	// GateNone: the current wave's fleets are being updated.
	GateNone Gate = ""
	// GateChecking: the wave's fleets finished; their health is checked until
	// rollouts.health.timeout.
	GateChecking Gate = "checking"
	// GateBaking: the wave was healthy; the bake time runs, then health is checked again.
	GateBaking Gate = "baking"
	// GateRechecking: the wave was not healthy at the end of its bake (an instance being
	// replaced, say); it passes as soon as it is healthy again, and fails at
	// rollouts.health.timeout.
	GateRechecking Gate = "rechecking"
	// GateApproval: the canary wave passed; waiting for a person to approve the next wave.
	GateApproval Gate = "awaiting-approval"
	// GateHalted: a wave failed its gate with rollouts.rollback: off; waiting for a person to
	// approve (go on), roll back or cancel.
	GateHalted Gate = "halted"
	// GateRollingBack: the fleets the rollout changed are going back to their previous images.
	GateRollingBack Gate = "rolling-back"
	// GateCancelling: cancelled on request; fleets in progress finish, nothing else starts.
	GateCancelling Gate = "cancelling"
)

// Step is one fleet's part of a rollout.
type Step struct {
	RolloutID int64
	Fleet     string
	State     StepState
	// WindowStart and WindowEnd bound the opening in which this fleet may start.
	WindowStart time.Time
	WindowEnd   time.Time
	// NextAt is when the controller next looks at this step.
	NextAt   time.Time
	Attempts int
	// Drain is set when the fleet is to be scaled to zero after the image is applied (the
	// rollout has ScaleImmediately and the fleet had a scalable target when it started).
	Drain bool
	// SavedMin and SavedMax are the capacity saved before the drain (valid when Drain and the
	// step is past StepSaving); the same values are in the saved_capacity table and fleet tags.
	SavedMin, SavedMax int32
	// SavedSuspended is the target's SuspendedState saved with SavedMin and SavedMax.
	SavedSuspended Suspension
	// Restored is the Min/Max the restore registered: the saved pair, or what a scheduled
	// action that fell in the drain set.
	Restored       Capacity
	DrainStartedAt time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	// EscalatedAt is when admins were first told, urgently, that this fleet needs a person (its
	// restore keeps failing, or it stayed at 0/0 past the drain timeout); RemindedAt is the
	// latest reminder. Zero when there is no open incident.
	EscalatedAt, RemindedAt time.Time
	// Message is the latest thing worth telling about this step.
	Message string
	// Wave is the step's wave (1 is the canary wave when the rollout has one).
	Wave int
	// PreviousImageARN is the image the fleet ran when the step started: the way back.
	PreviousImageARN string
	// RollingBack says the step is taking its fleet back to PreviousImageARN (with the same
	// drain as the forward step); it ends in StepRolledBack.
	RollingBack bool
	// DrainMode is how the fleet's old-image sessions go (DrainScaleToZero, DrainSessions,
	// DrainDeadline; "" is DrainNone, or scale-to-zero for steps written before drain modes).
	DrainMode string
	// AppliedAt is when the image was applied: sessions that started before run on old-image
	// instances. WarnedAt is when admins were warned of the session deadline.
	AppliedAt, WarnedAt time.Time
}

// SavedCapacity is a fleet's Min/Max saved before a drain. There is at most one per fleet and
// it is never overwritten: a second drain of a drained fleet reuses it.
type SavedCapacity struct {
	Account, Region, Fleet string
	Min, Max               int32
	Suspended              Suspension
	RolloutID              int64
	SavedAt                time.Time
}

// Ref is the fleet the capacity belongs to.
func (c SavedCapacity) Ref() FleetRef { return FleetRef{c.Account, c.Region, c.Fleet} }

// Event is one line of the audit history, in the vocabulary shared with WorkSpaces resets.
type Event = history.Event

// Delivery is a notice for one sender, written to the outbox in the same transaction as the
// state change it reports, so a notice is never lost nor enqueued twice.
type Delivery struct {
	Sender string
	Notice notice.Notice
}

// Change is everything one decision writes, applied atomically.
type Change struct {
	// Create inserts a rollout with its steps; the store sets Rollout.ID and the steps'
	// RolloutID (read them back from the pointer).
	Create *Rollout
	// Update writes a rollout's State, Start, TagCleared, Reason, UpdatedAt and its waves'
	// fields (Canary, WaveSize, Approval, Waves, Wave, Gate, GateSince, WaveAt, NextAt,
	// Approved, ApprovedBy, Checks), not its steps.
	Update *Rollout
	// Steps are written in full (matched on RolloutID and Fleet).
	Steps []Step
	// Save and Saves insert saved capacity unless the fleet already has some (never
	// overwrites).
	Save  *SavedCapacity
	Saves []SavedCapacity
	// Forget deletes the saved capacity of these fleets.
	Forget []FleetRef
	Events []Event
	// Deliveries are enqueued once per (Notice.ID, Sender): enqueueing again is a no-op.
	Deliveries []Delivery
}

// Store is the durable state the controller needs. Each method is one transaction.
type Store interface {
	// Apply writes a Change atomically.
	Apply(ctx context.Context, c *Change) error
	// ActiveRollouts returns the pending and running rollouts with their steps, oldest first.
	ActiveRollouts(ctx context.Context) ([]Rollout, error)
	// Rollout returns one rollout with its steps; ok is false when there is none.
	Rollout(ctx context.Context, id int64) (r Rollout, ok bool, err error)
	// LatestRollouts returns, for each image ARN that has any rollout, its newest one with steps.
	LatestRollouts(ctx context.Context) (map[string]Rollout, error)
	// SavedFor returns the saved Min/Max of the named fleets of one account and region
	// that have any, by fleet name.
	SavedFor(ctx context.Context, account, region string, fleets []string) (map[string]SavedCapacity, error)
}
