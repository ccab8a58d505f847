package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/notice"
	"github.com/deskpilot/deskpilot/internal/window"
)

// Defaults for Config's durations.
const (
	DefaultScanInterval      = 60 * time.Second
	DefaultPollInterval      = 10 * time.Second
	DefaultDrainPollInterval = 5 * time.Second
	DefaultDrainTimeout      = 2 * time.Hour
	DefaultStartMargin       = 30 * time.Minute
	DefaultMaxParallel       = 10
	// maxBackoff caps the wait between retries of a failing AWS call.
	maxBackoff = 5 * time.Minute
)

// Config is what the controller needs from deskpilot's configuration.
type Config struct {
	Keys          TagKeys
	DefaultWindow window.Window
	FleetWindows  map[string]window.Window
	ScanInterval  time.Duration
	PollInterval  time.Duration
	// DrainPollInterval is how often a draining fleet is checked: restore follows
	// Available == 0 within it.
	DrainPollInterval time.Duration
	DrainTimeout      time.Duration
	StartMargin       time.Duration
	MaxParallel       int
	// Senders are the names of the notification senders; each notice is enqueued once per
	// sender.
	Senders []string
	// PerFleetNotices sends one notice per fleet result besides the rollout's summary.
	PerFleetNotices bool
}

func (c *Config) defaults() {
	if c.Keys == (TagKeys{}) {
		c.Keys = DefaultTagKeys()
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
	set(&c.StartMargin, DefaultStartMargin)
	if c.MaxParallel <= 0 {
		c.MaxParallel = DefaultMaxParallel
	}
}

// Controller drives rollouts. It is level-triggered: every pass reads the store and AWS,
// decides with pure functions, acts, and writes the result; timers are data (Step.NextAt), so
// a restart at any instant resumes exactly where the store says.
type Controller struct {
	cfg      Config
	aws      AppStream
	scaler   Scaler
	store    Store
	now      func() time.Time
	log      *slog.Logger
	planner  Planner
	lastScan time.Time
}

// New returns a controller. now is its clock (tests pass a fake one).
func New(cfg Config, as AppStream, scaler Scaler, store Store, now func() time.Time, log *slog.Logger) *Controller {
	cfg.defaults()
	c := &Controller{cfg: cfg, aws: as, scaler: scaler, store: store, now: now, log: log}
	c.planner = Planner{Keys: cfg.Keys, Margin: cfg.StartMargin, WindowFor: c.windowFor}
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

// Reconcile runs one pass: a scan of the images if one is due, then every due step, then the
// rollouts whose steps all ended. It returns when the next pass is due.
func (c *Controller) Reconcile(ctx context.Context) (time.Time, error) {
	now := c.now()
	var errs []error
	if c.lastScan.IsZero() || !now.Before(c.lastScan.Add(c.cfg.ScanInterval)) {
		// A failed scan is tried again at the next interval, like a successful one: AWS
		// trouble must not turn into a tight loop of calls.
		if err := c.Scan(ctx); err != nil {
			errs = append(errs, fmt.Errorf("scan: %w", err))
		}
		c.lastScan = now
	}
	next, err := c.runSteps(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	scanAt := c.lastScan.Add(c.cfg.ScanInterval)
	if next.IsZero() || scanAt.Before(next) {
		next = scanAt
	}
	return next, errors.Join(errs...)
}

// Scan reads every image's tags and brings the store's rollouts in line with them: new
// requests are planned (or refused), changed ones replanned, removed ones cancelled.
func (c *Controller) Scan(ctx context.Context) error {
	images, err := c.aws.Images(ctx)
	if err != nil {
		return err
	}
	latest, err := c.store.LatestRollouts(ctx)
	if err != nil {
		return err
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
	var errs []error
	for _, img := range images {
		r, has := latest[img.ARN]
		if err := c.scanImage(ctx, img, r, has); err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", img.Name, err))
		}
	}
	// An image that disappeared cancels its pending rollout.
	present := map[string]bool{}
	for _, img := range images {
		present[img.ARN] = true
	}
	for arn, r := range latest {
		if !present[arn] && r.State == Pending {
			if err := c.cancel(ctx, r, Cancelled, "the image no longer exists", nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) scanImage(ctx context.Context, img Image, r Rollout, has bool) error {
	keys := c.cfg.Keys
	req, tagged, perr := ParseRequest(img.Tags, keys)
	if !tagged {
		switch {
		case has && r.State == Pending:
			return c.cancel(ctx, r, Cancelled, "the "+keys.FleetName+" tag was removed", &img)
		case has && r.State == Running:
			return c.cancelWaiting(ctx, r, "the "+keys.FleetName+" tag was removed after the rollout started; fleets not yet started are cancelled")
		case has && !r.TagCleared:
			r.TagCleared, r.UpdatedAt = true, c.now()
			if err := c.store.Apply(ctx, &Change{Update: &r}); err != nil {
				return err
			}
			return c.clearOwnStatus(ctx, img)
		}
		return nil
	}
	same := has && r.FleetTag == req.FleetTag && r.ScaleImmediately == req.ScaleImmediately
	switch {
	case has && r.State.Active() && same:
		return c.ensureAnnounced(ctx, img, r)
	case has && r.State == Running:
		// A started rollout finishes as planned; the new value is planned once it has.
		return nil
	case same && !r.TagCleared:
		// Already handled (done, failed or refused). A refusal's notice is enqueued again
		// (a no-op once it is there) in case a crash came between recording and enqueueing.
		if r.State == Refused {
			return c.store.Apply(ctx, &Change{Deliveries: c.deliver(refusedNotice(r, keys))})
		}
		return nil
	}
	var replaced *Rollout
	if has && r.State == Pending {
		old := r
		replaced = &old
		if err := c.cancel(ctx, r, Superseded, fmt.Sprintf("replanned: the %s tag changed to %q", keys.FleetName, req.FleetTag), nil); err != nil {
			return err
		}
	}
	return c.plan(ctx, img, req, perr, replaced)
}

// plan creates a rollout for a request, or records its refusal.
func (c *Controller) plan(ctx context.Context, img Image, req Request, perr error, replaced *Rollout) error {
	now := c.now()
	r := Rollout{ImageName: img.Name, ImageARN: img.ARN, FleetTag: req.FleetTag, ScaleImmediately: req.ScaleImmediately, CreatedAt: now, UpdatedAt: now}
	var steps []Step
	err := perr
	if err == nil {
		var fleets map[string]Fleet
		if len(req.Prefixes) > 0 {
			// Prefixes need every fleet's name; a nil list describes them all.
			if fleets, err = c.aws.Fleets(ctx, nil); err != nil {
				return err
			}
			if req, err = expandPrefixes(req, fleets); err != nil {
				return c.refuse(ctx, r, err, img)
			}
		} else if fleets, err = c.aws.Fleets(ctx, req.Fleets); err != nil {
			return err // AWS trouble: try again at the next scan, nothing recorded
		}
		tags := map[string]map[string]string{}
		for _, name := range req.Fleets {
			if f, ok := fleets[name]; ok {
				if tags[name], err = c.aws.FleetTags(ctx, f.ARN); err != nil {
					return err
				}
			}
		}
		steps, r.Start, err = c.planner.Plan(req, img, fleets, tags, now)
	}
	if err != nil {
		return c.refuse(ctx, r, err, img)
	}
	r.State, r.Steps = Pending, steps
	r.Reason = "waiting for the window opening at " + r.Start.UTC().Format(time.RFC3339)
	ch := &Change{Create: &r, Events: []Event{{At: now, Kind: "planned", Message: fmt.Sprintf("image %s to %s, drain %v, start %s", img.Name, req.FleetTag, req.ScaleImmediately, r.Start.UTC().Format(time.RFC3339))}}}
	superseded, err := c.supersede(ctx, r, now)
	if err != nil {
		return err
	}
	ch.Steps = append(ch.Steps, superseded...)
	if err := c.store.Apply(ctx, ch); err != nil {
		return err
	}
	c.log.Info("rollout planned", "image", img.Name, "rollout", r.ID, "fleets", req.Fleets, "start", r.Start)
	if err := c.store.Apply(ctx, &Change{Deliveries: c.deliver(pendingNotice(r, c.cfg.Keys, c.zoneOf, replaced))}); err != nil {
		return err
	}
	return c.ensureAnnounced(ctx, img, r)
}

// refuse records a request that cannot be planned, and tells the admins why. img is the image
// as the scan read it.
func (c *Controller) refuse(ctx context.Context, r Rollout, why error, img Image) error {
	r.State, r.Reason = Refused, why.Error()
	ch := &Change{Create: &r, Events: []Event{{At: r.CreatedAt, Kind: "refused", Message: r.Reason}}}
	if err := c.store.Apply(ctx, ch); err != nil {
		return err
	}
	c.log.Warn("rollout refused", "image", r.ImageName, "rollout", r.ID, "reason", r.Reason)
	if err := c.store.Apply(ctx, &Change{Deliveries: c.deliver(refusedNotice(r, c.cfg.Keys))}); err != nil {
		return err
	}
	// A replan that is refused must not leave the earlier plan's Pending status on the image.
	return c.clearOwnStatus(ctx, img)
}

// expandPrefixes adds the fleets each prefix selects to the request's names, in name order.
// A prefix that selects no fleet is an error: it is probably a typo.
func expandPrefixes(req Request, fleets map[string]Fleet) (Request, error) {
	names := make([]string, 0, len(fleets))
	for name := range fleets {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, n := range req.Fleets {
		seen[n] = true
	}
	var unmatched []string
	for _, p := range req.Prefixes {
		matched := false
		for _, name := range names {
			if strings.HasPrefix(name, p) {
				matched = true
				if !seen[name] {
					seen[name] = true
					req.Fleets = append(req.Fleets, name)
				}
			}
		}
		if !matched {
			unmatched = append(unmatched, fmt.Sprintf("no fleet name starts with %q (%s%s)", p, PrefixSelector, p))
		}
	}
	if len(unmatched) > 0 {
		return req, errors.New(strings.Join(unmatched, "; "))
	}
	return req, nil
}

// supersede cancels the not-yet-started steps that other rollouts have for the new rollout's
// fleets: a fleet is in at most one active rollout, and the newest tag wins. Started steps are
// left to finish; the new rollout's step waits for them.
func (c *Controller) supersede(ctx context.Context, r Rollout, now time.Time) ([]Step, error) {
	active, err := c.store.ActiveRollouts(ctx)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, s := range r.Steps {
		mine[s.Fleet] = true
	}
	var out []Step
	for _, other := range active {
		if other.ImageARN == r.ImageARN {
			continue
		}
		for _, s := range other.Steps {
			if mine[s.Fleet] && s.State == StepWaiting {
				s.State, s.FinishedAt, s.NextAt = StepCancelled, now, now
				s.Message = fmt.Sprintf("superseded by a newer rollout of image %s", r.ImageName)
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// ensureAnnounced makes the image show Status=Pending/<start> while its rollout is active, and
// the pending notice enqueued (both idempotent, so a crash between planning and announcing is
// repaired by the next scan).
func (c *Controller) ensureAnnounced(ctx context.Context, img Image, r Rollout) error {
	want := StatusPending(r.Start)
	if r.State == Pending {
		if err := c.store.Apply(ctx, &Change{Deliveries: c.deliver(pendingNotice(r, c.cfg.Keys, c.zoneOf, nil))}); err != nil {
			return err
		}
	}
	if img.Tags[c.cfg.Keys.Status] == want {
		return nil
	}
	return c.aws.TagResource(ctx, img.ARN, map[string]string{c.cfg.Keys.Status: want})
}

// clearOwnStatus removes a Status tag that deskpilot wrote (Pending/…), leaving others alone.
func (c *Controller) clearOwnStatus(ctx context.Context, img Image) error {
	if !strings.HasPrefix(img.Tags[c.cfg.Keys.Status], "Pending/") {
		return nil
	}
	return c.aws.UntagResource(ctx, img.ARN, []string{c.cfg.Keys.Status})
}

// cancel ends a pending rollout before any fleet started. img is the image as the scan read it,
// or nil when it is gone; a cancelled rollout's Pending status is removed from it.
func (c *Controller) cancel(ctx context.Context, r Rollout, to State, why string, img *Image) error {
	now := c.now()
	for i := range r.Steps {
		if r.Steps[i].State == StepWaiting {
			r.Steps[i].State, r.Steps[i].FinishedAt, r.Steps[i].Message = StepCancelled, now, why
		} else if r.Steps[i].State.Started() {
			// A step that touched its fleet finishes (a drained fleet is always restored).
			return c.cancelWaiting(ctx, r, why)
		}
	}
	r.State, r.Reason, r.UpdatedAt = to, why, now
	r.TagCleared = to == Cancelled
	ch := &Change{Update: &r, Steps: r.Steps, Events: []Event{{At: now, RolloutID: r.ID, Kind: string(to), Message: why}}}
	if to == Cancelled {
		ch.Deliveries = c.deliver(cancelledNotice(r, c.cfg.Keys))
	}
	if err := c.store.Apply(ctx, ch); err != nil {
		return err
	}
	c.log.Info("rollout "+string(to), "image", r.ImageName, "rollout", r.ID, "reason", why)
	if to != Cancelled || img == nil {
		return nil
	}
	return c.clearOwnStatus(ctx, *img)
}

// cancelWaiting cancels the steps of a running rollout that have not started.
func (c *Controller) cancelWaiting(ctx context.Context, r Rollout, why string) error {
	now := c.now()
	var changed []Step
	for _, s := range r.Steps {
		if s.State == StepWaiting {
			s.State, s.FinishedAt, s.Message = StepCancelled, now, why
			changed = append(changed, s)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return c.store.Apply(ctx, &Change{Steps: changed, Events: []Event{{At: now, RolloutID: r.ID, Kind: "cancelled", Message: why}}})
}

func (c *Controller) deliver(n notice.Notice) []Delivery {
	out := make([]Delivery, 0, len(c.cfg.Senders))
	for _, s := range c.cfg.Senders {
		out = append(out, Delivery{Sender: s, Notice: n})
	}
	return out
}

// runSteps advances every due step of every active rollout, then ends the rollouts whose
// steps are all final. It returns when a step is next due.
func (c *Controller) runSteps(ctx context.Context) (time.Time, error) {
	active, err := c.store.ActiveRollouts(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := c.now()
	started := 0
	owner := map[string]int64{} // fleet → rollout whose started step holds it
	var due []*Step
	byID := map[int64]*Rollout{}
	for i := range active {
		r := &active[i]
		byID[r.ID] = r
		for j := range r.Steps {
			s := &r.Steps[j]
			if s.State.Started() {
				started++
				owner[s.Fleet] = r.ID
			}
			if !s.State.Final() && !s.NextAt.After(now) {
				due = append(due, s)
			}
		}
	}
	// Started steps first: a restore must never wait behind new work.
	sort.SliceStable(due, func(i, j int) bool { return due[i].State.Started() && !due[j].State.Started() })

	var errs []error
	if len(due) > 0 {
		if err := c.advance(ctx, due, byID, owner, &started); err != nil {
			errs = append(errs, err)
		}
	}
	var next time.Time
	for i := range active {
		r := &active[i]
		if err := c.settle(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("rollout %d: %w", r.ID, err))
		}
		for _, s := range r.Steps {
			if !s.State.Final() && (next.IsZero() || s.NextAt.Before(next)) {
				next = s.NextAt
			}
		}
	}
	return next, errors.Join(errs...)
}

// advance reads the world for the due steps in a few batched calls and decides each step.
func (c *Controller) advance(ctx context.Context, due []*Step, byID map[int64]*Rollout, owner map[string]int64, started *int) error {
	names := make([]string, 0, len(due))
	seen := map[string]bool{}
	for _, s := range due {
		if !seen[s.Fleet] {
			seen[s.Fleet] = true
			names = append(names, s.Fleet)
		}
	}
	fleets, err := c.aws.Fleets(ctx, names)
	if err != nil {
		return fmt.Errorf("describe fleets: %w", err)
	}
	targets, err := c.scaler.Targets(ctx, names)
	if err != nil {
		return fmt.Errorf("describe scalable targets: %w", err)
	}
	images := map[int64]Image{}
	found := map[int64]bool{}
	imageErr := map[int64]error{}
	var errs []error
	for _, s := range due {
		r := byID[s.RolloutID]
		if _, ok := images[r.ID]; !ok && imageErr[r.ID] == nil {
			img, ok, err := c.aws.Image(ctx, r.ImageName)
			if err != nil {
				imageErr[r.ID] = err
				errs = append(errs, fmt.Errorf("describe image %s: %w", r.ImageName, err))
			} else {
				if ok && img.ARN != r.ImageARN {
					ok = false // a new image with the same name is another image
				}
				images[r.ID], found[r.ID] = img, ok
			}
		}
		if imageErr[r.ID] != nil && (s.State == StepWaiting || s.State == StepApplying) {
			continue // needs the image; the drains and restores below do not
		}
		w := World{Now: c.now(), Image: images[r.ID], ImageFound: found[r.ID]}
		w.Fleet, w.FleetFound = fleets[s.Fleet]
		w.Target, w.TargetFound = targets[s.Fleet]
		if w.Saved, w.SavedFound, err = c.store.SavedCapacity(ctx, s.Fleet); err != nil {
			return err
		}
		if s.State == StepSaving && !w.SavedFound && w.TargetFound && w.Target == (Capacity{}) && w.FleetFound {
			tags, err := c.aws.FleetTags(ctx, w.Fleet.ARN)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if lo, hi, ok := ParseSaved(tags, c.cfg.Keys); ok {
				w.TagSaved, w.TagSavedFound = Capacity{lo, hi}, true
			}
		}
		if s.State == StepWaiting {
			if id, ok := owner[s.Fleet]; ok && id != r.ID {
				w.Busy = fmt.Sprintf("the fleet is being updated by rollout #%d; waiting for it to finish", id)
			} else if *started >= c.cfg.MaxParallel {
				w.Busy = fmt.Sprintf("%d fleets are being updated (max_parallel); waiting for a free slot", *started)
			}
		}
		before := s.State
		if err := c.step(ctx, r, s, w); err != nil {
			errs = append(errs, fmt.Errorf("fleet %s: %w", s.Fleet, err))
		}
		if !before.Started() && s.State.Started() {
			*started++
			owner[s.Fleet] = r.ID
		}
		if before.Started() && s.State.Final() {
			*started--
			delete(owner, s.Fleet)
		}
	}
	return errors.Join(errs...)
}

// step decides one step, performs the action, and writes the result.
func (c *Controller) step(ctx context.Context, r *Rollout, s *Step, w World) error {
	p := Params{ScaleImmediately: r.ScaleImmediately, PollInterval: c.cfg.PollInterval, DrainPollInterval: c.cfg.DrainPollInterval, DrainTimeout: c.cfg.DrainTimeout}
	d := Decide(*s, w, p)
	if d.Action != ActNone {
		if err := c.perform(ctx, r, s, w, d); err != nil {
			return c.failedAction(ctx, r, s, w, d, err)
		}
	}
	ch := &Change{Steps: []Step{d.Next}, Save: d.Save}
	if d.Save != nil {
		ch.Steps[0].SavedMin, ch.Steps[0].SavedMax = d.Save.Min, d.Save.Max
	}
	if d.Forget {
		ch.Forget = []string{s.Fleet}
	}
	if d.Event != "" {
		ch.Events = []Event{{At: w.Now, RolloutID: r.ID, Fleet: s.Fleet, Kind: string(d.Next.State), Message: d.Event}}
	}
	if d.Next.State.Final() && c.cfg.PerFleetNotices && d.Next.State != StepCancelled {
		ch.Deliveries = c.deliver(fleetNotice(*r, d.Next))
	}
	if d.DrainTimedOut {
		ch.Deliveries = append(ch.Deliveries, c.deliver(drainTimeoutNotice(*r, d.Next, w.Now))...)
	}
	if err := c.store.Apply(ctx, ch); err != nil {
		return err
	}
	if d.Event != "" {
		c.log.Info("rollout step", "rollout", r.ID, "fleet", s.Fleet, "state", d.Next.State, "action", d.Action.String(), "msg", d.Event)
	}
	*s = ch.Steps[0]
	return nil
}

func (c *Controller) perform(ctx context.Context, r *Rollout, s *Step, w World, d Decision) error {
	keys := c.cfg.Keys
	switch d.Action {
	case ActUpdateImage:
		return c.aws.UpdateFleetImage(ctx, s.Fleet, r.ImageARN)
	case ActTagSaved:
		return c.aws.TagResource(ctx, w.Fleet.ARN, map[string]string{
			keys.SavedMin: fmt.Sprint(d.Next.SavedMin), keys.SavedMax: fmt.Sprint(d.Next.SavedMax), keys.Status: "Pending",
		})
	case ActScaleToZero:
		return c.scaler.SetCapacity(ctx, s.Fleet, Capacity{})
	case ActRestore:
		return c.scaler.SetCapacity(ctx, s.Fleet, d.Capacity)
	case ActUntagSaved:
		if !w.FleetFound {
			return nil
		}
		return c.aws.UntagResource(ctx, w.Fleet.ARN, []string{keys.SavedMin, keys.SavedMax, keys.Status})
	}
	return nil
}

// failedAction records a failed AWS call. Temporary failures are retried with backoff. A
// permanent failure fails a step that has not touched capacity; a step that drained the fleet
// goes on to restore it, and a restore is retried until it succeeds.
func (c *Controller) failedAction(ctx context.Context, r *Rollout, s *Step, w World, d Decision, err error) error {
	n := *s
	if d.Action == ActTagSaved {
		// The decision carried the saved Min/Max; a restore must use them, never zeros.
		n.SavedMin, n.SavedMax, n.DrainStartedAt = d.Next.SavedMin, d.Next.SavedMax, d.Next.DrainStartedAt
	}
	n.Attempts++
	n.Message = fmt.Sprintf("%s failed (attempt %d): %v", d.Action, n.Attempts, err)
	permanent := IsPermanent(err)
	switch {
	case permanent && d.Action == ActUpdateImage:
		n.State, n.FinishedAt, n.NextAt = StepFailed, w.Now, w.Now
	case permanent && (d.Action == ActScaleToZero || d.Action == ActTagSaved):
		n.State, n.NextAt = StepRestoring, w.Now
	default:
		n.NextAt = w.Now.Add(backoff(c.cfg.PollInterval, n.Attempts))
	}
	ch := &Change{Steps: []Step{n}, Events: []Event{{At: w.Now, RolloutID: r.ID, Fleet: s.Fleet, Kind: "error", Message: n.Message}}}
	if n.State == StepFailed && c.cfg.PerFleetNotices {
		ch.Deliveries = c.deliver(fleetNotice(*r, n))
	}
	if err := c.store.Apply(ctx, ch); err != nil {
		return err
	}
	c.log.Warn("rollout action failed", "rollout", r.ID, "fleet", s.Fleet, "action", d.Action.String(), "attempt", n.Attempts, "permanent", permanent, "err", err)
	*s = n
	return nil
}

func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// IsPermanent reports whether an error says that repeating the call cannot help. Adapters mark
// such errors with a Permanent() bool method.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// settle moves a rollout to running when a step started, and ends it when every step is final.
func (c *Controller) settle(ctx context.Context, r *Rollout) error {
	now := c.now()
	allFinal, anyStarted := true, false
	for _, s := range r.Steps {
		allFinal = allFinal && s.State.Final()
		anyStarted = anyStarted || s.State.Started() || s.State == StepDone || s.State == StepSkipped || s.State == StepFailed
	}
	if r.State == Pending && anyStarted {
		r.State, r.UpdatedAt, r.Reason = Running, now, "running"
		ch := &Change{Update: r, Events: []Event{{At: now, RolloutID: r.ID, Kind: "started", Message: "the window opened"}}, Deliveries: c.deliver(startedNotice(*r, now))}
		if err := c.store.Apply(ctx, ch); err != nil {
			return err
		}
	}
	if !allFinal || len(r.Steps) == 0 {
		return nil
	}
	return c.finish(ctx, r, now)
}

// finish ends a rollout whose steps are all final: it clears the image's tags as the recipe
// does on success (or marks it Failed), then records the end.
func (c *Controller) finish(ctx context.Context, r *Rollout, now time.Time) error {
	var done, failed int
	for _, s := range r.Steps {
		switch s.State {
		case StepDone, StepSkipped:
			done++
		case StepFailed:
			failed++
		}
	}
	keys := c.cfg.Keys
	img, ok, err := c.aws.Image(ctx, r.ImageName)
	if err != nil {
		return err
	}
	ok = ok && img.ARN == r.ImageARN
	switch {
	case failed > 0:
		r.State, r.Reason = Failed, fmt.Sprintf("%d of %d fleets failed", failed, len(r.Steps))
		if ok && !strings.HasPrefix(img.Tags[keys.Status], "Failed/") {
			if err := c.aws.TagResource(ctx, img.ARN, map[string]string{keys.Status: StatusFailed(now)}); err != nil {
				return err
			}
		}
	case done > 0:
		r.State, r.Reason, r.TagCleared = Succeeded, fmt.Sprintf("%d fleets run the image", done), true
		if ok {
			remove := []string{keys.Status}
			// Clear the request only if it is still the one that ran; a value changed during the
			// run is a new request, planned at the next scan.
			sameScale := strings.EqualFold(strings.TrimSpace(img.Tags[keys.ScaleImmediately]), "true") == r.ScaleImmediately
			if img.Tags[keys.FleetName] == r.FleetTag && sameScale {
				remove = append(remove, keys.FleetName, keys.ScaleImmediately)
			}
			if err := c.aws.UntagResource(ctx, img.ARN, remove); err != nil {
				return err
			}
		}
	default:
		r.State, r.Reason = Superseded, "every fleet was claimed by a newer rollout or cancelled"
		if ok {
			if err := c.clearOwnStatus(ctx, img); err != nil {
				return err
			}
		}
	}
	r.UpdatedAt = now
	ch := &Change{Update: r, Events: []Event{{At: now, RolloutID: r.ID, Kind: string(r.State), Message: r.Reason}}, Deliveries: c.deliver(finishedNotice(*r))}
	if err := c.store.Apply(ctx, ch); err != nil {
		return err
	}
	c.log.Info("rollout finished", "rollout", r.ID, "image", r.ImageName, "state", r.State, "reason", r.Reason)
	return nil
}
