package rollout

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

	"github.com/deskpilot/deskpilot/internal/fault"
	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/window"
)

// Defaults for Config's durations.
const (
	DefaultScanInterval      = 60 * time.Second
	DefaultPollInterval      = 10 * time.Second
	DefaultDrainPollInterval = 5 * time.Second
	DefaultDrainTimeout      = 2 * time.Hour
	DefaultSessionDeadline   = 4 * time.Hour
	DefaultDeadlineWarning   = 30 * time.Minute
	DefaultStartMargin       = 30 * time.Minute
	DefaultMaxParallel       = 10
	// maxHorizon bounds how early a step due soon is taken into the current pass, so that
	// steps due a few milliseconds apart share one pass and one batched read.
	maxHorizon = time.Second
	// maxChain bounds the decisions one step takes in one pass without an AWS call between.
	maxChain = 8
)

// Config is what the controller needs from deskpilot's configuration.
type Config struct {
	Keys TagKeys
	// Account and Region are where the fleets are; they key saved capacity and history.
	Account, Region string
	DefaultWindow   window.Window
	FleetWindows    map[string]window.Window
	ScanInterval    time.Duration
	PollInterval    time.Duration
	// DrainPollInterval is how often a draining fleet is checked: restore follows
	// Available == 0 within it.
	DrainPollInterval time.Duration
	DrainTimeout      time.Duration
	// SessionDeadline and DeadlineWarning are rollouts.drain.session_deadline and warning:
	// in deadline mode, sessions still on old-image instances this long after the image was
	// applied are ended, and admins are warned DeadlineWarning before.
	SessionDeadline, DeadlineWarning time.Duration
	// DrainMode is rollouts.drain.mode (see Planner.DrainMode).
	DrainMode   string
	StartMargin time.Duration
	MaxParallel int
	// Senders are the names of the notification senders; each notice is enqueued once per
	// sender.
	Senders []string
	// PerFleetNotices sends one notice per fleet result besides the rollout's summary.
	PerFleetNotices bool
	// TargetInSubject ends every notice's subject with "(ACCOUNT/REGION)": set when one daemon
	// serves several, so that admins tell apart the same image and fleet names in each.
	TargetInSubject bool
	// Waves are the settings of progressive rollouts (rollouts.waves, rollouts.health,
	// rollouts.rollback).
	Waves WaveSettings
	// Health checks a fleet's check_url (nil: no URL check).
	Health HealthChecker
	// Observer is told what the metrics count (nil: nothing).
	Observer Observer
}

// Observer is told of what the metrics count: steps ending, drains, restores.
type Observer interface {
	StepFinished(result string)
	ObserveDrain(d time.Duration)
	ObserveRestoreLag(d time.Duration)
}

// observe tells the observer, if any, what a step's change from prev to next shows.
func (c *Controller) observe(prev, next Step, now time.Time, restored bool) {
	o := c.cfg.Observer
	if o == nil {
		return
	}
	if next.State.Final() && !prev.State.Final() {
		o.StepFinished(string(next.State))
	}
	if prev.State == StepDraining && next.State == StepRestoring && !prev.DrainStartedAt.IsZero() {
		o.ObserveDrain(now.Sub(prev.DrainStartedAt))
	}
	if restored && !prev.NextAt.IsZero() {
		o.ObserveRestoreLag(max(0, now.Sub(prev.NextAt)))
	}
}

func (c *Config) defaults() {
	def := DefaultTagKeys()
	for _, k := range []struct {
		key *string
		def string
	}{
		{&c.Keys.FleetName, def.FleetName}, {&c.Keys.ScaleImmediately, def.ScaleImmediately}, {&c.Keys.Status, def.Status},
		{&c.Keys.MaintenanceWindow, def.MaintenanceWindow}, {&c.Keys.SavedMin, def.SavedMin}, {&c.Keys.SavedMax, def.SavedMax},
		{&c.Keys.Canary, def.Canary}, {&c.Keys.Waves, def.Waves}, {&c.Keys.Approval, def.Approval}, {&c.Keys.Approve, def.Approve},
		{&c.Keys.Drain, def.Drain},
	} {
		if *k.key == "" {
			*k.key = k.def
		}
	}
	if c.DefaultWindow.IsZero() {
		c.DefaultWindow = window.MustParse("sun:02:00-sun:05:00")
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.ScanInterval, DefaultScanInterval)
	set(&c.PollInterval, DefaultPollInterval)
	set(&c.DrainPollInterval, DefaultDrainPollInterval)
	set(&c.DrainTimeout, DefaultDrainTimeout)
	set(&c.SessionDeadline, DefaultSessionDeadline)
	if c.DeadlineWarning <= 0 || c.DeadlineWarning >= c.SessionDeadline {
		c.DeadlineWarning = min(DefaultDeadlineWarning, c.SessionDeadline/2)
	}
	set(&c.StartMargin, DefaultStartMargin)
	if c.MaxParallel <= 0 {
		c.MaxParallel = DefaultMaxParallel
	}
	set(&c.Waves.HealthTimeout, DefaultHealthTimeout)
	if c.Waves.CanaryBake < 0 {
		c.Waves.CanaryBake = 0
	}
}

// Controller drives rollouts. It is level-triggered: every pass reads the store and AWS into
// snapshots, decides with pure functions (DecideImage and DecideRollout for whole rollouts,
// Decide and OnFailure for steps), performs the one AWS call each decision asks for, and commits
// the result; timers are data (Step.NextAt), so a restart at any instant resumes exactly where
// the store says.
//
// Its parts back off alone: a failing scan delays the next scan, a fleet whose reads or calls
// fail delays that fleet's step, a rollout whose image cannot be read delays that rollout; the
// other fleets keep draining and restoring on time.
type Controller struct {
	cfg     Config
	aws     AppStream
	scaler  Scaler
	store   Store
	now     func() time.Time
	log     *slog.Logger
	planner Planner
	policy  Policy

	// mu serialises the scan's decisions with the steps pass: both read and write rollouts.
	mu sync.Mutex
	// settled counts the rollout-level commits of the steps pass (a rollout started or ended),
	// so that a scan knows whether the image tags it read may be out of date.
	settled atomic.Int64

	scanAt       time.Time // the next scan; zero: at once
	scanFailures int
	// scanErr is the latest scan's error (nil after one that worked), reported by ScanPass until
	// the next scan.
	scanErr error
	// stepsAt is when the steps may next be looked at after a failed pass (store or a whole
	// batched read); zero when the last pass worked.
	stepsAt       time.Time
	stepsFailures int
	// held back holds the fleets and rollouts whose reads failed, with their consecutive
	// failures, until their next try: in memory, since a read retry is not state worth keeping.
	held map[string]holdBack
}

type holdBack struct {
	until    time.Time
	failures int
	cause    string
}

// New returns a controller. now is its clock (tests pass a fake one).
func New(cfg Config, as AppStream, scaler Scaler, store Store, now func() time.Time, log *slog.Logger) *Controller {
	cfg.defaults()
	c := &Controller{cfg: cfg, aws: as, scaler: scaler, store: store, now: now, log: log, held: map[string]holdBack{}}
	c.planner = Planner{Keys: cfg.Keys, Margin: cfg.StartMargin, WindowFor: c.windowFor, WaveSize: cfg.Waves.Size, DrainMode: cfg.DrainMode}
	c.policy = Policy{Keys: cfg.Keys, Planner: c.planner, Account: cfg.Account, Region: cfg.Region, Senders: cfg.Senders, ZoneOf: c.zoneOf, SessionDeadline: cfg.SessionDeadline,
		Waves: cfg.Waves, CheckEvery: cfg.PollInterval, TargetInSubject: cfg.TargetInSubject}
	return c
}

// windowFor picks a fleet's window: its MaintenanceWindow tag, else its config override, else
// the default.
func (c *Controller) windowFor(fleet string, tags map[string]string) (window.Window, error) {
	if v, ok := tags[c.cfg.Keys.MaintenanceWindow]; ok && strings.TrimSpace(v) != "" {
		w, err := window.Parse(v)
		if err != nil {
			return window.Window{}, fmt.Errorf("tag %s: %w", c.cfg.Keys.MaintenanceWindow, err)
		}
		return w, nil
	}
	if w, ok := c.cfg.FleetWindows[fleet]; ok {
		return w, nil
	}
	return c.cfg.DefaultWindow, nil
}

func (c *Controller) zoneOf(fleet string) *time.Location {
	if w, ok := c.cfg.FleetWindows[fleet]; ok {
		return w.Location()
	}
	return c.cfg.DefaultWindow.Location()
}

// Reconcile runs one scan pass (if a scan is due) and one steps pass, one after the other, and
// returns when the next is due. Tests drive the controller with it; the daemon runs ScanPass
// and StepsPass in loops of their own.
func (c *Controller) Reconcile(ctx context.Context) (time.Time, error) {
	scanNext, scanErr := c.ScanPass(ctx)
	stepsNext, stepsErr := c.StepsPass(ctx)
	if stepsNext.Before(scanNext) {
		scanNext = stepsNext
	}
	return scanNext, errors.Join(scanErr, stepsErr)
}

// ScanPass scans the images if a scan is due (every ScanInterval; after a failed scan, sooner,
// on the loop schedule) and returns when the next scan is due. The slow part, reading every
// image's tags, runs without holding up the steps; only the decisions and their commits are
// serialised with them.
func (c *Controller) ScanPass(ctx context.Context) (time.Time, error) {
	now := c.now()
	if now.Before(c.scanAt) {
		// Not due: the pass is as good as the latest scan, so a failing scan stays reported
		// (a loop's health is its latest pass's) until a scan works.
		return c.scanAt, c.scanErr
	}
	if err := c.Scan(ctx); err != nil {
		c.scanFailures++
		c.scanAt = now.Add(min(c.cfg.ScanInterval, fault.Loop.Delay(c.scanFailures, fault.Classify(err))))
		c.scanErr = fmt.Errorf("scan: %w", err)
		return c.scanAt, c.scanErr
	}
	c.scanFailures, c.scanErr = 0, nil
	c.scanAt = now.Add(c.cfg.ScanInterval)
	return c.scanAt, nil
}

// StepsPass advances every due step and settles the rollouts, and returns when a step is next
// due. The error is for the log: each failing fleet or rollout has already been scheduled for
// its own retry; only a pass that failed as a whole (the store, a read of every fleet) backs
// off the steps on the loop schedule.
func (c *Controller) StepsPass(ctx context.Context) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Before(c.stepsAt) {
		return c.stepsAt, nil
	}
	next, err := c.runSteps(ctx)
	if err != nil && next.IsZero() {
		c.stepsFailures++
		c.stepsAt = now.Add(fault.Loop.Delay(c.stepsFailures, fault.Classify(err)))
		return c.stepsAt, err
	}
	c.stepsFailures, c.stepsAt = 0, time.Time{}
	return next, err
}

// Scan reads every image's tags and brings the store's rollouts in line with them (DecideImage
// for each image, DecideVanished for the rollouts of images that are gone).
func (c *Controller) Scan(ctx context.Context) error {
	gen := c.settled.Load()
	images, err := c.aws.Images(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.settled.Load() != gen {
		// A rollout ended (and changed its image's tags) while the images were read: the tags
		// read may be from before, and would plan the finished request again. Read them anew.
		if images, err = c.aws.Images(ctx); err != nil {
			return err
		}
	}
	latest, err := c.store.LatestRollouts(ctx)
	if err != nil {
		return err
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
	var errs []error
	present := map[string]bool{}
	for _, img := range images {
		present[img.ARN] = true
		r, has := latest[img.ARN]
		if err := c.scanImage(ctx, img, r, has); err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", img.Name, err))
		}
	}
	for arn, r := range latest {
		if !present[arn] {
			if err := c.execute(ctx, c.policy.DecideVanished(r, c.now())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ScanImage brings the rollouts of one image in line with its tags, as Scan does for every
// image: what a tag event asks for. It reads the image's tags from AppStream (never from the
// event) and is idempotent, so a replayed or forged event at worst reads an image sooner.
func (c *Controller) ScanImage(ctx context.Context, name string) error {
	gen := c.settled.Load()
	img, ok, err := c.aws.Image(ctx, name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.settled.Load() != gen {
		// As in Scan: a rollout ended while the tags were read; read them anew.
		if img, ok, err = c.aws.Image(ctx, name); err != nil {
			return err
		}
	}
	latest, err := c.store.LatestRollouts(ctx)
	if err != nil {
		return err
	}
	if !ok {
		for _, r := range latest {
			if r.ImageName == name {
				return c.execute(ctx, c.policy.DecideVanished(r, c.now()))
			}
		}
		return nil
	}
	r, has := latest[img.ARN]
	return c.scanImage(ctx, img, r, has)
}

// scanImage builds the image's snapshot, reading the fleets only when the decision asks for
// them, and executes the decision.
func (c *Controller) scanImage(ctx context.Context, img Image, r Rollout, has bool) error {
	in := ImageInput{Now: c.now(), Image: img, Latest: r, HasLatest: has}
	for range 3 {
		cmd := c.policy.DecideImage(in)
		switch {
		case cmd.NeedFleets:
			active, err := c.store.ActiveRollouts(ctx)
			if err != nil {
				return err
			}
			fleets, err := c.aws.Fleets(ctx, cmd.FleetNames)
			if err != nil {
				return err // AWS trouble: try again at the next scan, nothing recorded
			}
			in.Active, in.Fleets, in.FleetsRead = active, fleets, true
		case cmd.NeedFleetTags:
			in.FleetTags = map[string]map[string]string{}
			for _, name := range cmd.FleetNames {
				tags, err := c.aws.FleetTags(ctx, in.Fleets[name].ARN)
				if err != nil {
					return err
				}
				in.FleetTags[name] = tags
			}
		default:
			return c.execute(ctx, cmd)
		}
	}
	return fmt.Errorf("image %s: the decision kept asking for more to read", img.Name)
}

// execute performs a rollout-level command: the image call and the commit, in the order it
// says, with the call recorded in the history.
func (c *Controller) execute(ctx context.Context, cmd Command) error {
	if cmd.Change == nil && cmd.Action.None() {
		return nil
	}
	act := func() error {
		if cmd.Action.None() {
			return nil
		}
		var err error
		if len(cmd.Action.Tag) > 0 {
			err = c.aws.TagResource(ctx, cmd.Action.ARN, cmd.Action.Tag)
		} else {
			err = c.aws.UntagResource(ctx, cmd.Action.ARN, cmd.Action.Untag)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", cmd.Action, cmd.Action.ARN, err)
		}
		return nil
	}
	if cmd.ActFirst {
		if err := act(); err != nil {
			return err
		}
	}
	if cmd.Change != nil {
		if err := c.store.Apply(ctx, cmd.Change); err != nil {
			return err
		}
		if cmd.Log != "" {
			c.log.Info(cmd.Log, "image", imageOfChange(cmd.Change))
		}
	}
	if !cmd.ActFirst {
		return act()
	}
	return nil
}

func imageOfChange(ch *Change) string {
	switch {
	case ch.Create != nil:
		return ch.Create.ImageName
	case ch.Update != nil:
		return ch.Update.ImageName
	}
	return ""
}

// pass is what one steps pass read: everything the decisions need, read in a few batched calls.
type pass struct {
	now     time.Time
	active  []Rollout
	byID    map[int64]*Rollout
	fleets  map[string]Fleet
	targets map[string]Target
	// scheduled are the scheduled actions of fleets being restored (or that may be this pass).
	scheduled    map[string][]ScheduledAction
	scheduledErr map[string]error
	// sessions are the sessions of fleets whose steps follow them (StepSessions).
	sessions map[string][]Session
	saved    map[string]SavedCapacity
	tags     map[string]Capacity // Min/Max from fleet tags, read only for fleets at 0/0 with none saved
	images   map[int64]Image
	found    map[int64]bool
	busy     map[StepKey]string
	holder   map[string]int64
	// batch holds the writes that come with no AWS call, committed together; before any call
	// it is committed first, so that a step's intent is always written before it acts.
	batch Change
}

// runSteps advances every step due now (or within a short horizon, so that steps due a few
// milliseconds apart share one pass and one read), then settles the rollouts. It returns when a
// step is next due; a zero time with an error means the pass as a whole failed.
func (c *Controller) runSteps(ctx context.Context) (time.Time, error) {
	active, err := c.store.ActiveRollouts(ctx)
	if err != nil {
		return time.Time{}, err
	}
	p := &pass{now: c.now(), active: active, byID: map[int64]*Rollout{}}
	horizon := min(maxHorizon, c.cfg.DrainPollInterval/4)
	var due []*Step
	for i := range active {
		r := &active[i]
		p.byID[r.ID] = r
		for j := range r.Steps {
			s := &r.Steps[j]
			if !s.State.Final() && released(*r, *s) && !c.readyAt(r.ID, *s).After(p.now.Add(horizon)) {
				due = append(due, s)
			}
		}
	}
	var errs []error
	if len(due) > 0 {
		if err := c.read(ctx, p, due); err != nil {
			return time.Time{}, err
		}
		// Started steps first: a restore must never wait behind new work.
		sort.SliceStable(due, func(i, j int) bool { return due[i].State.Started() && !due[j].State.Started() })
		var calls []stepCall
		calling := map[string]bool{}
		for _, s := range due {
			call, ok := c.advance(p, s)
			if !ok || calling[s.Fleet] {
				continue // a fleet gets at most one call a pass; the other is decided again next pass
			}
			calling[s.Fleet] = true
			calls = append(calls, call)
		}
		// Every decision taken so far is written before any call is made.
		if err := c.flush(ctx, p); err != nil {
			return time.Time{}, err
		}
		if err := c.callAll(ctx, p, calls); err != nil {
			errs = append(errs, err)
		}
	}
	var next time.Time
	for i := range active {
		r := &active[i]
		if err := c.settle(ctx, p.now, r); err != nil {
			errs = append(errs, fmt.Errorf("rollout %d: %w", r.ID, err))
		}
		for _, s := range r.Steps {
			if s.State.Final() || !released(*r, s) {
				continue
			}
			at := c.readyAt(r.ID, s)
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if r.State.Active() && r.Progressive() && !r.NextAt.IsZero() && (next.IsZero() || r.NextAt.Before(next)) {
			next = r.NextAt // a gate's next check or the end of a bake
		}
	}
	if next.IsZero() {
		next = p.now.Add(c.cfg.PollInterval)
	}
	return next, errors.Join(errs...)
}

// needsImage reports whether a step reads its rollout's image (to start, or to apply it);
// drains, restores and rollbacks do not, so a failing image read never delays them.
func needsImage(s Step) bool {
	return !s.RollingBack && (s.State == StepWaiting || s.State == StepApplying)
}

// readyAt is when a step may next be looked at: its NextAt, or later while its fleet (or, for a
// step that needs the image, its rollout) is held back after a failed read.
func (c *Controller) readyAt(rolloutID int64, s Step) time.Time {
	at := s.NextAt
	if h, ok := c.held[fleetKey(s.Fleet)]; ok && h.until.After(at) {
		at = h.until
	}
	if h, ok := c.held[rolloutKey(rolloutID)]; ok && h.until.After(at) && needsImage(s) {
		at = h.until
	}
	return at
}

func fleetKey(name string) string { return "fleet/" + name }
func rolloutKey(id int64) string  { return fmt.Sprintf("rollout/%d", id) }
func (c *Controller) heldBack(key string, at time.Time) bool {
	h, ok := c.held[key]
	return ok && h.until.After(at)
}

// holdBack delays the next look at key after a failed read, on the loop schedule.
func (c *Controller) holdBack(key string, now time.Time, err error) {
	c.holdBackAtMost(key, now, err, 0)
}

// holdBackAtMost is holdBack with the delay capped at most (0: no cap): a fleet at or near
// 0/0 is read again within a drain poll however often its reads fail, because its restore
// waits on the read.
func (c *Controller) holdBackAtMost(key string, now time.Time, err error, most time.Duration) {
	h := c.held[key]
	h.failures++
	d := fault.Loop.Delay(h.failures, fault.Classify(err))
	if most > 0 {
		d = min(d, most)
	}
	h.until = now.Add(d)
	h.cause = err.Error()
	c.held[key] = h
	c.log.Warn("read failed; holding back", "what", key, "failures", h.failures, "retry_in", h.until.Sub(now), "err", err)
}

// read fills the pass with the world as the due steps need it, in a few batched calls. A batch
// that fails is read again name by name (by the adapter), so that one failing fleet holds back
// only its own step.
func (c *Controller) read(ctx context.Context, p *pass, due []*Step) error {
	names := make([]string, 0, len(due))
	seen := map[string]bool{}
	needImage := map[int64]bool{}
	urgent := map[string]bool{} // fleets drained or being restored
	holdBack := func(name string, err error) {
		most := time.Duration(0)
		if urgent[name] {
			most = c.cfg.DrainPollInterval
		}
		c.holdBackAtMost(fleetKey(name), p.now, err, most)
	}
	for _, s := range due {
		if s.State == StepDraining || s.State == StepRestoring {
			urgent[s.Fleet] = true
		}
		if !seen[s.Fleet] {
			seen[s.Fleet] = true
			names = append(names, s.Fleet)
		}
		if needsImage(*s) {
			needImage[s.RolloutID] = true
		}
	}
	sort.Strings(names)
	var err error
	var failed FleetErrors
	if p.fleets, err = c.aws.Fleets(ctx, names); err != nil {
		if !errors.As(err, &failed) {
			return fmt.Errorf("describe fleets: %w", err)
		}
	}
	for name, ferr := range failed {
		holdBack(name, ferr)
	}
	failed = nil
	if p.targets, err = c.scaler.Targets(ctx, names); err != nil {
		if !errors.As(err, &failed) {
			return fmt.Errorf("describe scalable targets: %w", err)
		}
	}
	for name, terr := range failed {
		holdBack(name, terr)
	}
	if p.saved, err = c.store.SavedFor(ctx, c.cfg.Account, c.cfg.Region, names); err != nil {
		return err
	}
	c.readScheduled(ctx, p, due)
	p.sessions = map[string][]Session{}
	for _, s := range due {
		if s.State != StepSessions || c.heldBack(fleetKey(s.Fleet), p.now) {
			continue
		}
		if _, done := p.sessions[s.Fleet]; done {
			continue
		}
		ss, err := c.aws.Sessions(ctx, s.Fleet)
		if err != nil {
			holdBack(s.Fleet, fmt.Errorf("describe sessions: %w", err))
			continue
		}
		p.sessions[s.Fleet] = ss
	}
	p.tags = map[string]Capacity{}
	for _, name := range names {
		f, ok := p.fleets[name]
		t, tok := p.targets[name]
		sc, sok := p.saved[name]
		if !ok || !tok || t.Capacity != (Capacity{}) || (sok && sc.Max > 0) || c.heldBack(fleetKey(name), p.now) {
			continue
		}
		tags, err := c.aws.FleetTags(ctx, f.ARN)
		if err != nil {
			holdBack(name, err)
			continue
		}
		if lo, hi, ok := ParseSaved(tags, c.cfg.Keys); ok {
			p.tags[name] = Capacity{lo, hi}
		}
	}
	p.images, p.found = map[int64]Image{}, map[int64]bool{}
	for id := range needImage {
		r := p.byID[id]
		img, ok, err := c.aws.ImageState(ctx, r.ImageName)
		if err != nil {
			c.holdBack(rolloutKey(id), p.now, fmt.Errorf("describe image %s: %w", r.ImageName, err))
			continue
		}
		p.images[id], p.found[id] = img, ok && img.ARN == r.ImageARN // a new image with the same name is another image
		delete(c.held, rolloutKey(id))
	}
	keys := make([]StepKey, len(due))
	for i, s := range due {
		keys[i] = StepKey{s.RolloutID, s.Fleet}
	}
	p.busy, p.holder = Admit(p.active, keys, p.now, c.cfg.MaxParallel)
	return nil
}

// world is what the pass read about one step's fleet.
func (c *Controller) world(p *pass, r *Rollout, s *Step) World {
	w := World{Now: p.now, Image: p.images[r.ID], ImageFound: p.found[r.ID]}
	w.Fleet, w.FleetFound = p.fleets[s.Fleet]
	w.Sessions, w.SessionsRead = p.sessions[s.Fleet]
	t, ok := p.targets[s.Fleet]
	w.Target, w.Suspended, w.TargetFound = t.Capacity, t.Suspended, ok
	if sched, read := p.scheduled[s.Fleet]; read || p.scheduledErr[s.Fleet] != nil {
		w.Scheduled, w.ScheduledErr = sched, p.scheduledErr[s.Fleet]
	} else {
		w.ScheduledUnread = true
	}
	w.Saved, w.SavedFound = p.saved[s.Fleet]
	w.TagSaved, w.TagSavedFound = p.tags[s.Fleet]
	w.Busy = p.busy[StepKey{r.ID, s.Fleet}]
	if id, ok := p.holder[s.Fleet]; ok && id != r.ID {
		w.Held = true
	}
	return w
}

// advance decides one step, and again while a decision moves it on without an AWS call (up
// to maxChain). It returns the call the last decision asks for, if any; the decisions before it
// are in the pass's batch.
func (c *Controller) advance(p *pass, s *Step) (stepCall, bool) {
	r := p.byID[s.RolloutID]
	if h, held := c.held[fleetKey(s.Fleet)]; held && h.until.After(p.now) {
		// Its read failed this pass: nothing can be decided about the fleet, but a drained
		// fleet that stays unreadable is escalated.
		params := Params{DrainTimeout: c.cfg.DrainTimeout}
		n, esc := Unreadable(*s, h.failures, h.cause, p.now, params)
		if esc != EscalateNone {
			p.batch.Steps = append(p.batch.Steps, n)
			p.batch.Deliveries = append(p.batch.Deliveries, c.stepNotices(r, *s, n, Decision{}, esc, p.now)...)
			p.batch.Events = append(p.batch.Events, c.fleetEvent(r, n, history.Escalated, n.Message, p.now))
			*s = n
		}
		return stepCall{}, false
	}
	if _, ok := p.images[r.ID]; !ok && needsImage(*s) {
		return stepCall{}, false // needs the image, which could not be read; drains and restores do not
	}
	delete(c.held, fleetKey(s.Fleet))
	w := c.world(p, r, s)
	params := Params{ImageARN: r.ImageARN, ScaleImmediately: r.ScaleImmediately, PollInterval: c.cfg.PollInterval, DrainPollInterval: c.cfg.DrainPollInterval, DrainTimeout: c.cfg.DrainTimeout,
		SessionDeadline: c.cfg.SessionDeadline, DeadlineWarning: c.cfg.DeadlineWarning}
	for range maxChain {
		prev := *s
		d := Decide(prev, w, params)
		if d.Action != ActNone {
			return stepCall{r: r, s: s, w: w, d: d, params: params}, true
		}
		c.record(p, r, prev, d, w.Now)
		*s = d.Next
		if d.Save != nil {
			w.Saved, w.SavedFound = *d.Save, true
		}
		if d.Forget {
			w.Saved, w.SavedFound = SavedCapacity{}, false
		}
		if s.State.Final() || s.NextAt.After(p.now) || (s.State == prev.State && d.Save == nil && !d.Forget) {
			return stepCall{}, false
		}
	}
	return stepCall{}, false
}

// record adds a decision without an AWS call to the pass's batch.
func (c *Controller) record(p *pass, r *Rollout, prev Step, d Decision, now time.Time) {
	next, esc := resolved(prev, d.Next)
	c.observe(prev, next, now, false)
	d.Next = next
	p.batch.Steps = append(p.batch.Steps, next)
	if d.Save != nil {
		// Save never overwrites; a Change carries one Save, so a pass with several commits
		// them one by one.
		sc := *d.Save
		sc.Account, sc.Region = c.cfg.Account, c.cfg.Region
		p.batch.Saves = append(p.batch.Saves, sc)
	}
	if d.Forget {
		p.batch.Forget = append(p.batch.Forget, FleetRef{c.cfg.Account, c.cfg.Region, prev.Fleet})
	}
	p.batch.Events = append(p.batch.Events, c.stepEvents(r, prev, d, now)...)
	if esc == EscalateResolved {
		p.batch.Events = append(p.batch.Events, c.resolvedEvent(r, next, now))
	}
	p.batch.Deliveries = append(p.batch.Deliveries, c.stepNotices(r, prev, next, d, esc, now)...)
}

func (c *Controller) stepEvents(r *Rollout, prev Step, d Decision, now time.Time) []Event {
	if d.Event == "" {
		return nil
	}
	return []Event{c.fleetEvent(r, d.Next, history.Step, d.Event, now)}
}

// fleetEvent is a history event about one fleet of r, in the controller's account and region.
func (c *Controller) fleetEvent(r *Rollout, s Step, kind history.Kind, reason string, now time.Time) Event {
	return Event{At: now, Kind: kind, RolloutID: r.ID, Account: c.cfg.Account, Region: c.cfg.Region, Fleet: s.Fleet,
		State: string(s.State), Reason: reason}
}

func (c *Controller) resolvedEvent(r *Rollout, s Step, now time.Time) Event {
	return c.fleetEvent(r, s, history.Resolved, "the fleet has its Min/Max "+Capacity{s.SavedMin, s.SavedMax}.String()+" again", now)
}

func (c *Controller) stepNotices(r *Rollout, prev, next Step, d Decision, esc Escalation, now time.Time) []Delivery {
	var out []Delivery
	if next.State.Final() && !prev.State.Final() && c.cfg.PerFleetNotices && next.State != StepCancelled {
		out = append(out, c.policy.deliver(fleetNotice(*r, next))...)
	}
	if d.DrainTimedOut {
		out = append(out, c.policy.deliver(drainTimeoutNotice(*r, next, now))...)
	}
	if prev.WarnedAt.IsZero() && !next.WarnedAt.IsZero() {
		out = append(out, c.policy.deliver(deadlineWarningNotice(*r, next, sessionDeadline(next, Params{SessionDeadline: c.cfg.SessionDeadline, DeadlineWarning: c.cfg.DeadlineWarning})))...)
	}
	switch esc {
	case EscalateOpen, EscalateRemind:
		out = append(out, c.policy.deliver(escalationNotice(*r, next, esc, now))...)
	case EscalateResolved:
		out = append(out, c.policy.deliver(resolvedNotice(*r, next, prev.EscalatedAt, now))...)
	}
	return out
}

// flush commits the pass's batch.
func (c *Controller) flush(ctx context.Context, p *pass) error {
	b := p.batch
	p.batch = Change{}
	if len(b.Steps) == 0 && len(b.Events) == 0 && len(b.Deliveries) == 0 && len(b.Saves) == 0 && len(b.Forget) == 0 {
		return nil
	}
	return c.store.Apply(ctx, &b)
}

// stepCall is one step's decision that needs an AWS call, with what it was decided on.
type stepCall struct {
	r      *Rollout
	s      *Step
	w      World
	d      Decision
	params Params
}

// callResult is a stepCall made: the change that records its outcome and the step it leaves.
type callResult struct {
	call   stepCall
	change *Change
	next   Step
	err    error // the call's error, recorded in change
	// escalate is what the failure escalated (EscalateNone when the call succeeded).
	escalate Escalation
}

// maxConcurrentCalls bounds the AWS calls of one steps pass in flight at once: enough that
// 500 fleets coming back from 0/0 in one pass are restored within a drain poll, few enough to
// stay inside the services' request rates (the SDK backs off when throttled).
const maxConcurrentCalls = 8

// callAll makes the pass's calls, up to maxConcurrentCalls at a time, restores first (they are
// first in calls), and commits their outcomes as they come back: one transaction for all the
// outcomes that are ready together, so that the commits do not queue the calls behind fsyncs.
func (c *Controller) callAll(ctx context.Context, p *pass, calls []stepCall) error {
	if len(calls) == 0 {
		return nil
	}
	work := make(chan stepCall)
	results := make(chan callResult)
	var wg sync.WaitGroup
	for range min(maxConcurrentCalls, len(calls)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for call := range work {
				results <- c.makeCall(ctx, p.now, call)
			}
		}()
	}
	go func() {
		for _, call := range calls {
			work <- call
		}
		close(work)
		wg.Wait()
		close(results)
	}()
	var errs []error
	for res := range results {
		ready := []callResult{res}
	more:
		for {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				ready = append(ready, r)
			default:
				break more
			}
		}
		var ch Change
		for _, r := range ready {
			ch.Steps = append(ch.Steps, r.change.Steps...)
			ch.Events = append(ch.Events, r.change.Events...)
			ch.Saves = append(ch.Saves, r.change.Saves...)
			ch.Forget = append(ch.Forget, r.change.Forget...)
			ch.Deliveries = append(ch.Deliveries, r.change.Deliveries...)
		}
		if err := c.store.Apply(ctx, &ch); err != nil {
			// The calls were made but not recorded: the steps stay as stored and decide the
			// same (idempotent) calls again next pass.
			errs = append(errs, err)
			continue
		}
		for _, r := range ready {
			c.logCall(r)
			*r.call.s = r.next
		}
	}
	return errors.Join(errs...)
}

// makeCall makes one step's AWS call and builds the change that records its result (or its
// failure, decided by OnFailure).
func (c *Controller) makeCall(ctx context.Context, now time.Time, sc stepCall) callResult {
	r, s, d := sc.r, sc.s, sc.d
	err := c.perform(ctx, r, s, sc.w, d)
	call := Event{At: now, Kind: history.Call, RolloutID: r.ID, Account: c.cfg.Account, Region: c.cfg.Region, Fleet: s.Fleet,
		Call: d.Action.Call(), Result: history.ResultOK, Reason: d.Action.String()}
	if err != nil {
		class := fault.Classify(err)
		f := OnFailure(*s, d, class, err.Error(), now, sc.params)
		c.observe(*s, f.Next, now, false)
		call.Result, call.Error = class.String(), err.Error()
		ch := &Change{Steps: []Step{f.Next}, Events: []Event{call}}
		if f.Next.State != s.State {
			ch.Events = append(ch.Events, c.fleetEvent(r, f.Next, history.Step, f.Next.Message, now))
		}
		ch.Deliveries = c.stepNotices(r, *s, f.Next, Decision{}, f.Escalate, now)
		if f.Escalate == EscalateOpen || f.Escalate == EscalateRemind {
			ch.Events = append(ch.Events, c.fleetEvent(r, f.Next, history.Escalated, f.Next.Message, now))
		}
		return callResult{call: sc, change: ch, next: f.Next, err: err, escalate: f.Escalate}
	}
	prev := *s
	next, esc := resolved(prev, d.Next)
	c.observe(prev, next, c.now(), d.Action == ActRestore)
	ch := &Change{Steps: []Step{next}, Events: append([]Event{call}, c.stepEvents(r, prev, d, now)...)}
	if d.Save != nil {
		saved := *d.Save
		saved.Account, saved.Region = c.cfg.Account, c.cfg.Region
		ch.Saves = []SavedCapacity{saved}
	}
	if d.Forget {
		ch.Forget = []FleetRef{{c.cfg.Account, c.cfg.Region, s.Fleet}}
	}
	ch.Deliveries = c.stepNotices(r, prev, next, d, esc, now)
	if esc == EscalateResolved {
		ch.Events = append(ch.Events, c.resolvedEvent(r, next, now))
	}
	return callResult{call: sc, change: ch, next: next}
}

// logCall logs a committed call outcome.
func (c *Controller) logCall(res callResult) {
	r, s, d := res.call.r, res.call.s, res.call.d
	if res.err != nil {
		c.log.Warn("rollout action failed", "rollout", r.ID, "fleet", s.Fleet, "action", d.Action.String(), "attempt", res.next.Attempts,
			"class", fault.Classify(res.err).String(), "retry_at", res.next.NextAt, "escalation", res.escalate, "err", res.err)
		return
	}
	c.log.Info("rollout step", "rollout", r.ID, "fleet", s.Fleet, "state", res.next.State, "action", d.Action.String(), "detail", d.Event)
}

func (c *Controller) perform(ctx context.Context, r *Rollout, s *Step, w World, d Decision) error {
	keys := c.cfg.Keys
	switch d.Action {
	case ActUpdateImage:
		if s.RollingBack {
			return c.aws.UpdateFleetImage(ctx, s.Fleet, s.PreviousImageARN)
		}
		return c.aws.UpdateFleetImage(ctx, s.Fleet, r.ImageARN)
	case ActTagSaved:
		return c.aws.TagResource(ctx, w.Fleet.ARN, map[string]string{
			keys.SavedMin: fmt.Sprint(d.Next.SavedMin), keys.SavedMax: fmt.Sprint(d.Next.SavedMax), keys.Status: "Pending",
		})
	case ActScaleToZero:
		return c.scaler.SetCapacity(ctx, s.Fleet, Capacity{}, suspendedAll)
	case ActRestore, ActRaise:
		return c.scaler.SetCapacity(ctx, s.Fleet, d.Capacity, d.Suspension)
	case ActUntagSaved:
		if !w.FleetFound {
			return nil
		}
		return c.aws.UntagResource(ctx, w.Fleet.ARN, []string{keys.SavedMin, keys.SavedMax, keys.Status})
	case ActDrainInstances, ActExpireSessions:
		// Each call is idempotent and the sessions are read again before the next decision,
		// so one that failed is simply made again.
		call := c.aws.DrainSessionInstance
		if d.Action == ActExpireSessions {
			call = c.aws.ExpireSession
		}
		var errs []error
		for _, id := range d.Sessions {
			if err := call(ctx, id); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// settle runs DecideRollout for a rollout, reading its image only when the decision asks.
func (c *Controller) settle(ctx context.Context, now time.Time, r *Rollout) error {
	in := RolloutInput{Now: now, Rollout: *r}
	cmd := c.policy.DecideRollout(in)
	for range 4 {
		if !cmd.NeedImage && !cmd.NeedHealth && !cmd.NeedFleetTags {
			break
		}
		if c.heldBack(rolloutKey(r.ID), now) {
			return nil
		}
		if err := c.readFor(ctx, r, cmd, &in); err != nil {
			c.holdBack(rolloutKey(r.ID), now, err)
			return err
		}
		cmd = c.policy.DecideRollout(in)
	}
	if cmd.NeedImage || cmd.NeedHealth || cmd.NeedFleetTags {
		return fmt.Errorf("rollout %d: the decision kept asking for more to read", r.ID)
	}
	if err := c.execute(ctx, cmd); err != nil {
		c.holdBack(rolloutKey(r.ID), now, err)
		return err
	}
	if cmd.Change != nil && cmd.Change.Update != nil {
		*r = *cmd.Change.Update
		c.settled.Add(1)
	}
	return nil
}

// readFor reads what a rollout-level decision asked for into in.
func (c *Controller) readFor(ctx context.Context, r *Rollout, cmd Command, in *RolloutInput) error {
	if cmd.NeedImage {
		img, ok, err := c.aws.Image(ctx, r.ImageName)
		if err != nil {
			return fmt.Errorf("describe image %s: %w", r.ImageName, err)
		}
		in.ImageRead, in.Image, in.ImageFound = true, img, ok
	}
	if !cmd.NeedHealth && !cmd.NeedFleetTags {
		return nil
	}
	fleets, err := c.aws.Fleets(ctx, cmd.FleetNames)
	if err != nil {
		return fmt.Errorf("describe fleets: %w", err) // a partial read too: a gate decides on every fleet
	}
	if cmd.NeedFleetTags {
		in.FleetTags = map[string]map[string]string{}
		for _, name := range cmd.FleetNames {
			f, ok := fleets[name]
			if !ok {
				continue // gone: the step fails when it runs
			}
			tags, err := c.aws.FleetTags(ctx, f.ARN)
			if err != nil {
				return fmt.Errorf("list tags of fleet %s: %w", name, err)
			}
			in.FleetTags[name] = tags
		}
		in.FleetTagsRead = true
	}
	if cmd.NeedHealth {
		targets, err := c.scaler.Targets(ctx, cmd.FleetNames)
		if err != nil {
			return fmt.Errorf("describe scalable targets: %w", err)
		}
		h := WaveHealth{Fleets: fleets, Targets: targets, Checks: c.checkURLs(ctx, r.ImageName, cmd.FleetNames, fleets)}
		in.Health, in.HealthRead = HealthProblems(*r, r.Wave, h), true
	}
	return nil
}

// checkURLs asks the admins' check_url about each existing fleet, a few at a time; nil when no
// check_url is set.
func (c *Controller) checkURLs(ctx context.Context, image string, names []string, fleets map[string]Fleet) map[string]error {
	if c.cfg.Health == nil {
		return nil
	}
	out := make(map[string]error, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxConcurrentCalls)
	for _, name := range names {
		if _, ok := fleets[name]; !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := c.cfg.Health.Check(ctx, name, image)
			mu.Lock()
			out[name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Request performs a person's request on rollout id (approve, cancel, rollback) and returns
// the rollout as committed. It returns an error wrapping ErrNoRollout or ErrConflict when the
// request cannot apply; nothing is changed then.
func (c *Controller) Request(ctx context.Context, id int64, kind RequestKind, by string) (Rollout, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok, err := c.store.Rollout(ctx, id)
	if err != nil {
		return Rollout{}, err
	}
	if !ok {
		return Rollout{}, fmt.Errorf("%w: rollout %d", ErrNoRollout, id)
	}
	cmd, err := c.policy.DecideRequest(r, kind, by, c.now())
	if err != nil {
		return r, err
	}
	if err := c.execute(ctx, cmd); err != nil {
		return r, err
	}
	if cmd.Change != nil && cmd.Change.Update != nil {
		c.settled.Add(1)
		c.stepsAt = time.Time{} // the steps pass picks the change up at once
	}
	if r, _, err = c.store.Rollout(ctx, id); err != nil {
		return Rollout{}, err
	}
	c.log.Info("request", "rollout", id, "kind", kind, "by", by, "detail", cmd.Log)
	return r, nil
}

// Plan returns r's waves as planned, with when each is expected to start.
func (c *Controller) Plan(r Rollout) []WavePlan { return PlanWaves(r, c.cfg.Waves) }

// DryRun is what the scan would decide about an image carrying tags, computed the scan's own
// way (DecideImage with the controller's policy, reading the fleets and their tags as asked),
// with nothing committed and no call that changes AWS.
type DryRun struct {
	// Rollout is the rollout the scan would plan, or record as refused (State Refused,
	// Reason saying why).
	Rollout Rollout
	// Reasons are the problems of a refusal, one per entry.
	Reasons []string
	// Superseded are the steps of other rollouts the plan would cancel; Active the active
	// rollouts the decision was made against.
	Superseded []Step
	Active     []Rollout
	// Fleets are the fleets read, by name; Zones each planned fleet's window's time zone.
	Fleets map[string]Fleet
	Zones  map[string]*time.Location
}

// DryRun decides, without acting, what tagging img with tags would do now: the rollout the
// next scan would plan, with its waves and window openings, or its refusal.
func (c *Controller) DryRun(ctx context.Context, img Image, tags map[string]string) (DryRun, error) {
	active, err := c.store.ActiveRollouts(ctx)
	if err != nil {
		return DryRun{}, err
	}
	img.Tags = tags
	in := ImageInput{Now: c.now(), Image: img, Active: active}
	for range 4 {
		cmd := c.policy.DecideImage(in)
		switch {
		case cmd.NeedFleets:
			if in.Fleets, err = c.aws.Fleets(ctx, cmd.FleetNames); err != nil {
				return DryRun{}, fmt.Errorf("read fleets: %w", err)
			}
			in.FleetsRead = true
		case cmd.NeedFleetTags:
			in.FleetTags = map[string]map[string]string{}
			for _, name := range cmd.FleetNames {
				t, err := c.aws.FleetTags(ctx, in.Fleets[name].ARN)
				if err != nil {
					return DryRun{}, fmt.Errorf("read the tags of fleet %s: %w", name, err)
				}
				in.FleetTags[name] = t
			}
		case cmd.Change == nil || cmd.Change.Create == nil:
			return DryRun{}, fmt.Errorf("image %s: the tags ask for no rollout", img.Name)
		default:
			out := DryRun{Rollout: *cmd.Change.Create, Reasons: cmd.Reasons, Superseded: cmd.Change.Steps, Active: active, Fleets: in.Fleets, Zones: map[string]*time.Location{}}
			for _, s := range out.Rollout.Steps {
				if w, err := c.windowFor(s.Fleet, in.FleetTags[s.Fleet]); err == nil {
					out.Zones[s.Fleet] = w.Location()
				}
			}
			return out, nil
		}
	}
	return DryRun{}, fmt.Errorf("image %s: the decision kept asking for more to read", img.Name)
}

// readScheduled reads the scheduled actions of the fleets whose saved capacity was registered
// again (a restoring step whose target no longer has the drain's suspension). A restore never
// waits for them: it registers the saved pair at once, and the next pass applies what the
// schedule says, before the step ends. A failed read is recorded for the decision.
func (c *Controller) readScheduled(ctx context.Context, p *pass, due []*Step) {
	var names []string
	for _, s := range due {
		t, ok := p.targets[s.Fleet]
		restored := s.State == StepRestoring && ok && t.Suspended != suspendedAll
		if restored && !s.SavedSuspended.Scheduled && !slices.Contains(names, s.Fleet) {
			names = append(names, s.Fleet)
		}
	}
	p.scheduled = map[string][]ScheduledAction{}
	if len(names) == 0 {
		return
	}
	got, err := c.scaler.ScheduledActions(ctx, names)
	if err != nil {
		p.scheduledErr = map[string]error{}
		for _, n := range names {
			p.scheduledErr[n] = fmt.Errorf("describe scheduled actions: %w", err)
		}
		c.log.Warn("scheduled actions could not be read; retrying before the restores end", "fleets", len(names), "err", err)
		return
	}
	for _, n := range names {
		p.scheduled[n] = got[n]
		if p.scheduled[n] == nil {
			p.scheduled[n] = []ScheduledAction{}
		}
	}
}
