package reset

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
)

// API is the part of WorkSpaces the controller uses.
type API interface {
	// List returns every WorkSpace.
	List(ctx context.Context) ([]WorkSpace, error)
	// Get returns the named WorkSpaces that exist, by id.
	Get(ctx context.Context, ids []string) (map[string]WorkSpace, error)
	// Tags returns a WorkSpace's tags.
	Tags(ctx context.Context, id string) (map[string]string, error)
	// Connections returns connection states by id: of the named WorkSpaces, or of all when ids
	// is nil.
	Connections(ctx context.Context, ids []string) (map[string]Connection, error)
	// Snapshots returns the times of a WorkSpace's latest snapshots.
	Snapshots(ctx context.Context, id string) (Snapshots, error)
	// SetMaintenance puts a WorkSpace in ADMIN_MAINTENANCE (on), where no user can log in, or
	// back to AVAILABLE.
	SetMaintenance(ctx context.Context, id string, on bool) error
	Rebuild(ctx context.Context, id string) error
	Restore(ctx context.Context, id string) error
}

// Selection decides which WorkSpaces are reset, and how.
type Selection struct {
	// TagKey is the opt-in tag; its value (rebuild, restore, off) wins over the selectors.
	TagKey string
	// Mode is how WorkSpaces chosen by the selectors are reset.
	Mode Mode
	// Directories, Bundles and Users (shell patterns) choose WorkSpaces without tags. With all
	// empty they choose none; otherwise a WorkSpace must match every non-empty list.
	Directories, Bundles, Users []string
}

// ModeFor returns how a WorkSpace is reset (Off: not at all), and why, for the record.
func (s Selection) ModeFor(ws WorkSpace, tags map[string]string) (Mode, string) {
	if v, ok := tags[s.TagKey]; ok {
		switch m := Mode(strings.ToLower(strings.TrimSpace(v))); m {
		case Rebuild, Restore:
			return m, "tag " + s.TagKey + "=" + v
		case Off:
			return Off, "opted out by tag " + s.TagKey + "=" + v
		}
		return Off, fmt.Sprintf("tag %s=%q is not rebuild, restore or off", s.TagKey, v)
	}
	if len(s.Directories) == 0 && len(s.Bundles) == 0 && len(s.Users) == 0 {
		return Off, "not tagged"
	}
	if len(s.Directories) > 0 && !slices.Contains(s.Directories, ws.DirectoryID) {
		return Off, "directory not selected"
	}
	if len(s.Bundles) > 0 && !slices.Contains(s.Bundles, ws.BundleID) {
		return Off, "bundle not selected"
	}
	if len(s.Users) > 0 && !slices.ContainsFunc(s.Users, func(p string) bool { ok, _ := path.Match(p, ws.UserName); return ok }) {
		return Off, "user not selected"
	}
	return s.Mode, "selected by the config's selectors"
}

const (
	connConnected    = "CONNECTED"
	connDisconnected = "DISCONNECTED"
	connUnknown      = "UNKNOWN"
)

// Baseline starts tracking a WorkSpace: sessions that ended before deskpilot first saw it are
// not its business, so they count as handled.
func Baseline(ws WorkSpace, c Connection) Tracked {
	t := Tracked{ID: ws.ID, Mode: Off, DirectoryID: ws.DirectoryID, UserName: ws.UserName, BundleID: ws.BundleID, Phase: Idle,
		LastState: c.State, LastConnected: c.LastConnected}
	if c.State != connConnected {
		t.HandledLogon = c.LastConnected
	}
	return t
}

// Observe folds one poll's connection status into a tracked WorkSpace; now is when the status
// was observed (read after the answer arrived). A logoff is a CONNECTED → not-connected change,
// or a LastKnownUserConnectionTimestamp newer than the last handled session while not connected
// (a session that began and ended between two polls). A logoff starts the grace period; the
// user coming back ends it.
func Observe(t Tracked, c Connection, now time.Time, grace time.Duration) (Tracked, *Record) {
	prevState := t.LastState
	t.LastState = c.State
	if !c.LastConnected.IsZero() {
		t.LastConnected = c.LastConnected
	}
	if t.Mode == Off || t.Mode == "" || prevState == "" {
		// Not opted in, or seen for the first time: sessions that already ended are handled.
		if c.State != connConnected {
			t.HandledLogon = t.LastConnected
		}
		return t, nil
	}
	switch {
	case c.State == connConnected && t.Phase == Grace:
		why := "the user reconnected within the grace period"
		if t.Waiting != "" {
			why = "the user reconnected while the reset waited (" + t.Waiting + ")"
		}
		t.Phase, t.DueAt, t.Waiting = Idle, time.Time{}, ""
		return t, record(t, now, history.Cancelled, why)
	case t.Phase == Grace && t.LastConnected.After(t.PendingLogon):
		// The user came back and left again between two polls: the grace starts over from
		// this logoff, so a reset never follows a session's end by less than the grace.
		at := loggedOffAt(now, t.LastConnected)
		t.DisconnectedAt, t.DueAt, t.PendingLogon, t.Waiting = at, at.Add(grace), t.LastConnected, ""
		return t, record(t, at, history.Logoff, "another session ended during the grace period; reset due at "+t.DueAt.UTC().Format(time.RFC3339))
	case c.State == connConnected || t.Phase != Idle:
		return t, nil
	}
	newSession := t.LastConnected.After(t.HandledLogon)
	if prevState != connConnected && !newSession {
		return t, nil
	}
	at := loggedOffAt(now, t.LastConnected)
	t.Phase, t.DisconnectedAt, t.DueAt, t.PendingLogon, t.Attempts = Grace, at, at.Add(grace), t.LastConnected, 0
	return t, record(t, at, history.Logoff, "the user logged off or disconnected; reset due at "+t.DueAt.UTC().Format(time.RFC3339)+" unless they come back")
}

// loggedOffAt is when a logoff is taken to have happened: when it was observed, or when the
// session that ended began (by AWS's clock) if that is later, since a logoff cannot precede its
// session. Never earlier than the logoff, so the grace is never cut short.
func loggedOffAt(observed, logon time.Time) time.Time {
	if logon.After(observed) {
		return logon
	}
	return observed
}

// record is a decision about t, made at at.
func record(t Tracked, at time.Time, outcome history.Kind, why string) *Record {
	return &Record{At: at, Account: t.Account, Region: t.Region, WorkspaceID: t.ID, UserName: t.UserName, Mode: t.Mode, Outcome: string(outcome), Reason: why}
}

// Check is what the controller read right before a due reset.
type Check struct {
	// Now is when Conn was read (the clock read after its answer arrived).
	Now   time.Time
	WS    WorkSpace
	Found bool
	Conn  Connection
	// Mode is the WorkSpace's mode from a fresh read of its tag (an opt-out counts at once).
	Mode Mode
	// QuietUntil, when set, is the end of the quiet hours the WorkSpace is in.
	QuietUntil time.Time
	// Busy says why no reset may start now (concurrency cap, rate limit); empty when free.
	Busy string
	// Grace is the grace period, restarted when a newer session is found.
	Grace time.Duration
	// SnapshotsRead says Snapshot was read; Snapshot is the time of the latest snapshot the
	// reset would bring back (of the user volume for a rebuild, of both volumes for a
	// restore), zero when there is none. Without a read Decide never acts.
	SnapshotsRead bool
	Snapshot      time.Time
	// RequireSnapshot makes a reset wait for a snapshot newer than the logoff, for at most
	// MaxSnapshotWait after it (which also bounds the wait for a first snapshot).
	RequireSnapshot bool
	MaxSnapshotWait time.Duration
}

// SnapshotInterval is how often WorkSpaces takes a WorkSpace's automatic snapshots, and how long
// after its creation it takes the first; before that a WorkSpace cannot be rebuilt or restored.
const SnapshotInterval = 12 * time.Hour

// snapshotRecheck is how long a reset waiting for a snapshot waits before it looks again when
// it cannot tell when the next one is due (none yet, or the expected one is late).
const snapshotRecheck = 10 * time.Minute

// MaintenanceFrom reports whether ModifyWorkspaceState accepts ADMIN_MAINTENANCE for a WorkSpace
// in state: only AVAILABLE or STOPPED ones. Others (ERROR, UNHEALTHY, REBOOTING), which can
// still be rebuilt, are reset with only the last re-check before the call.
func MaintenanceFrom(state string) bool { return state == "AVAILABLE" || state == "STOPPED" }

// Release settles a WorkSpace deskpilot may have left in ADMIN_MAINTENANCE (t.Maintenance).
// When the WorkSpace is in that state, call says to put it back to AVAILABLE, and next is what
// to write once that succeeded: a reset in progress (Resetting) did not happen, since WorkSpaces
// refuses to rebuild or restore in ADMIN_MAINTENANCE and deskpilot calls only after putting the
// WorkSpace back, so it is due again now, every check to be made anew. In any other state (or
// gone) there is nothing to put back and the mark is dropped at once (call false). An admin's
// own ADMIN_MAINTENANCE, without the mark, is never touched.
func Release(t Tracked, ws WorkSpace, found bool, now time.Time) (next Tracked, call bool) {
	if !t.Maintenance {
		return t, false
	}
	n := t
	n.Maintenance = false
	if !found || ws.State != "ADMIN_MAINTENANCE" {
		return n, false
	}
	if n.Phase == Resetting {
		n.Phase, n.DueAt = Grace, now
	}
	return n, true
}

// States in which AWS accepts each reset (the model's documentation).
var (
	rebuildStates = []string{"AVAILABLE", "ERROR", "UNHEALTHY", "STOPPED", "REBOOTING"}
	restoreStates = []string{"AVAILABLE", "ERROR", "UNHEALTHY", "STOPPED"}
	// goneStates never come back to a state that can be reset.
	goneStates = []string{"TERMINATING", "TERMINATED", "SUSPENDED"}
	// resettingStates mean someone (AWS, an admin) is already rebuilding or restoring it.
	resettingStates = []string{"REBUILDING", "RESTORING"}
)

// Allowed reports whether AWS accepts a reset in mode m in the given WorkSpace state.
func Allowed(m Mode, state string) bool {
	if m == Restore {
		return slices.Contains(restoreStates, state)
	}
	return slices.Contains(rebuildStates, state)
}

// Decide settles a WorkSpace whose grace period is over: reset it now (act), wait, or drop the
// reset and say why. It never acts while the user is connected. The controller decides twice:
// once with the pass's reads, and again, after writing the intent, with the connection state of
// that WorkSpace read once more right before the call; only if both say act is the call made.
func Decide(t Tracked, ch Check, poll time.Duration) (next Tracked, act bool, rec *Record) {
	done := func(outcome history.Kind, why string) (Tracked, bool, *Record) {
		n := t
		n.Phase, n.DueAt, n.HandledLogon, n.Waiting = Idle, time.Time{}, t.PendingLogon, ""
		return n, false, record(t, ch.Now, outcome, why)
	}
	wait := func(until time.Time) (Tracked, bool, *Record) {
		n := t
		n.DueAt, n.Waiting = until, ""
		return n, false, nil
	}
	// waitFor is a long wait, whose reason is kept.
	waitFor := func(until time.Time, why string) (Tracked, bool, *Record) {
		n := t
		n.DueAt, n.Waiting = until, why
		return n, false, nil
	}
	logoff := t.DisconnectedAt.UTC().Format(time.RFC3339)
	snapshotDeadline := t.DisconnectedAt.Add(ch.MaxSnapshotWait)
	switch {
	case !ch.Found:
		return done(history.Skipped, "the WorkSpace no longer exists")
	case ch.Conn.State == connConnected:
		// Back to tracking: the end of this session is a logoff like any other.
		n := t
		n.Phase, n.DueAt, n.Waiting = Idle, time.Time{}, ""
		n.LastState = connConnected
		return n, false, record(t, ch.Now, history.Cancelled, "the user is connected again")
	case ch.Conn.LastConnected.After(t.PendingLogon):
		// A session began and ended since the logoff being handled: start the grace over.
		n := t
		at := loggedOffAt(ch.Now, ch.Conn.LastConnected)
		n.PendingLogon, n.LastConnected, n.DisconnectedAt, n.DueAt, n.Waiting = ch.Conn.LastConnected, ch.Conn.LastConnected, at, at.Add(ch.Grace), ""
		return n, false, record(t, at, history.Logoff, "another session ended during the grace period; reset due at "+n.DueAt.UTC().Format(time.RFC3339))
	case ch.Conn.State != connDisconnected && !(ch.Conn.State == connUnknown && ch.WS.State == "STOPPED"):
		// UNKNOWN on a running WorkSpace (or no answer) says nothing about the user: wait
		// until the state is known rather than risk wiping a working desktop.
		return wait(ch.Now.Add(poll))
	case ch.Mode == Off:
		return done(history.Skipped, "the WorkSpace is no longer opted in")
	case slices.Contains(goneStates, ch.WS.State):
		return done(history.Skipped, "the WorkSpace is "+ch.WS.State)
	case slices.Contains(resettingStates, ch.WS.State):
		return done(history.Skipped, "the WorkSpace is already "+ch.WS.State)
	case !ch.QuietUntil.IsZero():
		return wait(ch.QuietUntil)
	case !Allowed(ch.Mode, ch.WS.State):
		// PENDING, STARTING, STOPPING, MAINTENANCE, UPDATING… pass; try again shortly.
		return wait(ch.Now.Add(poll))
	case !ch.SnapshotsRead:
		// The controller reads the snapshots before any reset; without them, do not act.
		return wait(ch.Now.Add(poll))
	case ch.Snapshot.IsZero() && ch.MaxSnapshotWait > 0 && !ch.Now.Before(snapshotDeadline):
		return done(history.Skipped, fmt.Sprintf("the WorkSpace still had no snapshot %s after the logoff at %s (max_snapshot_wait); WorkSpaces cannot %s it without one", ch.MaxSnapshotWait, logoff, ch.Mode))
	case ch.Snapshot.IsZero():
		// A WorkSpace in its first 12 hours: AWS refuses to rebuild or restore it.
		return waitFor(capAt(ch.Now.Add(snapshotRecheck), snapshotDeadline, ch.MaxSnapshotWait),
			fmt.Sprintf("the WorkSpace has no snapshot yet: WorkSpaces takes the first 12 hours after a WorkSpace is created and refuses to %s it until then", ch.Mode))
	case ch.RequireSnapshot && !ch.Snapshot.After(t.DisconnectedAt) && !ch.Now.Before(snapshotDeadline):
		return done(history.Skipped, fmt.Sprintf("no snapshot newer than the logoff at %s within %s (max_snapshot_wait; the latest is of %s): not reset, so that the session's files are not lost",
			logoff, ch.MaxSnapshotWait, ch.Snapshot.UTC().Format(time.RFC3339)))
	case ch.RequireSnapshot && !ch.Snapshot.After(t.DisconnectedAt):
		// The next automatic snapshot is due SnapshotInterval after the latest; look then, or
		// again shortly if it is late.
		next := ch.Snapshot.Add(SnapshotInterval)
		if !next.After(ch.Now) {
			next = ch.Now.Add(snapshotRecheck)
		}
		return waitFor(capAt(next, snapshotDeadline, ch.MaxSnapshotWait),
			fmt.Sprintf("waiting for a snapshot newer than the logoff at %s (require_snapshot_after_logoff; the latest is of %s), until %s at the latest",
				logoff, ch.Snapshot.UTC().Format(time.RFC3339), snapshotDeadline.UTC().Format(time.RFC3339)))
	case ch.Busy != "":
		return wait(ch.Now.Add(min(poll, 10*time.Second)))
	}
	n := t
	n.Mode, n.Phase, n.IPBefore, n.ResetStartedAt, n.Waiting = ch.Mode, Resetting, ch.WS.IPAddress, ch.Now, ""
	return n, true, nil
}

// capAt returns t, or deadline if that is earlier and a limit applies.
func capAt(t, deadline time.Time, limit time.Duration) time.Time {
	if limit > 0 && deadline.Before(t) {
		return deadline
	}
	return t
}

// Follow tracks a WorkSpace whose reset AWS accepted (InFlight): c is its connection status,
// read before ws. The reset is over when the WorkSpace is gone or no longer rebuilding,
// restoring or pending. Until then nobody can connect to it, so a session c shows began before
// the reset, which ended it: that session counts as handled and its end is never a new logoff.
// (A user who connected in the instant between the last check and the call is one.)
func Follow(t Tracked, c Connection, ws WorkSpace, found bool) Tracked {
	n := t
	if !found || !slices.Contains(resettingStates, ws.State) && ws.State != "PENDING" {
		n.Phase = Idle
		return n
	}
	if c.LastConnected.After(n.HandledLogon) {
		n.HandledLogon = c.LastConnected
	}
	return n
}

// Recover settles a WorkSpace found in Resetting after a restart: the reset call may or may not
// have reached AWS. A rebuild or restore in progress, or (for a rebuild) a new IP address, says
// it did. A restore keeps the IP address, so once it has finished nothing tells; it is not
// repeated but reported as uncertain. Otherwise the reset goes back to being due now, so that
// every check (the user connected? still opted in? quiet hours? limits?) is made again before a
// new call. Recover never calls AWS itself.
func Recover(t Tracked, ws WorkSpace, found bool, now time.Time) (Tracked, *Record) {
	rec := func(outcome history.Kind, why string) *Record { return record(t, now, outcome, why) }
	n := t
	switch {
	case !found:
		n.Phase, n.HandledLogon = Idle, t.PendingLogon
		return n, rec(history.Skipped, "the WorkSpace no longer exists")
	case slices.Contains(resettingStates, ws.State) || (t.Mode != Restore && t.IPBefore != "" && ws.IPAddress != "" && ws.IPAddress != t.IPBefore):
		n.Phase, n.HandledLogon = InFlight, t.PendingLogon
		return n, rec(history.Reset, "confirmed after a restart (the WorkSpace was "+ws.State+")")
	case t.Mode == Restore:
		n.Phase, n.HandledLogon = Idle, t.PendingLogon
		return n, rec(history.Failed, "deskpilot stopped while restoring; a finished restore cannot be told from none, so it is not repeated: check the WorkSpace")
	}
	n.Phase, n.DueAt = Grace, now
	return n, nil
}
