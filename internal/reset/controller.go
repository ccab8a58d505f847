package reset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/notice"
	"github.com/deskpilot/deskpilot/internal/window"
)

// Defaults for Config's durations and limits.
const (
	DefaultGrace             = 15 * time.Minute
	DefaultPollInterval      = 60 * time.Second
	DefaultInventoryInterval = 15 * time.Minute
	DefaultDigestInterval    = time.Hour
	DefaultMaxConcurrent     = 10
	DefaultMaxPerMinute      = 30
	// DefaultMaxSnapshotWait is a little more than SnapshotInterval, so that a snapshot always
	// falls inside the wait.
	DefaultMaxSnapshotWait = 13 * time.Hour
	// tagReadsPerPass bounds the DescribeTags calls one inventory pass makes, so a large estate
	// is read over several passes instead of in one burst.
	tagReadsPerPass = 1000
	// maxResetAttempts is how many times a reset call is made for one logoff before it is
	// recorded as failed, when every failure was one that retrying may fix.
	maxResetAttempts = 5
)

// Config is what the controller needs from deskpilot's configuration.
type Config struct {
	// Account and Region are the target (AWS account and region) whose WorkSpaces the
	// controller resets. It keeps, saves and removes only that target's trackers, stamps its
	// records with the target, keeps its own digest watermark (DigestKey) and names the target
	// in its digests' fields. Both empty means no target: the controller takes every tracker its
	// Store holds, as before deskpilot served several targets.
	Account, Region string
	// TargetInSubject ends the digest's subject with the target ("(account A, REGION)"): set
	// when one daemon serves several targets, so that the subject of a single target's digest
	// stays as it always was.
	TargetInSubject   bool
	Selection         Selection
	Grace             time.Duration
	PollInterval      time.Duration
	InventoryInterval time.Duration
	DigestInterval    time.Duration
	MaxConcurrent     int
	MaxPerMinute      int
	// QuietHours, when set, is a window in which no reset starts.
	QuietHours window.Window
	// RequireSnapshotAfterLogoff makes a reset wait until WorkSpaces has taken a snapshot newer
	// than the logoff, so the reset desktop keeps the files of the session that ended; for at
	// most MaxSnapshotWait after the logoff, after which the reset is skipped and recorded.
	// MaxSnapshotWait also bounds the wait of a WorkSpace too young to have any snapshot.
	RequireSnapshotAfterLogoff bool
	MaxSnapshotWait            time.Duration
	Senders                    []string
	// OnOutcome, if set, is told each decision's outcome (a history.Kind), for the metrics.
	OnOutcome func(outcome string)
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.Grace, DefaultGrace)
	set(&c.PollInterval, DefaultPollInterval)
	set(&c.InventoryInterval, DefaultInventoryInterval)
	set(&c.DigestInterval, DefaultDigestInterval)
	set(&c.MaxSnapshotWait, DefaultMaxSnapshotWait)
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxPerMinute <= 0 {
		c.MaxPerMinute = DefaultMaxPerMinute
	}
	if c.Selection.Mode == "" {
		c.Selection.Mode = Rebuild
	}
}

// Counters are the controller's running totals, for metrics.
type Counters struct {
	Polls, Logoffs, Resets, Cancelled, Skipped, Failed, APIErrors atomic.Int64
}

// Controller resets WorkSpaces after logoff. Like the rollout controller it is level-triggered:
// the store holds each WorkSpace's phase and due time, and each pass reads AWS, decides with
// pure functions (Observe, Decide, Recover), acts, and writes.
type Controller struct {
	cfg      Config
	api      API
	store    Store
	now      func() time.Time
	log      *slog.Logger
	Counters Counters

	tracked       map[string]Tracked // loaded from the store once, then written through
	lastInventory time.Time
	lastPoll      time.Time
	started       []time.Time // reset start times in the last minute (rate limit)
	digestSince   time.Time   // the digest watermark (also in the store, under digestKey)
	digestKey     string

	mu     sync.Mutex
	nudged map[string]bool
}

// New returns a controller.
func New(cfg Config, api API, store Store, now func() time.Time, log *slog.Logger) *Controller {
	cfg.defaults()
	return &Controller{cfg: cfg, api: api, store: store, now: now, log: log, nudged: map[string]bool{},
		digestKey: DigestKey(cfg.Account, cfg.Region)}
}

// Nudge asks for a WorkSpace's connection to be checked at the next pass rather than at the next
// poll (an SNS alarm said its user disconnected). The grace period still applies. An id the
// controller does not track (another target's WorkSpace, or one not yet inventoried) is
// ignored.
func (c *Controller) Nudge(id string) {
	c.mu.Lock()
	c.nudged[id] = true
	c.mu.Unlock()
}

func (c *Controller) takeNudged() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.nudged))
	for id := range c.nudged {
		ids = append(ids, id)
	}
	clear(c.nudged)
	sort.Strings(ids)
	return ids
}

// nudgedOurs takes the nudged ids and returns those the controller tracks: an SNS alarm names
// a WorkSpace, not its target, so the WorkSpaces of other targets are left to their own
// controllers.
func (c *Controller) nudgedOurs() []string {
	ids := c.takeNudged()
	keep := ids[:0]
	for _, id := range ids {
		if _, ok := c.tracked[id]; ok {
			keep = append(keep, id)
		}
	}
	return keep
}

// Reconcile runs one pass and returns when the next one is due.
func (c *Controller) Reconcile(ctx context.Context) (time.Time, error) {
	now := c.now()
	if c.tracked == nil {
		t, err := c.load(ctx)
		if err != nil {
			return now.Add(c.cfg.PollInterval), err
		}
		c.tracked = t
	}
	var errs []error
	if c.lastInventory.IsZero() || !now.Before(c.lastInventory.Add(c.cfg.InventoryInterval)) {
		if err := c.inventory(ctx, now); err != nil {
			errs = append(errs, fmt.Errorf("inventory: %w", err))
		} else {
			c.lastInventory = now
		}
	}
	if c.lastPoll.IsZero() || !now.Before(c.lastPoll.Add(c.cfg.PollInterval)) {
		if err := c.refreshTags(ctx, now); err != nil {
			errs = append(errs, fmt.Errorf("tags: %w", err))
		}
		if err := c.poll(ctx, nil); err != nil {
			errs = append(errs, fmt.Errorf("poll: %w", err))
		} else {
			c.lastPoll = now
		}
	} else if ids := c.nudgedOurs(); len(ids) > 0 {
		if err := c.poll(ctx, ids); err != nil {
			errs = append(errs, fmt.Errorf("poll nudged: %w", err))
		}
	}
	if err := c.settle(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := c.digest(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("digest: %w", err))
	}
	if len(errs) > 0 {
		c.Counters.APIErrors.Add(1)
	}
	return c.nextDue(now), errors.Join(errs...)
}

// targeted says whether the controller has a target (Config.Account, Config.Region).
func (c *Controller) targeted() bool { return c.cfg.Account != "" || c.cfg.Region != "" }

// ours says whether an account and region are the controller's own target; without a target
// every one is.
func (c *Controller) ours(account, region string) bool {
	return !c.targeted() || (account == c.cfg.Account && region == c.cfg.Region)
}

// load reads the trackers of the controller's target, by WorkSpace id. The Store should hold
// only those; any other is left out all the same, so that a WorkSpace of another target is
// never acted on.
func (c *Controller) load(ctx context.Context) (map[string]Tracked, error) {
	all, err := c.store.Trackers(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Tracked, len(all))
	for _, t := range all {
		if c.ours(t.Account, t.Region) {
			out[t.ID] = t
		}
	}
	return out, nil
}

func (c *Controller) nextDue(now time.Time) time.Time {
	next := c.lastPoll.Add(c.cfg.PollInterval)
	for _, t := range c.tracked {
		switch t.Phase {
		case Grace:
			if t.DueAt.Before(next) {
				next = t.DueAt
			}
		case InFlight, Resetting:
			if n := now.Add(min(c.cfg.PollInterval, 30*time.Second)); n.Before(next) {
				next = n
			}
		}
		if t.Maintenance {
			if n := now.Add(min(c.cfg.PollInterval, 30*time.Second)); n.Before(next) {
				next = n
			}
		}
	}
	return next
}

// inventory lists the WorkSpaces, starts tracking new ones and forgets deleted ones.
func (c *Controller) inventory(ctx context.Context, now time.Time) error {
	list, err := c.api.List(ctx)
	if err != nil {
		return err
	}
	present := make(map[string]bool, len(list))
	var fresh []WorkSpace
	var save []Tracked
	for _, ws := range list {
		present[ws.ID] = true
		t, ok := c.tracked[ws.ID]
		if !ok {
			fresh = append(fresh, ws)
			continue
		}
		if t.DirectoryID != ws.DirectoryID || t.UserName != ws.UserName || t.BundleID != ws.BundleID {
			t.DirectoryID, t.UserName, t.BundleID = ws.DirectoryID, ws.UserName, ws.BundleID
			c.tracked[ws.ID] = t
			save = append(save, t)
		}
	}
	if len(fresh) > 0 {
		ids := make([]string, len(fresh))
		for i, ws := range fresh {
			ids[i] = ws.ID
		}
		conns, err := c.api.Connections(ctx, ids)
		if err != nil {
			return err
		}
		for _, ws := range fresh {
			t := Baseline(ws, conns[ws.ID])
			t.Account, t.Region = c.cfg.Account, c.cfg.Region
			c.tracked[ws.ID] = t
			save = append(save, t)
		}
	}
	var remove []Tracked
	for id, t := range c.tracked {
		if !present[id] && t.Phase != Resetting {
			remove = append(remove, t)
			delete(c.tracked, id)
		}
	}
	return c.store.SaveResets(ctx, save, remove, nil, nil)
}

// refreshTags reads the opt-in tags that are oldest (never read first), a bounded number per
// poll, so that a large estate is read over a few polls rather than in one burst.
func (c *Controller) refreshTags(ctx context.Context, now time.Time) error {
	var stale []Tracked
	for _, t := range c.tracked {
		if now.Sub(t.TagsCheckedAt) >= c.cfg.InventoryInterval {
			stale = append(stale, t)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	sort.Slice(stale, func(i, j int) bool {
		if !stale[i].TagsCheckedAt.Equal(stale[j].TagsCheckedAt) {
			return stale[i].TagsCheckedAt.Before(stale[j].TagsCheckedAt)
		}
		return stale[i].ID < stale[j].ID
	})
	var save []Tracked
	var errs []error
	for _, t := range stale[:min(len(stale), tagReadsPerPass)] {
		tags, err := c.api.Tags(ctx, t.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.ID, err))
			if len(errs) >= 10 {
				break // AWS is unhappy; try the rest at the next poll
			}
			continue
		}
		ws := WorkSpace{ID: t.ID, DirectoryID: t.DirectoryID, UserName: t.UserName, BundleID: t.BundleID}
		mode, _ := c.cfg.Selection.ModeFor(ws, tags)
		t.TagsCheckedAt = now
		// A WorkSpace in the middle of a reset keeps its mode until the reset is settled;
		// Decide reads the tag again anyway.
		if t.Phase == Idle || mode != Off {
			t.Mode = mode
		}
		c.tracked[t.ID] = t
		save = append(save, t)
	}
	return errors.Join(append(errs, c.store.SaveResets(ctx, save, nil, nil, nil))...)
}

// poll reads connection states (of ids, or of all) and detects logoffs and reconnects. What the
// answer shows is timed by the clock read after it arrived: a poll of a large estate reads many
// pages, and a logoff on a late page happened after the pass began.
func (c *Controller) poll(ctx context.Context, ids []string) error {
	conns, err := c.api.Connections(ctx, ids)
	if err != nil {
		return err
	}
	seen := c.now()
	c.Counters.Polls.Add(1)
	var save []Tracked
	var records []Record
	for id, conn := range conns {
		t, ok := c.tracked[id]
		if !ok {
			continue // new since the last inventory; baselined there
		}
		n, rec := Observe(t, conn, seen, c.cfg.Grace)
		if n != t {
			c.tracked[id] = n
			save = append(save, n)
		}
		if rec != nil {
			records = append(records, *rec)
			c.count(rec.Outcome)
		}
	}
	if len(save) == 0 && len(records) == 0 {
		return nil
	}
	return c.store.SaveResets(ctx, save, nil, records, nil)
}

func (c *Controller) count(outcome string) {
	if c.cfg.OnOutcome != nil && history.Kind(outcome) != history.Logoff {
		c.cfg.OnOutcome(outcome)
	}
	switch history.Kind(outcome) {
	case history.Logoff:
		c.Counters.Logoffs.Add(1)
	case history.Reset:
		c.Counters.Resets.Add(1)
	case history.Cancelled:
		c.Counters.Cancelled.Add(1)
	case history.Skipped:
		c.Counters.Skipped.Add(1)
	case history.Failed:
		c.Counters.Failed.Add(1)
	}
}

// pass is what one settle pass read, and the resets it counts as in progress.
type pass struct {
	// now is when the pass began; seen is when conns was read (after its answer arrived).
	now, seen time.Time
	wss       map[string]WorkSpace
	conns     map[string]Connection
	// busy is how many resets are in progress, for max_concurrent.
	busy int
}

// settle handles the WorkSpaces that need it: WorkSpaces deskpilot may have left in
// ADMIN_MAINTENANCE, due resets, resets in flight, and resets a crash interrupted.
func (c *Controller) settle(ctx context.Context, now time.Time) error {
	p := &pass{now: now}
	var due, inflight, resetting, held []string
	for id, t := range c.tracked {
		if t.Maintenance {
			held = append(held, id)
		}
		switch t.Phase {
		case Grace:
			if !t.DueAt.After(now) {
				due = append(due, id)
			}
		case InFlight:
			inflight = append(inflight, id)
			p.busy++
		case Resetting:
			resetting = append(resetting, id)
			p.busy++
		}
	}
	if len(due)+len(inflight)+len(resetting)+len(held) == 0 {
		return nil
	}
	sort.Strings(due)
	sort.Strings(inflight)
	sort.Strings(held)
	// The connection states are read before the WorkSpaces, so that a session seen on a
	// WorkSpace then found still resetting began before its reset (see Follow).
	var connErr error
	if watch := append(append([]string{}, inflight...), due...); len(watch) > 0 {
		p.conns, connErr = c.api.Connections(ctx, watch)
	}
	p.seen = c.now()
	var err error
	if p.wss, err = c.api.Get(ctx, dedupe(resetting, inflight, due, held)); err != nil {
		return errors.Join(connErr, err)
	}
	var errs []error
	// 0. WorkSpaces deskpilot may have left in ADMIN_MAINTENANCE (a crash, a failed call): put
	// back to AVAILABLE before anything else, so that the rest of the pass sees them as users do.
	for _, id := range held {
		errs = append(errs, c.release(ctx, p, id, now))
	}
	// 1. Resets in flight end when the WorkSpace is usable again; until then, the sessions they
	// ended are handled.
	for _, id := range inflight {
		t := c.tracked[id]
		ws, ok := p.wss[id]
		n := Follow(t, p.conns[id], ws, ok)
		if n == t {
			continue
		}
		if n.Phase != InFlight {
			p.busy--
			c.log.Info("workspace reset finished", "workspace", t.ID, "user", t.UserName, "mode", t.Mode, "state", ws.State,
				"took", now.Sub(t.ResetStartedAt).Round(time.Second).String())
		}
		errs = append(errs, c.write(ctx, n, nil))
	}
	// 2. Resets a crash interrupted: confirm, or make them due again (checked next pass).
	for _, id := range resetting {
		if c.tracked[id].Phase != Resetting {
			p.busy-- // released in step 0: the reset did not happen, and is due again
			continue
		}
		ws, ok := p.wss[id]
		n, rec := Recover(c.tracked[id], ws, ok, now)
		if n.Phase != InFlight {
			p.busy--
		}
		errs = append(errs, c.write(ctx, n, rec))
	}
	if len(due) == 0 {
		return errors.Join(errs...)
	}
	if connErr != nil {
		return errors.Join(append(errs, connErr)...)
	}
	// 3. Due resets, one by one.
	for _, id := range due {
		errs = append(errs, c.resetDue(ctx, p, c.tracked[id]))
	}
	return errors.Join(errs...)
}

// dedupe returns the ids of every list, each once, in order.
func dedupe(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, id := range l {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// release puts back to AVAILABLE a WorkSpace that deskpilot may have left in ADMIN_MAINTENANCE
// (see Release), and writes what it learnt.
func (c *Controller) release(ctx context.Context, p *pass, id string, now time.Time) error {
	t := c.tracked[id]
	ws, found := p.wss[id]
	n, call := Release(t, ws, found, now)
	if call {
		if err := c.api.SetMaintenance(ctx, id, false); err != nil {
			return fmt.Errorf("put %s back to AVAILABLE: %w", id, err)
		}
		ws.State = "AVAILABLE"
		p.wss[id] = ws
		c.log.Info("workspace put back to AVAILABLE after an interrupted reset", "workspace", id, "user", t.UserName)
	}
	return c.write(ctx, n, nil)
}

// resetDue settles one due reset:
//  1. read its tag and snapshots again, and decide on what the pass read;
//  2. to act, write the intent (Resetting, and Maintenance when the WorkSpace can be held);
//  3. put it in ADMIN_MAINTENANCE, where no user can log in;
//  4. read its connection state once more, of this WorkSpace alone, and decide again: a user
//     may have logged on since the pass read the states of all due WorkSpaces, while the
//     ones before this one were handled, or in the instant before step 3;
//  5. put it back to AVAILABLE (WorkSpaces refuses to rebuild or restore in
//     ADMIN_MAINTENANCE), and only if both decisions say so, make the call at once.
//
// What remains is the round trip between steps 5's two calls: a user whose login completes
// in it is disconnected by the reset (docs/workspaces.md, "The last instant").
func (c *Controller) resetDue(ctx context.Context, p *pass, t Tracked) error {
	ws, found := p.wss[t.ID]
	ch := Check{Now: p.seen, WS: ws, Found: found, Conn: p.conns[t.ID], Mode: t.Mode, Grace: c.cfg.Grace,
		RequireSnapshot: c.cfg.RequireSnapshotAfterLogoff, MaxSnapshotWait: c.cfg.MaxSnapshotWait}
	if found && ch.Conn.State != connConnected {
		tags, err := c.api.Tags(ctx, t.ID)
		if err != nil {
			return err
		}
		ch.Mode, _ = c.cfg.Selection.ModeFor(ws, tags)
		if ch.Mode != Off {
			snaps, err := c.api.Snapshots(ctx, t.ID)
			if err != nil {
				return err
			}
			ch.SnapshotsRead, ch.Snapshot = true, snaps.Rebuild
			if ch.Mode == Restore {
				ch.Snapshot = snaps.Restore
			}
		}
	}
	if !c.cfg.QuietHours.IsZero() {
		if _, end, open := c.cfg.QuietHours.OpenAt(p.now); open {
			ch.QuietUntil = end
		}
	}
	if p.busy >= c.cfg.MaxConcurrent {
		ch.Busy = fmt.Sprintf("%d resets in progress (max_concurrent)", p.busy)
	} else if c.startedLastMinute(p.now) >= c.cfg.MaxPerMinute {
		ch.Busy = fmt.Sprintf("%d resets started in the last minute (max_per_minute)", c.cfg.MaxPerMinute)
	}
	n, act, rec := Decide(t, ch, c.cfg.PollInterval)
	if !act {
		if n.Waiting != "" && n.Waiting != t.Waiting {
			c.log.Info("workspace reset waits", "workspace", t.ID, "user", t.UserName, "why", n.Waiting, "next_check", n.DueAt)
		}
		return c.write(ctx, n, rec)
	}
	hold := MaintenanceFrom(ws.State)
	n.Maintenance = hold
	if err := c.write(ctx, n, nil); err != nil {
		return err
	}
	p.busy++
	if hold {
		if err := c.api.SetMaintenance(ctx, t.ID, true); err != nil {
			// Whether it took is unknown: the mark stays, and the next pass puts the WorkSpace
			// back if it is in ADMIN_MAINTENANCE before the reset is tried again.
			p.busy--
			back := t
			back.Maintenance = true
			return c.retryLater(ctx, back, n.ResetStartedAt, "put in ADMIN_MAINTENANCE", err)
		}
	}
	last, err := c.api.Connections(ctx, []string{t.ID})
	// Without an answer the state is unknown, and Decide waits.
	ch.Now, ch.Conn = c.now(), last[t.ID]
	final, act, rec := Decide(t, ch, c.cfg.PollInterval)
	if hold {
		if rerr := c.api.SetMaintenance(ctx, t.ID, false); rerr != nil {
			// Still held, so no reset can be made; the next pass puts it back first.
			p.busy--
			if act {
				back := t
				back.Maintenance = true
				return errors.Join(err, c.retryLater(ctx, back, n.ResetStartedAt, "put back to AVAILABLE", rerr))
			}
			final.Maintenance = true
			return errors.Join(err, fmt.Errorf("put %s back to AVAILABLE: %w", t.ID, rerr), c.write(ctx, final, rec))
		}
	}
	if !act {
		p.busy--
		return errors.Join(err, c.write(ctx, final, rec))
	}
	return c.reset(ctx, final, ch.Snapshot)
}

// retryLater makes a due reset whose preparation failed due again after the retry schedule of
// one resource's call, or records it as failed when retrying cannot help or it failed too often.
func (c *Controller) retryLater(ctx context.Context, t Tracked, at time.Time, what string, err error) error {
	n := t
	n.Attempts++
	class := fault.Classify(err)
	if !class.Retryable() || n.Attempts >= maxResetAttempts {
		n.Phase, n.DueAt, n.HandledLogon, n.Waiting = Idle, time.Time{}, t.PendingLogon, ""
		return c.write(ctx, n, record(t, at, history.Failed, fmt.Sprintf("%s: %s failed (attempt %d, %s): %v", t.Mode, what, n.Attempts, class, err)))
	}
	n.Phase, n.DueAt = Grace, at.Add(fault.Call.Delay(n.Attempts, class))
	c.log.Warn("workspace reset could not be prepared; will retry", "workspace", t.ID, "step", what, "attempt", n.Attempts, "class", class, "retry_at", n.DueAt, "err", err)
	return c.write(ctx, n, nil)
}

func (c *Controller) startedLastMinute(now time.Time) int {
	keep := c.started[:0]
	for _, t := range c.started {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	c.started = keep
	return len(keep)
}

// reset makes the reset call for a WorkSpace already written as Resetting (the intent), then
// writes the outcome. A failure that retrying may fix makes the reset due again after the
// retry schedule for one resource's call (fault.Call), when every check is made anew; any
// other, or the last attempt, is recorded as failed.
//
// snapshot is the latest snapshot the reset brings the user volume back from, for the record.
func (c *Controller) reset(ctx context.Context, t Tracked, snapshot time.Time) error {
	at := t.ResetStartedAt
	c.started = append(c.started, at)
	var err error
	if t.Mode == Restore {
		err = c.api.Restore(ctx, t.ID)
	} else {
		err = c.api.Rebuild(ctx, t.ID)
	}
	n := t
	if err != nil {
		n.Attempts++
		class := fault.Classify(err)
		if !class.Retryable() || n.Attempts >= maxResetAttempts {
			n.Phase, n.DueAt, n.HandledLogon = Idle, time.Time{}, t.PendingLogon
			return c.write(ctx, n, record(t, at, history.Failed, fmt.Sprintf("%s failed (attempt %d, %s): %v", t.Mode, n.Attempts, class, err)))
		}
		n.Phase, n.DueAt = Grace, at.Add(fault.Call.Delay(n.Attempts, class))
		c.log.Warn("workspace reset failed; will retry", "workspace", t.ID, "mode", t.Mode, "attempt", n.Attempts, "class", class, "retry_at", n.DueAt, "err", err)
		return c.write(ctx, n, nil)
	}
	n.Phase, n.HandledLogon = InFlight, t.PendingLogon
	c.log.Info("workspace reset", "workspace", t.ID, "user", t.UserName, "mode", t.Mode)
	why := fmt.Sprintf("%s after the user logged off at %s", t.Mode, t.DisconnectedAt.UTC().Format(time.RFC3339))
	if !snapshot.IsZero() {
		why += "; user volume from the snapshot of " + snapshot.UTC().Format(time.RFC3339)
		if !snapshot.After(t.DisconnectedAt) {
			why += fmt.Sprintf(", taken before the logoff: files written in the %s before it are not in it", t.DisconnectedAt.Sub(snapshot).Round(time.Minute))
		}
	}
	return c.write(ctx, n, record(t, at, history.Reset, why))
}

// write persists one WorkSpace and its record.
func (c *Controller) write(ctx context.Context, t Tracked, rec *Record) error {
	c.tracked[t.ID] = t
	var records []Record
	if rec != nil {
		records = []Record{*rec}
		c.count(rec.Outcome)
	}
	return c.store.SaveResets(ctx, []Tracked{t}, nil, records, nil)
}

// digest sends one notice every DigestInterval listing the decisions of the period [since,
// until): since is the watermark, where the last period ended, and until is now. Both bounds
// are kept to the millisecond, the resolution records are stored with, so that each record
// falls in exactly one period, even one written in the pass that sends the digest.
func (c *Controller) digest(ctx context.Context, now time.Time) error {
	until := now.Truncate(time.Millisecond)
	if c.digestSince.IsZero() {
		// The watermark is read from the store once, then kept in memory.
		raw, err := c.store.Meta(ctx, c.digestKey)
		if err != nil {
			return err
		}
		if c.digestSince = parseWatermark(raw); c.digestSince.IsZero() {
			return c.setDigestSince(ctx, until)
		}
	}
	since := c.digestSince
	if until.Sub(since) < c.cfg.DigestInterval {
		return nil
	}
	records, err := c.store.RecordsBetween(ctx, since, until)
	if err != nil {
		return err
	}
	var items []notice.Item
	counts := map[history.Kind]int{}
	for _, r := range records {
		if r.Outcome == string(history.Logoff) || !c.ours(r.Account, r.Region) {
			continue
		}
		counts[history.Kind(r.Outcome)]++
		items = append(items, notice.Item{Name: r.WorkspaceID + " (" + r.UserName + ")", Status: r.Outcome, Detail: r.At.UTC().Format("15:04 MST") + ": " + r.Reason})
	}
	if len(items) > 0 {
		n := notice.Notice{
			// Named by the target and the period's start, so that enqueueing it again after a
			// crash (before the watermark moved) is a no-op in the outbox, and the digests of two
			// targets for one period are two notices.
			ID: "workspaces/digest/" + c.targetPath() + since.UTC().Format("20060102T150405Z"), Kind: "workspaces.digest", Severity: notice.SeverityInfo,
			Subject: fmt.Sprintf("WorkSpaces reset: %d reset, %d skipped, %d failed", counts[history.Reset], counts[history.Skipped], counts[history.Failed]) + c.targetSuffix(),
			Summary: fmt.Sprintf("Since %s: %s.", since.UTC().Format("Mon 2006-01-02 15:04 MST"), summarize(counts)),
			Fields:  c.targetFields(),
			Items:   items,
			Time:    now,
		}
		if counts[history.Failed] > 0 {
			n.Severity = notice.SeverityWarning
		}
		var ds []Delivery
		for _, s := range c.cfg.Senders {
			ds = append(ds, Delivery{Sender: s, Notice: n})
		}
		// The digest and its watermark are written together: after a crash the next digest
		// starts where this one ended, never again at its start under the same notice id.
		if err := c.store.SaveDigest(ctx, ds, c.digestKey, until.UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		c.digestSince = until
		return nil
	}
	return c.setDigestSince(ctx, until)
}

// parseWatermark reads the stored digest watermark, the end of the last period (zero if there
// is none). One written with nanoseconds, before periods were kept to the millisecond, ended a
// period that held every record up to its millisecond: the next period starts at the following
// one.
func parseWatermark(raw string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}
	}
	if ms := t.Truncate(time.Millisecond); !ms.Equal(t) {
		return ms.Add(time.Millisecond)
	}
	return t
}

func (c *Controller) setDigestSince(ctx context.Context, t time.Time) error {
	if err := c.store.SetMeta(ctx, c.digestKey, t.UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	c.digestSince = t
	return nil
}

// targetPath is the target as notice id segments ("123456789012/eu-west-1/"), empty without
// a target. Anything a notice id may not hold becomes '_'.
func (c *Controller) targetPath() string {
	if !c.targeted() {
		return ""
	}
	token := func(s string) string {
		if s == "" {
			return "-"
		}
		return strings.Map(func(r rune) rune {
			if r < '!' || r > '~' || r == '/' {
				return '_'
			}
			return r
		}, s)
	}
	return token(c.cfg.Account) + "/" + token(c.cfg.Region) + "/"
}

// targetSuffix names the target at the end of a subject (" (account 123456789012,
// eu-west-1)"), so that an admin of several accounts knows where the WorkSpaces are; empty
// without a target or without TargetInSubject, which keeps the subject as it always was.
func (c *Controller) targetSuffix() string {
	switch {
	case !c.targeted() || !c.cfg.TargetInSubject:
		return ""
	case c.cfg.Account == "":
		return " (" + c.cfg.Region + ")"
	case c.cfg.Region == "":
		return " (account " + c.cfg.Account + ")"
	}
	return " (account " + c.cfg.Account + ", " + c.cfg.Region + ")"
}

// targetFields are the Account and Region rows of a notice's table, those that are set.
func (c *Controller) targetFields() []notice.Field {
	var fs []notice.Field
	if c.cfg.Account != "" {
		fs = append(fs, notice.Field{Name: "Account", Value: c.cfg.Account})
	}
	if c.cfg.Region != "" {
		fs = append(fs, notice.Field{Name: "Region", Value: c.cfg.Region})
	}
	return fs
}

func summarize(counts map[history.Kind]int) string {
	var parts []string
	for _, k := range []history.Kind{history.Reset, history.Cancelled, history.Skipped, history.Failed} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
