package rollout

import (
	"context"
	"errors"
	"time"
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
	ExpectedStart time.Time `json:",omitempty"`
}

// PlanWaves returns r's waves as planned, with when each is expected to start.
func PlanWaves(r Rollout, ws WaveSettings) []WavePlan {
	return nil
}
