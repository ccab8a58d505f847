// Package reset makes WorkSpaces non-persistent: when the user of an opted-in WorkSpace logs off
// or disconnects, the WorkSpace is rebuilt (or restored) so the next session starts clean. It
// needs no per-WorkSpace setup (it polls connection states), never resets a WorkSpace whose user
// came back within the grace period or is connected when it acts, resets once per logoff across
// restarts, and records every decision.
package reset

import (
	"context"
	"time"

	"github.com/deskpilot/deskpilot/internal/notice"
)

// Mode is how a WorkSpace is reset.
type Mode string

// Modes, as written in the opt-in tag.
const (
	// Off: not reset (also the value that opts a WorkSpace out of a selector).
	Off Mode = "off"
	// Rebuild: RebuildWorkspaces. The root volume comes back from the bundle's image; the user
	// volume from its latest snapshot (up to 12 hours old).
	Rebuild Mode = "rebuild"
	// Restore: RestoreWorkspace. Both volumes roll back to the latest snapshots.
	Restore Mode = "restore"
)

// Phase is where a tracked WorkSpace is.
type Phase string

// Phases.
const (
	// Idle: nothing to do until the user's next session ends.
	Idle Phase = "idle"
	// Grace: a logoff was seen; the reset is due at DueAt unless the user comes back.
	Grace Phase = "grace"
	// Resetting: the reset is being made: the WorkSpace is put in ADMIN_MAINTENANCE, checked a
	// last time, put back to AVAILABLE and reset (written before the first call, so that after a
	// crash the WorkSpace is checked before anything is repeated).
	Resetting Phase = "resetting"
	// InFlight: AWS accepted the reset; waiting for the WorkSpace to be AVAILABLE again.
	InFlight Phase = "inflight"
)

// WorkSpace is what the controller needs to know about a WorkSpace.
type WorkSpace struct {
	ID, DirectoryID, UserName, BundleID string
	State, RunningMode, IPAddress       string
}

// Snapshots are the times of a WorkSpace's latest snapshots (DescribeWorkspaceSnapshots), zero
// when it has none: Rebuild of the user volume, which a rebuild brings back; Restore of both
// volumes, which a restore brings back. WorkSpaces takes them every 12 hours, the first 12
// hours after the WorkSpace is created.
type Snapshots struct {
	Rebuild, Restore time.Time
}

// Connection is a WorkSpace's connection status.
type Connection struct {
	ID string
	// State is CONNECTED, DISCONNECTED or UNKNOWN (UNKNOWN while the WorkSpace is stopped).
	State string
	// LastConnected is LastKnownUserConnectionTimestamp: when a user last connected (zero if
	// nobody ever did).
	LastConnected time.Time
}

// Tracked is what deskpilot remembers about one WorkSpace, in the store.
type Tracked struct {
	ID string
	// Account and Region are the target (AWS account and region) the WorkSpace is in: a
	// WorkSpace is tracked by (Account, Region, ID). Both are empty for a controller whose
	// Config names no target.
	Account, Region                 string
	Mode                            Mode
	DirectoryID, UserName, BundleID string
	// LastState and LastConnected are the connection status seen at the last poll.
	LastState     string
	LastConnected time.Time
	// HandledLogon is the LastConnected of the last session whose end was handled (reset,
	// skipped or cancelled): one reset per logoff.
	HandledLogon time.Time
	// PendingLogon is the LastConnected of the session whose end is being handled.
	PendingLogon   time.Time
	Phase          Phase
	DisconnectedAt time.Time
	DueAt          time.Time
	// IPBefore is the WorkSpace's address when the reset call was made: a rebuild gives it a new
	// one, which tells after a crash whether the call went through.
	IPBefore       string
	ResetStartedAt time.Time
	Attempts       int
	// TagsCheckedAt is when the opt-in tag was last read.
	TagsCheckedAt time.Time
	// Maintenance says deskpilot may have put the WorkSpace in ADMIN_MAINTENANCE and not yet
	// put it back to AVAILABLE. It is written before the call that sets the state, and cleared
	// once the WorkSpace is seen out of that state, so that no crash leaves a WorkSpace in
	// ADMIN_MAINTENANCE for good (see Release).
	Maintenance bool
	// Waiting, while a due reset waits for something that takes hours (a snapshot), says what;
	// empty otherwise.
	Waiting string
}

// Record is one decision in the reset history.
type Record struct {
	At time.Time
	// Account and Region are the target of the WorkSpace, as in Tracked.
	Account, Region string
	WorkspaceID     string
	UserName        string
	Mode            Mode
	// Outcome is the kind of decision, a history.Kind: logoff (the grace began), reset,
	// cancelled, skipped or failed.
	Outcome string
	Reason  string
}

// Delivery is a notice for one sender (see rollout.Delivery).
type Delivery struct {
	Sender string
	Notice notice.Notice
}

// Store is the durable state the controller needs. A controller whose Config names a target
// (Account, Region) is given a Store of that target alone (store.Store.Resets): its trackers
// and records, and removals that touch no other target's trackers.
type Store interface {
	// Trackers returns every tracked WorkSpace by id.
	Trackers(ctx context.Context) (map[string]Tracked, error)
	// SaveResets writes trackers (upserted by account, region and ID), deletes trackers (by
	// account, region and ID: the rest of each is ignored), appends records and enqueues
	// deliveries, in one transaction.
	SaveResets(ctx context.Context, save, remove []Tracked, records []Record, deliveries []Delivery) error
	// RecordsBetween returns the history of the period [since, until), oldest first, both bounds
	// taken at the resolution records are stored with: periods that share a bound share no
	// record and together miss none.
	RecordsBetween(ctx context.Context, since, until time.Time) ([]Record, error)
	// Meta and SetMeta keep small named values (the digest watermark, under DigestKey).
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
	// SaveDigest enqueues a digest's deliveries and sets a meta value (its watermark) in one
	// transaction.
	SaveDigest(ctx context.Context, deliveries []Delivery, key, value string) error
}

// legacyDigestKey is the meta key of the digest watermark of a controller without a target,
// and was the only one before targets.
const legacyDigestKey = "workspaces.digest.until"

// DigestKey is the meta key under which the digest watermark of the target (account, region)
// is kept, so that the controllers of several targets sharing a store keep their own. Without
// a target (both empty) it is the key every controller used before targets,
// "workspaces.digest.until"; store.Store.Adopt starts the daemon's own target from it.
func DigestKey(account, region string) string {
	if account == "" && region == "" {
		return legacyDigestKey
	}
	return legacyDigestKey + "/" + account + "/" + region
}
