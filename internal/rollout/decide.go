package rollout

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/notice"
)

// This file holds the decisions about whole rollouts. Like Decide for a step, each is a pure
// function of a snapshot and now that returns a Command: the change to commit and at most one
// AWS call. The controller's executor reads the snapshot, performs the call and commits; it
// decides nothing itself.

// Policy is what rollout-level decisions depend on besides the snapshot.
type Policy struct {
	Keys    TagKeys
	Planner Planner
	// Account and Region are where this controller's fleets are.
	Account, Region string
	// TargetInSubject ends each notice's subject with "(ACCOUNT/REGION)".
	TargetInSubject bool
	// Senders are the notification senders; every notice goes to each.
	Senders []string
	// ZoneOf is a fleet's window's time zone, for notices.
	ZoneOf func(fleet string) *time.Location
	// Waves are the settings of progressive rollouts.
	Waves WaveSettings
	// CheckEvery is how often a wave that is not healthy yet is checked again.
	CheckEvery time.Duration
	// SessionDeadline is rollouts.drain.session_deadline, for notices.
	SessionDeadline time.Duration
}

// ImageAction is the one AWS call a rollout-level decision may ask for: tags on the image.
type ImageAction struct {
	ARN   string
	Tag   map[string]string
	Untag []string
}

// None reports whether there is no call to make.
func (a ImageAction) None() bool { return len(a.Tag) == 0 && len(a.Untag) == 0 }

func (a ImageAction) String() string {
	switch {
	case len(a.Tag) > 0:
		return "TagResource"
	case len(a.Untag) > 0:
		return "UntagResource"
	}
	return "none"
}

// Command is a rollout-level decision.
type Command struct {
	// NeedFleets asks for the fleets to be read before deciding again (planning needs them):
	// FleetNames, or every fleet when FleetNames is nil.
	NeedFleets bool
	FleetNames []string
	// NeedFleetTags asks for the tags of FleetNames (a window may be set per fleet by tag).
	NeedFleetTags bool
	// NeedImage asks for the image to be read (with its tags) before deciding again.
	NeedImage bool
	// NeedHealth asks for the health of FleetNames (RolloutInput.Health).
	NeedHealth bool
	// Change is committed (nil: nothing to write).
	Change *Change
	// Action is made on the image. ActFirst makes it before the commit; otherwise after it.
	// A call made after the commit is repaired by the next scan if a crash comes between
	// (the image's Status follows the rollout's state); one made first is repeated.
	Action   ImageAction
	ActFirst bool
	// Log says what was decided, for the daemon's log.
	Log string
	// Reasons are a refusal's problems, one per entry (the refused rollout's Reason joins
	// them), for a dry run to list.
	Reasons []string
}

// ImageInput is the snapshot DecideImage reads: the image as the scan read it, its newest
// rollout, every active rollout, and (once asked for) the fleets the request names.
type ImageInput struct {
	Now       time.Time
	Image     Image
	Latest    Rollout
	HasLatest bool
	Active    []Rollout
	// FleetsRead says Fleets were read as a Command asked; FleetTags is non-nil once the tags
	// were read.
	FleetsRead bool
	Fleets     map[string]Fleet
	FleetTags  map[string]map[string]string
}

// DecideImage brings one image's rollouts in line with its tags: a new request is planned (or
// refused), a changed one replanned (the pending plan superseded), a removed one cancelled; an
// unchanged one only has the image's Status repaired if a crash left it behind.
func (p Policy) DecideImage(in ImageInput) Command {
	keys := p.Keys
	img, r, has := in.Image, in.Latest, in.HasLatest
	req, tagged, perr := ParseRequest(img.Tags, keys)
	if !tagged {
		why := "the " + keys.FleetName + " tag was removed"
		switch {
		case has && r.State == Pending:
			return p.cancel(r, why, img.ARN, img.Tags, in.Now)
		case has && r.State == Running && r.Gate == GateRollingBack:
			return Command{} // a rollback finishes whatever the tags say
		case has && r.State == Running:
			return p.stop(r, why+" after the rollout started; fleets not yet started are cancelled", in.Now)
		case has && !r.TagCleared:
			r.TagCleared, r.UpdatedAt = true, in.Now
			return Command{Change: &Change{Update: &r}, Action: clearOwnStatus(img.ARN, img.Tags, keys), Log: "tag removed after the rollout ended"}
		case has:
			return Command{Action: p.repairStatus(img, r)}
		}
		return Command{}
	}
	same := has && req.sameShape(r)
	switch {
	case has && r.State.Active() && same && Approves(img.Tags, keys) && r.Approval && !r.Approved:
		return p.approve(img, r, "the "+keys.Approve+" tag", in.Now)
	case has && r.State.Active() && same:
		return Command{Action: p.repairStatus(img, r)}
	case has && r.State == Running:
		// A started rollout finishes as planned; the new value is planned once it has.
		return Command{}
	case same && !r.TagCleared:
		// Already handled (done, failed or refused).
		return Command{Action: p.repairStatus(img, r)}
	}
	if perr == nil && !in.FleetsRead {
		if len(req.Prefixes) > 0 {
			return Command{NeedFleets: true} // prefixes need every fleet's name
		}
		return Command{NeedFleets: true, FleetNames: req.Fleets}
	}
	if perr == nil && in.FleetTags == nil {
		names := req.Fleets
		if len(req.Prefixes) > 0 {
			expanded, _ := expandPrefixes(req, in.Fleets) // an unmatched prefix is refused below
			names = expanded.Fleets
		}
		var existing []string
		for _, n := range names {
			if _, ok := in.Fleets[n]; ok {
				existing = append(existing, n)
			}
		}
		return Command{NeedFleetTags: true, FleetNames: existing}
	}
	return p.plan(in, req, perr)
}

// plan creates a rollout for a request, or records its refusal, superseding the image's pending
// plan if there is one. The notice is committed with the rollout it announces.
func (p Policy) plan(in ImageInput, req Request, perr error) Command {
	now, img, keys := in.Now, in.Image, p.Keys
	created := now
	if in.HasLatest && !in.Latest.CreatedAt.Before(created) {
		// Notice ids are keyed by the creation time; two plans of one image in one instant
		// (a manual clock) must still differ.
		created = in.Latest.CreatedAt.Add(time.Millisecond)
	}
	nr := Rollout{Account: p.Account, Region: p.Region, ImageName: img.Name, ImageARN: img.ARN, FleetTag: req.FleetTag,
		ScaleImmediately: req.ScaleImmediately, Drain: req.Drain, CreatedAt: created, UpdatedAt: now,
		Canary: req.Canary, WaveSize: req.WaveSize, Approval: req.Approval, Waves: 1, Wave: 1}
	ch := &Change{}
	var replaced *Rollout
	if in.HasLatest && in.Latest.State == Pending {
		old := in.Latest
		why := fmt.Sprintf("replanned: the %s tag changed to %q", keys.FleetName, req.FleetTag)
		ch.Steps = append(ch.Steps, cancelSteps(&old, why, now)...)
		old.State, old.Reason, old.UpdatedAt = Superseded, why, now
		ch.Update = &old
		ch.Events = append(ch.Events, Event{At: now, RolloutID: old.ID, Kind: history.Superseded, State: string(Superseded), Reason: why})
		replaced = &old
	}
	err := perr
	var steps []Step
	if err == nil && len(req.Prefixes) > 0 {
		req, err = expandPrefixes(req, in.Fleets)
	}
	if err == nil {
		steps, nr.Start, err = p.Planner.Plan(req, img, in.Fleets, in.FleetTags, now)
	}
	if err != nil {
		nr.State, nr.Reason = Refused, err.Error()
		ch.Create = &nr
		ch.Events = append(ch.Events, Event{At: now, Kind: history.Refused, State: string(Refused), Reason: nr.Reason})
		ch.Deliveries = append(ch.Deliveries, p.deliver(refusedNotice(nr, keys))...)
		// A replan that is refused must not leave the earlier plan's Pending status on the image.
		return Command{Change: ch, Action: clearOwnStatus(img.ARN, img.Tags, keys), Log: "rollout refused: " + nr.Reason, Reasons: refusalReasons(err)}
	}
	nr.State, nr.Steps, nr.Waves = Pending, steps, waveCount(steps)
	nr.Reason = "waiting for the window opening at " + nr.Start.UTC().Format(time.RFC3339)
	ch.Create = &nr
	ch.Events = append(ch.Events, Event{At: now, Kind: history.Planned, State: string(Pending),
		Reason: fmt.Sprintf("image %s to %s, drain %v, start %s", img.Name, req.FleetTag, req.ScaleImmediately, nr.Start.UTC().Format(time.RFC3339))})
	ch.Steps = append(ch.Steps, supersede(in.Active, nr, now)...)
	ch.Deliveries = append(ch.Deliveries, p.deliver(pendingNotice(nr, keys, p.ZoneOf, replaced, p.Waves, p.SessionDeadline))...)
	act := ImageAction{ARN: img.ARN, Tag: map[string]string{keys.Status: StatusPending(nr.Start)}}
	return Command{Change: ch, Action: act, Log: fmt.Sprintf("rollout planned: image %s to %s at %s", img.Name, strings.Join(req.Fleets, ", "), nr.Start.UTC().Format(time.RFC3339))}
}

// DecideVanished cancels a pending rollout whose image no longer exists.
func (p Policy) DecideVanished(r Rollout, now time.Time) Command {
	if r.State != Pending {
		return Command{}
	}
	return p.cancel(r, "the image no longer exists", "", nil, now)
}

// cancel ends a pending rollout before any fleet started. A step that touched its fleet
// finishes instead (a drained fleet is always restored), and only the others are cancelled.
func (p Policy) cancel(r Rollout, why, imageARN string, imageTags map[string]string, now time.Time) Command {
	for _, s := range r.Steps {
		if s.State.Started() {
			return p.cancelWaiting(r, why, now)
		}
	}
	steps := cancelSteps(&r, why, now)
	r.State, r.Reason, r.UpdatedAt, r.TagCleared = Cancelled, why, now, true
	ch := &Change{Update: &r, Steps: steps,
		Events:     []Event{{At: now, RolloutID: r.ID, Kind: history.Cancelled, State: string(Cancelled), Reason: why}},
		Deliveries: p.deliver(cancelledNotice(r, p.Keys))}
	var act ImageAction
	if imageARN != "" {
		act = clearOwnStatus(imageARN, imageTags, p.Keys)
	}
	return Command{Change: ch, Action: act, Log: "rollout cancelled: " + why}
}

// cancelWaiting cancels the steps of a rollout that have not started.
func (p Policy) cancelWaiting(r Rollout, why string, now time.Time) Command {
	steps := cancelSteps(&r, why, now)
	if len(steps) == 0 {
		return Command{}
	}
	return Command{Change: &Change{Steps: steps, Events: []Event{{At: now, RolloutID: r.ID, Kind: history.Cancelled, Reason: why}}},
		Log: "waiting fleets cancelled: " + why}
}

// cancelSteps cancels r's waiting steps in place and returns them.
func cancelSteps(r *Rollout, why string, now time.Time) []Step {
	var out []Step
	for i := range r.Steps {
		if r.Steps[i].State == StepWaiting && !r.Steps[i].RollingBack {
			r.Steps[i].State, r.Steps[i].FinishedAt, r.Steps[i].NextAt, r.Steps[i].Message = StepCancelled, now, now, why
			out = append(out, r.Steps[i])
		}
	}
	return out
}

// supersede cancels the not-yet-started steps that other rollouts have for the new rollout's
// fleets: a fleet is in at most one active rollout, and the newest tag wins. Started steps are
// left to finish; the new rollout's step waits for them (see Admit).
func supersede(active []Rollout, r Rollout, now time.Time) []Step {
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
	return out
}

// repairStatus makes the image's Status tag follow its newest rollout: Pending/<start> while
// the rollout is active, and no Pending/ status left once it was cancelled, refused or
// superseded (a crash between the commit and the tag call leaves either behind).
func (p Policy) repairStatus(img Image, r Rollout) ImageAction {
	switch {
	case r.State.Active():
		if want := statusOf(r); want != "" && img.Tags[p.Keys.Status] != want {
			return ImageAction{ARN: img.ARN, Tag: map[string]string{p.Keys.Status: want}}
		}
	case r.State == Cancelled || r.State == Refused || r.State == Superseded:
		return clearOwnStatus(img.ARN, img.Tags, p.Keys)
	}
	return ImageAction{}
}

// clearOwnStatus removes a Status tag that deskpilot wrote while a rollout was active
// (Pending/…, Canary/…, AwaitingApproval/…, Wave/…), leaving others alone.
func clearOwnStatus(arn string, tags map[string]string, keys TagKeys) ImageAction {
	for _, pre := range ownStatusPrefixes {
		if strings.HasPrefix(tags[keys.Status], pre) {
			return ImageAction{ARN: arn, Untag: []string{keys.Status}}
		}
	}
	return ImageAction{}
}

// statusOf is the Status an active rollout's image carries: Pending/<start> until it starts
// (and throughout for a rollout without waves, as the recipe did); for a progressive one,
// Canary/<time> while the canary runs, AwaitingApproval/<time>, Wave/<k>/<n>, Failed/<time>
// when halted. Empty: leave the tag as it is (a rollback in progress).
func statusOf(r Rollout) string {
	switch {
	case r.State == Pending || !r.Progressive():
		return StatusPending(r.Start)
	case r.Gate == GateRollingBack || r.Gate == GateCancelling:
		return ""
	case r.Gate == GateHalted:
		return StatusFailed(r.GateSince)
	case r.Gate == GateApproval:
		return StatusAwaitingApproval(r.GateSince)
	case r.Wave == 1 && r.Canary != "":
		return StatusCanary(r.WaveAt)
	}
	return StatusWave(r.Wave, r.Waves)
}

// RolloutInput is the snapshot DecideRollout reads.
type RolloutInput struct {
	Now     time.Time
	Rollout Rollout
	// ImageRead says Image and ImageFound were read as a Command asked.
	ImageRead  bool
	Image      Image
	ImageFound bool
	// HealthRead says Health was read as a Command asked: the failed checks of each fleet
	// asked for (HealthProblems), none for a healthy fleet.
	HealthRead bool
	Health     map[string][]string
	// FleetTagsRead says FleetTags were read (for the windows of the next wave's fleets).
	FleetTagsRead bool
	FleetTags     map[string]map[string]string
}

// DecideRollout moves a rollout to running when a step started, and ends it when every step is
// final: the image's tags are cleared as the recipe does on success (or it is marked Failed),
// then the end is committed with its notice.
func (p Policy) DecideRollout(in RolloutInput) Command {
	r, now := in.Rollout, in.Now
	allFinal, anyStarted := true, false
	for _, s := range r.Steps {
		allFinal = allFinal && s.State.Final()
		anyStarted = anyStarted || s.State.Started() || s.State == StepDone || s.State == StepSkipped || s.State == StepFailed
	}
	if r.State == Pending && anyStarted {
		r.State, r.UpdatedAt, r.Reason, r.WaveAt = Running, now, "running", now
		return Command{Change: &Change{Update: &r,
			Events:     []Event{{At: now, RolloutID: r.ID, Kind: history.Started, State: string(Running), Reason: "the window opened"}},
			Deliveries: p.deliver(startedNotice(r, now))}, Log: "rollout started: " + r.ImageName}
	}
	if len(r.Steps) == 0 || !r.State.Active() {
		return Command{}
	}
	if r.Progressive() && r.Gate != GateRollingBack && r.Gate != GateCancelling {
		return p.gate(in)
	}
	if !allFinal {
		return Command{}
	}
	return p.finish(in)
}

// finish ends a rollout whose steps are all final: the image's tags are cleared as the recipe
// does on success (or it is marked Failed or RolledBack), then the end is committed with its
// notice.
func (p Policy) finish(in RolloutInput) Command {
	r, now := in.Rollout, in.Now
	if !in.ImageRead {
		return Command{NeedImage: true}
	}
	var done, failed int
	for _, s := range r.Steps {
		switch s.State {
		case StepDone, StepSkipped:
			done++
		case StepFailed:
			failed++
		}
	}
	keys := p.Keys
	img, ok := in.Image, in.ImageFound && in.Image.ARN == r.ImageARN
	var act ImageAction
	switch {
	case r.Gate == GateRollingBack:
		back := 0
		for _, s := range r.Steps {
			if s.State == StepRolledBack {
				back++
			}
		}
		r.State = RolledBack
		r.Reason = fmt.Sprintf("%d fleets back on their previous images (%s)", back, r.Reason)
		if ok {
			act = ImageAction{ARN: img.ARN, Tag: map[string]string{keys.Status: StatusRolledBack(now)}}
		}
	case r.Gate == GateCancelling:
		// TagCleared stays as it is: cancelled on request, the tag is still the request that
		// ran, and is not planned again until it is removed.
		r.State = Cancelled
		if ok {
			act = clearOwnStatus(img.ARN, img.Tags, keys)
		}
	case failed > 0:
		r.State, r.Reason = Failed, fmt.Sprintf("%d of %d fleets failed", failed, len(r.Steps))
		if ok && !strings.HasPrefix(img.Tags[keys.Status], "Failed/") {
			act = ImageAction{ARN: img.ARN, Tag: map[string]string{keys.Status: StatusFailed(now)}}
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
				for _, k := range []string{keys.Canary, keys.Waves, keys.Approval, keys.Approve, keys.Drain} {
					if _, ok := img.Tags[k]; ok {
						remove = append(remove, k)
					}
				}
			}
			act = ImageAction{ARN: img.ARN, Untag: remove}
		}
	default:
		r.State, r.Reason = Superseded, "every fleet was claimed by a newer rollout or cancelled"
		if ok {
			act = clearOwnStatus(img.ARN, img.Tags, keys)
		}
	}
	// An ended rollout is at no gate: "rolling-back" on a rolled-back rollout would alarm.
	r.UpdatedAt, r.Gate, r.NextAt = now, GateNone, time.Time{}
	kind := map[State]history.Kind{Failed: history.Failed, Succeeded: history.Succeeded, Superseded: history.Superseded,
		RolledBack: history.RolledBack, Cancelled: history.Cancelled}[r.State]
	ch := &Change{Update: &r, Events: []Event{{At: now, RolloutID: r.ID, Kind: kind, State: string(r.State), Reason: r.Reason}},
		Deliveries: p.deliver(finishedNotice(r))}
	// The tags go first: were the end committed first and the call then lost, a success would
	// leave the request on the image, to be planned again.
	return Command{Change: ch, Action: act, ActFirst: true, Log: fmt.Sprintf("rollout %s: %s", r.State, r.Reason)}
}

// StepKey names one step.
type StepKey struct {
	RolloutID int64
	Fleet     string
}

// Admit decides which due waiting steps may start: a fleet is in at most one started step, and
// at most maxParallel steps run at once, the oldest rollout's first. It returns why each
// refused step must wait (World.Busy), and for each fleet held by a started step the rollout
// holding it (World.Held). A step admitted here that does not start (its image is not ready)
// only keeps its slot for this pass.
func Admit(active []Rollout, due []StepKey, now time.Time, maxParallel int) (busy map[StepKey]string, holder map[string]int64) {
	busy, holder = map[StepKey]string{}, map[string]int64{}
	started := 0
	steps := map[StepKey]Step{}
	for _, r := range active {
		for _, s := range r.Steps {
			steps[StepKey{r.ID, s.Fleet}] = s
			if s.State.Started() {
				if s.State != StepSessions { // following sessions changes no capacity: no slot
					started++
				}
				holder[s.Fleet] = r.ID
			}
		}
	}
	waiting := make([]StepKey, 0, len(due))
	for _, k := range due {
		if s, ok := steps[k]; ok && s.State == StepWaiting && !now.Before(s.WindowStart) {
			waiting = append(waiting, k)
		}
	}
	sort.Slice(waiting, func(i, j int) bool {
		if waiting[i].RolloutID != waiting[j].RolloutID {
			return waiting[i].RolloutID < waiting[j].RolloutID
		}
		return waiting[i].Fleet < waiting[j].Fleet
	})
	admitted := map[string]int64{}
	for _, k := range waiting {
		if id, ok := holder[k.Fleet]; ok && id != k.RolloutID {
			busy[k] = fmt.Sprintf("the fleet is being updated by rollout #%d; waiting for it to finish", id)
			continue
		}
		if id, ok := admitted[k.Fleet]; ok && id != k.RolloutID {
			busy[k] = fmt.Sprintf("the fleet is about to be updated by rollout #%d; waiting for it to finish", id)
			continue
		}
		if started >= maxParallel {
			busy[k] = fmt.Sprintf("%d fleets are being updated (max_parallel); waiting for a free slot", started)
			continue
		}
		started++
		admitted[k.Fleet] = k.RolloutID
	}
	return busy, holder
}

func (p Policy) deliver(n notice.Notice) []Delivery {
	// Admins of many accounts and regions must see where the fleets are: every notice says.
	if p.Account != "" || p.Region != "" {
		n.Fields = append(slices.Clip(n.Fields), notice.Field{Name: "Account", Value: p.Account}, notice.Field{Name: "Region", Value: p.Region})
		if p.TargetInSubject {
			n.Subject += " (" + p.Account + "/" + p.Region + ")"
		}
	}
	out := make([]Delivery, 0, len(p.Senders))
	for _, s := range p.Senders {
		out = append(out, Delivery{Sender: s, Notice: n})
	}
	return out
}
