package reset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// tagReadsPerPass bounds the DescribeTags calls one inventory pass makes, so a large estate
	// is read over several passes instead of in one burst.
	tagReadsPerPass = 1000
)

// Config is what the controller needs from deskpilot's configuration.
type Config struct {
	Selection         Selection
	Grace             time.Duration
	PollInterval      time.Duration
	InventoryInterval time.Duration
	DigestInterval    time.Duration
	MaxConcurrent     int
	MaxPerMinute      int
	// QuietHours, when set, is a window in which no reset starts.
	QuietHours window.Window
	Senders    []string
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
	digestSince   time.Time   // the digest watermark (also in the store)

	mu     sync.Mutex
	nudged map[string]bool
}

// New returns a controller.
func New(cfg Config, api API, store Store, now func() time.Time, log *slog.Logger) *Controller {
	cfg.defaults()
	return &Controller{cfg: cfg, api: api, store: store, now: now, log: log, nudged: map[string]bool{}}
}

// Nudge asks for a WorkSpace's connection to be checked at the next pass rather than at the next
// poll (an SNS alarm said its user disconnected). The grace period still applies.
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

// Reconcile runs one pass and returns when the next one is due.
func (c *Controller) Reconcile(ctx context.Context) (time.Time, error) {
	now := c.now()
	if c.tracked == nil {
		t, err := c.store.Trackers(ctx)
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
		if err := c.poll(ctx, nil, now); err != nil {
			errs = append(errs, fmt.Errorf("poll: %w", err))
		} else {
			c.lastPoll = now
		}
	} else if ids := c.takeNudged(); len(ids) > 0 {
		if err := c.poll(ctx, ids, now); err != nil {
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
			c.tracked[ws.ID] = t
			save = append(save, t)
		}
	}
	var remove []string
	for id, t := range c.tracked {
		if !present[id] && t.Phase != Resetting {
			remove = append(remove, id)
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

// poll reads connection states (of ids, or of all) and detects logoffs and reconnects.
func (c *Controller) poll(ctx context.Context, ids []string, now time.Time) error {
	conns, err := c.api.Connections(ctx, ids)
	if err != nil {
		return err
	}
	c.Counters.Polls.Add(1)
	var save []Tracked
	var records []Record
	for id, conn := range conns {
		t, ok := c.tracked[id]
		if !ok {
			continue // new since the last inventory; baselined there
		}
		n, rec := Observe(t, conn, now, c.cfg.Grace)
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
	switch outcome {
	case "logoff":
		c.Counters.Logoffs.Add(1)
	case "reset":
		c.Counters.Resets.Add(1)
	case "cancelled":
		c.Counters.Cancelled.Add(1)
	case "skipped":
		c.Counters.Skipped.Add(1)
	case "failed":
		c.Counters.Failed.Add(1)
	}
}

// settle handles the WorkSpaces that need it: due resets, resets in flight, and resets a
// crash interrupted.
func (c *Controller) settle(ctx context.Context, now time.Time) error {
	var due, inflight, resetting []string
	busy := 0
	for id, t := range c.tracked {
		switch t.Phase {
		case Grace:
			if !t.DueAt.After(now) {
				due = append(due, id)
			}
		case InFlight:
			inflight = append(inflight, id)
			busy++
		case Resetting:
			resetting = append(resetting, id)
			busy++
		}
	}
	if len(due)+len(inflight)+len(resetting) == 0 {
		return nil
	}
	sort.Strings(due)
	all := append(append(append([]string{}, resetting...), inflight...), due...)
	wss, err := c.api.Get(ctx, all)
	if err != nil {
		return err
	}
	var errs []error
	// 1. Resets in flight end when the WorkSpace is usable again.
	for _, id := range inflight {
		ws, ok := wss[id]
		if !ok || !slices.Contains(resettingStates, ws.State) && ws.State != "PENDING" {
			t := c.tracked[id]
			t.Phase = Idle
			busy--
			errs = append(errs, c.write(ctx, t, nil))
		}
	}
	// 2. Resets a crash interrupted: confirm, or make them due again (checked next pass).
	for _, id := range resetting {
		ws, ok := wss[id]
		n, rec := Recover(c.tracked[id], ws, ok, now)
		if n.Phase != InFlight {
			busy--
		}
		errs = append(errs, c.write(ctx, n, rec))
	}
	if len(due) == 0 {
		return errors.Join(errs...)
	}
	// 3. Due resets: read the connection and the tag again, right before acting.
	conns, err := c.api.Connections(ctx, due)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, id := range due {
		t := c.tracked[id]
		ws, found := wss[id]
		ch := Check{Now: now, WS: ws, Found: found, Conn: conns[id], Mode: t.Mode, Grace: c.cfg.Grace}
		if found && ch.Conn.State != connConnected {
			tags, err := c.api.Tags(ctx, id)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ch.Mode, _ = c.cfg.Selection.ModeFor(ws, tags)
		}
		if !c.cfg.QuietHours.IsZero() {
			if _, end, open := c.cfg.QuietHours.OpenAt(now); open {
				ch.QuietUntil = end
			}
		}
		if busy >= c.cfg.MaxConcurrent {
			ch.Busy = fmt.Sprintf("%d resets in progress (max_concurrent)", busy)
		} else if c.startedLastMinute(now) >= c.cfg.MaxPerMinute {
			ch.Busy = fmt.Sprintf("%d resets started in the last minute (max_per_minute)", c.cfg.MaxPerMinute)
		}
		n, act, rec := Decide(t, ch, c.cfg.PollInterval)
		if !act {
			errs = append(errs, c.write(ctx, n, rec))
			continue
		}
		busy++
		errs = append(errs, c.reset(ctx, n, now))
	}
	return errors.Join(errs...)
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
// writes the outcome.
func (c *Controller) reset(ctx context.Context, t Tracked, now time.Time) error {
	if err := c.write(ctx, t, nil); err != nil {
		return err
	}
	c.started = append(c.started, now)
	var err error
	if t.Mode == Restore {
		err = c.api.Restore(ctx, t.ID)
	} else {
		err = c.api.Rebuild(ctx, t.ID)
	}
	n := t
	if err != nil {
		n.Attempts++
		permanent := isPermanent(err)
		if permanent || n.Attempts >= 5 {
			n.Phase, n.DueAt, n.HandledLogon = Idle, time.Time{}, t.PendingLogon
			return c.write(ctx, n, &Record{At: now, WorkspaceID: t.ID, UserName: t.UserName, Mode: t.Mode, Outcome: "failed",
				Reason: fmt.Sprintf("%s failed (attempt %d): %v", t.Mode, n.Attempts, err)})
		}
		n.Phase, n.DueAt = Grace, now.Add(time.Duration(n.Attempts)*c.cfg.PollInterval)
		c.log.Warn("workspace reset failed; will retry", "workspace", t.ID, "mode", t.Mode, "attempt", n.Attempts, "err", err)
		return c.write(ctx, n, nil)
	}
	n.Phase, n.HandledLogon = InFlight, t.PendingLogon
	c.log.Info("workspace reset", "workspace", t.ID, "user", t.UserName, "mode", t.Mode)
	return c.write(ctx, n, &Record{At: now, WorkspaceID: t.ID, UserName: t.UserName, Mode: t.Mode, Outcome: "reset",
		Reason: fmt.Sprintf("%s after the user logged off at %s", t.Mode, t.DisconnectedAt.UTC().Format(time.RFC3339))})
}

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
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

const digestKey = "workspaces.digest.until"

// digest sends one notice listing the decisions since the last digest, every DigestInterval.
func (c *Controller) digest(ctx context.Context, now time.Time) error {
	if c.digestSince.IsZero() {
		// The watermark is read from the store once, then kept in memory.
		raw, err := c.store.Meta(ctx, digestKey)
		if err != nil {
			return err
		}
		if c.digestSince, _ = time.Parse(time.RFC3339Nano, raw); c.digestSince.IsZero() {
			return c.setDigestSince(ctx, now)
		}
	}
	since := c.digestSince
	if now.Sub(since) < c.cfg.DigestInterval {
		return nil
	}
	records, err := c.store.Records(ctx, since, 0)
	if err != nil {
		return err
	}
	var items []notice.Item
	counts := map[string]int{}
	for _, r := range records {
		if r.Outcome == "logoff" || !r.At.Before(now) {
			continue
		}
		counts[r.Outcome]++
		items = append(items, notice.Item{Name: r.WorkspaceID + " (" + r.UserName + ")", Status: r.Outcome, Detail: r.At.UTC().Format("15:04 MST") + ": " + r.Reason})
	}
	if len(items) > 0 {
		n := notice.Notice{
			// Named by the period's start, so that enqueueing it again after a crash (before the
			// watermark moved) is a no-op in the outbox.
			ID: "workspaces/digest/" + since.UTC().Format("20060102T150405Z"), Kind: "workspaces.digest", Severity: notice.SeverityInfo,
			Subject: fmt.Sprintf("WorkSpaces reset: %d reset, %d skipped, %d failed", counts["reset"], counts["skipped"], counts["failed"]),
			Summary: fmt.Sprintf("Since %s: %s.", since.UTC().Format("Mon 2006-01-02 15:04 MST"), summarize(counts)),
			Items:   items,
			Time:    now,
		}
		if counts["failed"] > 0 {
			n.Severity = notice.SeverityWarning
		}
		var ds []Delivery
		for _, s := range c.cfg.Senders {
			ds = append(ds, Delivery{Sender: s, Notice: n})
		}
		if err := c.store.SaveResets(ctx, nil, nil, nil, ds); err != nil {
			return err
		}
	}
	return c.setDigestSince(ctx, now)
}

func (c *Controller) setDigestSince(ctx context.Context, t time.Time) error {
	if err := c.store.SetMeta(ctx, digestKey, t.UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	c.digestSince = t
	return nil
}

func summarize(counts map[string]int) string {
	var parts []string
	for _, k := range []string{"reset", "cancelled", "skipped", "failed"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
