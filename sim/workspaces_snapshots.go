package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// Snapshots and the maintenance state of WorkSpaces.
//
// AWS takes an automatic snapshot of each WorkSpace's volumes every 12 hours, the first 12
// hours after the WorkSpace is created, and another soon after a rebuild or restore finishes
// (often within 30 minutes). A rebuild brings the user volume back from the latest snapshot; a
// restore brings back both volumes. A WorkSpace without a snapshot, in its first 12 hours,
// cannot be rebuilt or restored.
const (
	snapshotInterval  = 12 * time.Hour
	postResetSnapshot = 30 * time.Minute
	// defaultWorkspaceAge is how long before it is added a WorkSpace given no Age was created:
	// seeds and the control API describe an estate that already runs.
	defaultWorkspaceAge = 24 * time.Hour
)

// Modification states (the model's ModificationStateEnum) and resources
// (ModificationResourceEnum).
const (
	ModificationUpdateInitiated  = "UPDATE_INITIATED"
	ModificationUpdateInProgress = "UPDATE_IN_PROGRESS"
	ModificationUpdateFailed     = "UPDATE_FAILED"
)

var (
	modificationStates    = []string{ModificationUpdateInitiated, ModificationUpdateInProgress, ModificationUpdateFailed}
	modificationResources = []string{"ROOT_VOLUME", "USER_VOLUME", "COMPUTE_TYPE", "PROTOCOL"}
)

// snapshots returns the times of every snapshot taken of w up to now, oldest first.
func (s *Sim) snapshots(w *workspace) []time.Time {
	var out []time.Time
	every := s.scale(snapshotInterval)
	if every > 0 {
		for at := w.born.Add(every); !at.After(s.now); at = at.Add(every) {
			out = append(out, at)
		}
	}
	for _, at := range w.extraSnapshots {
		if !at.After(s.now) {
			out = append(out, at)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// latestSnapshot returns the time of w's latest snapshot, or the zero time if it has none.
func (s *Sim) latestSnapshot(w *workspace) time.Time {
	var latest time.Time
	every := s.scale(snapshotInterval)
	if n := s.now.Sub(w.born) / max(every, 1); every > 0 && n >= 1 {
		latest = w.born.Add(n * every)
	}
	for _, at := range w.extraSnapshots {
		if !at.After(s.now) && at.After(latest) {
			latest = at
		}
	}
	return latest
}

// updateFailed returns a resource whose modification failed, or "".
func (w *workspace) updateFailed() string {
	for _, r := range modificationResources {
		if w.modStates[r] == ModificationUpdateFailed {
			return r
		}
	}
	return ""
}

// rebuildRefusal says why a WorkSpace in a state that allows a rebuild still cannot be rebuilt,
// or returns "": it has no snapshot of its user volume yet (its first 12 hours), or a
// modification of it failed (UPDATE_FAILED) and must be fixed first.
func (s *Sim) rebuildRefusal(w *workspace, action string) string {
	if r := w.updateFailed(); r != "" {
		return fmt.Sprintf("The WorkSpace %s cannot be %s: the modification of its %s failed (UPDATE_FAILED).", w.id, action, r)
	}
	if s.latestSnapshot(w).IsZero() {
		return fmt.Sprintf("The WorkSpace %s cannot be %s yet: it has no snapshot, which WorkSpaces takes in the first 12 hours after creation (at %s).",
			w.id, action, w.born.Add(s.scale(snapshotInterval)).UTC().Format(time.RFC3339))
	}
	return ""
}

// wireSnapshot is the model's Snapshot.
type wireSnapshot struct {
	SnapshotTime *wire.Time `json:"SnapshotTime"`
}

// describeWorkspaceSnapshots lists the latest snapshot of each kind: RebuildSnapshots (the user
// volume) and RestoreSnapshots (both volumes), which the emulator takes together. Like the
// console, which shows the most recent snapshot, it lists only the latest one; a WorkSpace
// without a snapshot has two empty lists.
func (s *Sim) describeWorkspaceSnapshots(body []byte) (any, error) {
	w, err := s.workspaceOf(body)
	if err != nil {
		return nil, err
	}
	list := []wireSnapshot{}
	if at := s.latestSnapshot(w); !at.IsZero() {
		list = append(list, wireSnapshot{wire.TimePtr(at)})
	}
	return map[string]any{"RebuildSnapshots": list, "RestoreSnapshots": list}, nil
}

// Target states of ModifyWorkspaceState (the model's TargetWorkspaceState).
var targetWorkspaceStates = []string{WorkspaceAvailable, WorkspaceAdminMaintenance}

// modifyWorkspaceState sets ADMIN_MAINTENANCE (from AVAILABLE or STOPPED, or again) or back to
// AVAILABLE (from ADMIN_MAINTENANCE, or again). In ADMIN_MAINTENANCE users cannot log in (a
// connected user stays), an AUTO_STOP WorkSpace is not stopped, and reboot, start, stop, rebuild
// and restore are refused, their allowed states not including it. Leaving it, the WorkSpace is
// AVAILABLE, even one that was STOPPED, and an idle AUTO_STOP one starts its countdown.
func (s *Sim) modifyWorkspaceState(body []byte) (any, error) {
	var in struct{ WorkspaceId, WorkspaceState *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validation
	v.required(in.WorkspaceId != nil, "workspaceId")
	v.pattern(in.WorkspaceId, "workspaceId", workspaceIDPattern, workspaceIDRule)
	v.required(in.WorkspaceState != nil, "workspaceState")
	v.enum(in.WorkspaceState, "workspaceState", targetWorkspaceStates...)
	if err := v.err(); err != nil {
		return nil, err
	}
	w, ok := s.workspaces[*in.WorkspaceId]
	if !ok {
		return nil, wire.Errorf("ResourceNotFoundException", "The WorkSpace %s could not be found.", *in.WorkspaceId)
	}
	from := []string{WorkspaceAdminMaintenance, WorkspaceAvailable}
	if *in.WorkspaceState == WorkspaceAdminMaintenance {
		from = append(from, WorkspaceStopped)
	}
	if !slices.Contains(from, w.state) {
		return nil, wire.Errorf("InvalidResourceStateException", "The WorkSpace %s is in state %s; it can be set to %s only from %s.",
			w.id, w.state, *in.WorkspaceState, strings.Join(from, ", "))
	}
	if w.state != *in.WorkspaceState {
		s.setState(w, *in.WorkspaceState)
		s.armAutoStop(w)
	}
	return struct{}{}, nil
}
