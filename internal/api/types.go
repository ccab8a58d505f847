package api

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// This file holds the API's data transfer objects: what goes over the wire, in snake_case,
// with every time in UTC (RFC 3339; null when the domain value is the zero time) and every
// list an array, empty rather than null. Domain types carry no JSON tags; the From…
// functions convert them.

// Rollout is a rollout with its steps (rollout.Rollout).
type Rollout struct {
	ID               int64  `json:"id"`
	Account          string `json:"account"`
	Region           string `json:"region"`
	ImageName        string `json:"image_name"`
	ImageARN         string `json:"image_arn"`
	FleetTag         string `json:"fleet_tag"`
	ScaleImmediately bool   `json:"scale_immediately"`
	// State is pending, running, succeeded, failed, cancelled, superseded, refused or
	// rolled-back; Active is true for the first two.
	State  string `json:"state"`
	Active bool   `json:"active"`
	// Reason says why the rollout is in its state, for people.
	Reason string `json:"reason"`
	// Start is the earliest window opening of the first wave.
	Start     *time.Time `json:"start"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	// Progressive rollouts: the Canary tag, the Waves tag (0: none), Approval=Manual, how many
	// waves there are and the highest released one, where the current wave's gate is.
	Canary     string     `json:"canary"`
	WaveSize   int        `json:"wave_size"`
	Approval   bool       `json:"approval"`
	Waves      int        `json:"waves"`
	Wave       int        `json:"wave"`
	Gate       string     `json:"gate"`
	GateSince  *time.Time `json:"gate_since"`
	WaveAt     *time.Time `json:"wave_at"`
	NextAt     *time.Time `json:"next_at"`
	Approved   bool       `json:"approved"`
	ApprovedBy string     `json:"approved_by"`
	// Checks are the health checks that failed at the latest look, "; "-joined.
	Checks string `json:"checks"`
	Steps  []Step `json:"steps"`
}

// Step is one fleet's part of a rollout (rollout.Step).
type Step struct {
	Fleet string `json:"fleet"`
	// State is waiting, applying, saving, draining, restoring, done, skipped, failed,
	// cancelled or rolled-back.
	State       string     `json:"state"`
	Wave        int        `json:"wave"`
	WindowStart *time.Time `json:"window_start"`
	WindowEnd   *time.Time `json:"window_end"`
	NextAt      *time.Time `json:"next_at"`
	Attempts    int        `json:"attempts"`
	Drain       bool       `json:"drain"`
	// SavedCapacity is the Min/Max saved before the drain (null when the step did not drain
	// or has not saved it yet).
	SavedCapacity    *Bounds    `json:"saved_capacity"`
	DrainStartedAt   *time.Time `json:"drain_started_at"`
	StartedAt        *time.Time `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at"`
	EscalatedAt      *time.Time `json:"escalated_at"`
	RemindedAt       *time.Time `json:"reminded_at"`
	Message          string     `json:"message"`
	PreviousImageARN string     `json:"previous_image_arn"`
	RollingBack      bool       `json:"rolling_back"`
}

// Bounds are a scalable target's Min and Max.
type Bounds struct {
	Min int32 `json:"min"`
	Max int32 `json:"max"`
}

// Wave is one wave of a rollout as planned (rollout.WavePlan).
type Wave struct {
	Wave   int      `json:"wave"`
	Canary bool     `json:"canary"`
	Fleets []string `json:"fleets"`
	// State is waiting, running, checking, baking, rechecking, awaiting-approval, halted,
	// passed, rolled-back or cancelled.
	State string `json:"state"`
	// Gate says what the wave must pass before the next one starts.
	Gate string `json:"gate"`
	// ExpectedStart is when the wave is expected to start; null when it has started or
	// depends on an approval.
	ExpectedStart *time.Time `json:"expected_start"`
}

// Event is one line of the audit history (history.Event).
type Event struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Kind is one of history.Kinds: planned, refused, started, step, call, ….
	Kind string `json:"kind"`
	// RolloutID is null for an event of no rollout (a WorkSpace's).
	RolloutID   *int64 `json:"rollout_id"`
	Account     string `json:"account"`
	Region      string `json:"region"`
	Fleet       string `json:"fleet"`
	WorkspaceID string `json:"workspace_id"`
	State       string `json:"state"`
	Call        string `json:"call"`
	Result      string `json:"result"`
	Reason      string `json:"reason"`
	Error       string `json:"error"`
}

// RolloutList answers GET /api/v1/rollouts.
type RolloutList struct {
	Rollouts []Rollout `json:"rollouts"`
}

// RolloutDetail answers GET /api/v1/rollouts/{id} and the requests on a rollout: the rollout
// as committed, its waves, and its history (the latest MaxEvents events, oldest first).
type RolloutDetail struct {
	Rollout Rollout `json:"rollout"`
	Waves   []Wave  `json:"waves"`
	Events  []Event `json:"events"`
}

// Fleet is an AppStream fleet as AWS reports it now, with the rollout holding it.
type Fleet struct {
	// Account and Region are the fleet's target's ("" from a Server without TargetFleets).
	Account  string `json:"account"`
	Region   string `json:"region"`
	Name     string `json:"name"`
	ARN      string `json:"arn"`
	Type     string `json:"type"`
	State    string `json:"state"`
	Platform string `json:"platform"`
	Image    Image  `json:"image"`
	Capacity struct {
		Desired   int32 `json:"desired"`
		Running   int32 `json:"running"`
		InUse     int32 `json:"in_use"`
		Available int32 `json:"available"`
	} `json:"capacity"`
	// ScalableTarget is the fleet's Application Auto Scaling target (null when it has none).
	ScalableTarget *Bounds `json:"scalable_target"`
	// ScalingSuspended is the target's SuspendedState (null when it has none): a drained fleet
	// has all three set until its restore.
	ScalingSuspended *Suspended `json:"scaling_suspended"`
	// Errors are the fleet's FleetErrors, as "CODE: message".
	Errors []string `json:"errors"`
	// Rollout is the active rollout with an unfinished step on this fleet (null: none).
	Rollout *FleetRollout `json:"rollout"`
}

// Suspended is a scalable target's SuspendedState.
type Suspended struct {
	DynamicScaleIn  bool `json:"dynamic_scale_in"`
	DynamicScaleOut bool `json:"dynamic_scale_out"`
	Scheduled       bool `json:"scheduled_scaling"`
}

// Image names an AppStream image.
type Image struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

// FleetRollout is the rollout holding a fleet.
type FleetRollout struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
	// Step is the fleet's step state in it.
	Step string `json:"step"`
}

// FleetList answers GET /api/v1/fleets. Warnings say what could not be read (a fleet's
// scalable target) while the rest could.
type FleetList struct {
	Fleets   []Fleet  `json:"fleets"`
	Warnings []string `json:"warnings"`
}

// SavedCapacity is a fleet's Min/Max that deskpilot holds while the fleet is drained.
type SavedCapacity struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Fleet   string `json:"fleet"`
	Min     int32  `json:"min"`
	Max     int32  `json:"max"`
	// RolloutID is the rollout that saved it (null if unknown).
	RolloutID *int64    `json:"rollout_id"`
	SavedAt   time.Time `json:"saved_at"`
}

// SavedCapacityList answers GET /api/v1/saved-capacity.
type SavedCapacityList struct {
	SavedCapacity []SavedCapacity `json:"saved_capacity"`
}

// Reset is one decision in the WorkSpaces reset history (reset.Record).
type Reset struct {
	At time.Time `json:"at"`
	// Account and Region are the target the WorkSpace is in ("" for a record written before
	// deskpilot kept them and not yet adopted).
	Account     string `json:"account"`
	Region      string `json:"region"`
	WorkspaceID string `json:"workspace_id"`
	UserName    string `json:"user_name"`
	// Mode is rebuild or restore.
	Mode string `json:"mode"`
	// Outcome is logoff (the grace began), reset, cancelled, skipped or failed.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

// ResetList answers GET /api/v1/resets: the history from Since on, oldest first, at most
// MaxResets records (Truncated says there are more).
type ResetList struct {
	Since     time.Time `json:"since"`
	Resets    []Reset   `json:"resets"`
	Truncated bool      `json:"truncated"`
}

// PendingReset is a tracked WorkSpace with something due (reset.Tracked).
type PendingReset struct {
	// Account and Region are the target the WorkSpace is in, as in Reset.
	Account     string `json:"account"`
	Region      string `json:"region"`
	WorkspaceID string `json:"workspace_id"`
	UserName    string `json:"user_name"`
	DirectoryID string `json:"directory_id"`
	BundleID    string `json:"bundle_id"`
	Mode        string `json:"mode"`
	// Phase is grace (the reset is due at DueAt unless the user comes back), resetting or
	// inflight.
	Phase string `json:"phase"`
	// LastState is the connection state seen at the latest poll.
	LastState      string     `json:"last_state"`
	DisconnectedAt *time.Time `json:"disconnected_at"`
	DueAt          *time.Time `json:"due_at"`
	ResetStartedAt *time.Time `json:"reset_started_at"`
	Attempts       int        `json:"attempts"`
	// Waiting says what a due reset waits for that takes hours ("" when nothing): a snapshot
	// newer than the logoff, or the WorkSpace's first snapshot.
	Waiting string `json:"waiting"`
}

// PendingResetList answers GET /api/v1/resets/pending, soonest due first.
type PendingResetList struct {
	Pending []PendingReset `json:"pending"`
}

// Readiness answers GET /readyz.
type Readiness struct {
	Ready  bool             `json:"ready"`
	Checks []ReadinessCheck `json:"checks"`
	// Leader says who leads, when several replicas share a PostgreSQL store; absent otherwise.
	Leader *LeaderStatus `json:"leader,omitempty"`
	// Targets are the accounts and regions served, when there are several (targets in the
	// config); absent otherwise.
	Targets []TargetStatus `json:"targets,omitempty"`
}

// LeaderStatus is what a replica knows of the leader lease.
type LeaderStatus struct {
	// Self is this replica's name in the lease; Leading whether it is the one acting.
	Self    string `json:"self"`
	Leading bool   `json:"leading"`
	// Leader is the holder last seen ("" when none was), Epoch its lease's epoch and Expires
	// when that lease runs out unless renewed (the database's clock).
	Leader  string    `json:"leader"`
	Epoch   int64     `json:"epoch"`
	Expires time.Time `json:"expires"`
}

// ReadinessCheck is one of the things /readyz looks at.
type ReadinessCheck struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// PlanRequest asks POST /api/v1/plan what tagging an image would do. Its fields are the tags
// of the protocol: Fleets is the FleetName value (fleet names separated by "/", or
// "prefix:NAME-START"), Canary the Canary value, Waves the Waves value (0: no tag), Approval
// the Approval value ("Manual", or "" for none).
type PlanRequest struct {
	Image            string `json:"image"`
	Fleets           string `json:"fleets"`
	ScaleImmediately bool   `json:"scale_immediately"`
	Canary           string `json:"canary"`
	Waves            int    `json:"waves"`
	Approval         string `json:"approval"`
	// DrainMode is the image's Drain tag: none, scale-to-zero, sessions or deadline ("" for
	// no tag).
	DrainMode string `json:"drain_mode"`
	// Account and Region say which target's image and fleets to plan with (both, or neither
	// for the first target).
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
}

// PlanResult is what tagging the image would do, computed by the same planning as the scan,
// with nothing changed: the steps with their window openings, the waves, and the rollouts it
// would supersede; or the refusal with every reason.
type PlanResult struct {
	// Account and Region are the target planned in.
	Account string    `json:"account"`
	Region  string    `json:"region"`
	Image   PlanImage `json:"image"`
	// Tags are the image tags that make this request, with the daemon's tag keys.
	Tags map[string]string `json:"tags"`
	// Refused says the request would be refused; Reasons say why.
	Refused bool     `json:"refused"`
	Reasons []string `json:"reasons"`
	// Start is the earliest window opening of the first wave (null when refused).
	Start *time.Time `json:"start"`
	Steps []PlanStep `json:"steps"`
	Waves []Wave     `json:"waves"`
	// Supersedes are the active rollouts whose waiting steps on these fleets would be
	// cancelled (the newest tag wins).
	Supersedes []int64 `json:"supersedes"`
	// Notes are other things worth knowing (the image is not AVAILABLE yet, it has a
	// rollout running).
	Notes []string `json:"notes"`
}

// PlanImage is the image of a plan as AWS reports it now.
type PlanImage struct {
	Name  string `json:"name"`
	ARN   string `json:"arn"`
	State string `json:"state"`
}

// PlanStep is one fleet of a plan: the window opening it would start in, in UTC and in the
// zone of the fleet's window.
type PlanStep struct {
	Fleet       string    `json:"fleet"`
	Wave        int       `json:"wave"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Zone is the IANA zone of the fleet's window; WindowStartLocal and WindowEndLocal the
	// opening in it (RFC 3339 with the zone's offset).
	Zone             string `json:"zone"`
	WindowStartLocal string `json:"window_start_local"`
	WindowEndLocal   string `json:"window_end_local"`
	// Drain says the fleet would be scaled to 0/0 after the update: the request has
	// scale_immediately and the fleet is RUNNING with a scalable target now (decided again
	// when the step starts).
	Drain bool `json:"drain"`
	// DrainMode is the fleet's drain mode (its Drain tag, the image's, ScaleImmediately, or
	// rollouts.drain.mode) and WhatUsersSee what it means for the fleet's users.
	DrainMode    string `json:"drain_mode"`
	WhatUsersSee string `json:"what_users_see"`
	// ScheduledInWindow are the fleet's scheduled actions due in its window: suspended while
	// it drains, and applied at the restore.
	ScheduledInWindow []string `json:"scheduled_in_window"`
}

// ts is t in UTC, nil for the zero time.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func id(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// nonNil returns s, or an empty slice for nil: lists are [] on the wire, never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// FromRollout converts a rollout with its steps.
func FromRollout(r rollout.Rollout) Rollout {
	out := Rollout{
		ID: r.ID, Account: r.Account, Region: r.Region, ImageName: r.ImageName, ImageARN: r.ImageARN,
		FleetTag: r.FleetTag, ScaleImmediately: r.ScaleImmediately, State: string(r.State), Active: r.State.Active(),
		Reason: r.Reason, Start: ts(r.Start), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Canary: r.Canary, WaveSize: r.WaveSize, Approval: r.Approval, Waves: r.Waves, Wave: r.Wave,
		Gate: string(r.Gate), GateSince: ts(r.GateSince), WaveAt: ts(r.WaveAt), NextAt: ts(r.NextAt),
		Approved: r.Approved, ApprovedBy: r.ApprovedBy, Checks: r.Checks,
		Steps: make([]Step, 0, len(r.Steps)),
	}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, FromStep(s))
	}
	return out
}

// FromRollouts converts rollouts in their order.
func FromRollouts(rs []rollout.Rollout) []Rollout {
	out := make([]Rollout, 0, len(rs))
	for _, r := range rs {
		out = append(out, FromRollout(r))
	}
	return out
}

// FromStep converts a step.
func FromStep(s rollout.Step) Step {
	out := Step{
		Fleet: s.Fleet, State: string(s.State), Wave: max(1, s.Wave),
		WindowStart: ts(s.WindowStart), WindowEnd: ts(s.WindowEnd), NextAt: ts(s.NextAt),
		Attempts: s.Attempts, Drain: s.Drain,
		DrainStartedAt: ts(s.DrainStartedAt), StartedAt: ts(s.StartedAt), FinishedAt: ts(s.FinishedAt),
		EscalatedAt: ts(s.EscalatedAt), RemindedAt: ts(s.RemindedAt),
		Message: s.Message, PreviousImageARN: s.PreviousImageARN, RollingBack: s.RollingBack,
	}
	if s.Drain && (s.SavedMin != 0 || s.SavedMax != 0) {
		out.SavedCapacity = &Bounds{Min: s.SavedMin, Max: s.SavedMax}
	}
	return out
}

// FromWaves converts a rollout's plan of waves.
func FromWaves(ws []rollout.WavePlan) []Wave {
	out := make([]Wave, 0, len(ws))
	for _, w := range ws {
		out = append(out, Wave{Wave: w.Wave, Canary: w.Canary, Fleets: nonNil(slices.Clone(w.Fleets)),
			State: w.State, Gate: w.Gate, ExpectedStart: ts(w.ExpectedStart)})
	}
	return out
}

// FromEvents converts history events in their order.
func FromEvents(es []history.Event) []Event {
	out := make([]Event, 0, len(es))
	for _, e := range es {
		out = append(out, Event{ID: e.ID, At: e.At.UTC(), Kind: string(e.Kind), RolloutID: id(e.RolloutID),
			Account: e.Account, Region: e.Region, Fleet: e.Fleet, WorkspaceID: e.WorkspaceID, State: e.State,
			Call: e.Call, Result: e.Result, Reason: e.Reason, Error: e.Error})
	}
	return out
}

// FromSavedCapacities converts saved capacities in their order.
func FromSavedCapacities(cs []rollout.SavedCapacity) []SavedCapacity {
	out := make([]SavedCapacity, 0, len(cs))
	for _, c := range cs {
		out = append(out, SavedCapacity{Account: c.Account, Region: c.Region, Fleet: c.Fleet, Min: c.Min, Max: c.Max,
			RolloutID: id(c.RolloutID), SavedAt: c.SavedAt.UTC()})
	}
	return out
}

// FromRecords converts reset records in their order.
func FromRecords(rs []reset.Record) []Reset {
	out := make([]Reset, 0, len(rs))
	for _, r := range rs {
		out = append(out, Reset{At: r.At.UTC(), Account: r.Account, Region: r.Region, WorkspaceID: r.WorkspaceID, UserName: r.UserName, Mode: string(r.Mode),
			Outcome: r.Outcome, Reason: r.Reason})
	}
	return out
}

// Pending returns the tracked WorkSpaces past their idle phase (in their grace, or being
// reset), of every target, soonest due first, then by id, then by account and region.
func Pending(tracked map[string]reset.Tracked) []PendingReset {
	out := []PendingReset{}
	for _, t := range tracked {
		if t.Phase == reset.Idle || t.Phase == "" {
			continue
		}
		out = append(out, PendingReset{Account: t.Account, Region: t.Region, WorkspaceID: t.ID, UserName: t.UserName, DirectoryID: t.DirectoryID, BundleID: t.BundleID,
			Mode: string(t.Mode), Phase: string(t.Phase), LastState: t.LastState, DisconnectedAt: ts(t.DisconnectedAt),
			DueAt: ts(t.DueAt), ResetStartedAt: ts(t.ResetStartedAt), Attempts: t.Attempts, Waiting: t.Waiting})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].DueAt, out[j].DueAt
		switch {
		case a != nil && b != nil && !a.Equal(*b):
			return a.Before(*b)
		case (a == nil) != (b == nil):
			return a != nil // a due time before none
		}
		if out[i].WorkspaceID != out[j].WorkspaceID {
			return out[i].WorkspaceID < out[j].WorkspaceID
		}
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Region < out[j].Region
	})
	return out
}

// FromFleets converts fleets, sorted by name, with their scalable targets (by fleet name) and
// the active rollouts, each fleet with the one that holds it: the rollout whose step on it
// has started, else the oldest with a step waiting for it.
func FromFleets(fleets map[string]rollout.Fleet, targets map[string]rollout.Target, active []rollout.Rollout) []Fleet {
	type holder struct {
		r     rollout.Rollout
		step  rollout.StepState
		start bool
	}
	held := map[string]holder{}
	for _, r := range active { // oldest first
		for _, s := range r.Steps {
			if s.State.Final() {
				continue
			}
			h, ok := held[s.Fleet]
			if !ok || (!h.start && s.State.Started()) {
				held[s.Fleet] = holder{r, s.State, s.State.Started()}
			}
		}
	}
	names := slices.Sorted(maps.Keys(fleets))
	out := make([]Fleet, 0, len(names))
	for _, n := range names {
		f := fleets[n]
		dto := Fleet{Name: f.Name, ARN: f.ARN, Type: f.Type, State: f.State, Platform: f.Platform,
			Image: Image{Name: ImageNameOf(f.ImageARN), ARN: f.ImageARN}, Errors: nonNil(slices.Clone(f.Errors))}
		if dto.Name == "" {
			dto.Name = n
		}
		dto.Capacity.Desired, dto.Capacity.Running, dto.Capacity.InUse, dto.Capacity.Available = f.Desired, f.Running, f.InUse, f.Available
		if c, ok := targets[n]; ok {
			dto.ScalableTarget = &Bounds{Min: c.Min, Max: c.Max}
			dto.ScalingSuspended = &Suspended{DynamicScaleIn: c.Suspended.DynamicIn, DynamicScaleOut: c.Suspended.DynamicOut, Scheduled: c.Suspended.Scheduled}
		}
		if h, ok := held[n]; ok {
			dto.Rollout = &FleetRollout{ID: h.r.ID, State: string(h.r.State), Step: string(h.step)}
		}
		out = append(out, dto)
	}
	return out
}

// ImageNameOf returns the name in an AppStream image ARN (arn:aws:appstream:…:image/NAME),
// or "" when arn is not one.
func ImageNameOf(arn string) string {
	_, name, ok := strings.Cut(arn, ":image/")
	if !ok {
		return ""
	}
	return name
}
