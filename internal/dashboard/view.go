package dashboard

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/window"
)

// This file turns what Source returns into what the templates show: every string formatted,
// every decision (is it drained? which buttons? what does the countdown count to?) taken here,
// from one reading of the clock, so the templates only lay things out.

// stamp is an instant as shown: Text in a zone for people, ISO for <time datetime>.
type stamp struct{ Text, ISO string }

// countdown is time left until At, which the page's script keeps counting down from the
// daemon's clock (the X-Dashboard-Now header, data-now-ms on the page): with the deadline
// absolute, a part fetched again is the same HTML until something in it changed.
type countdown struct {
	// Label says what happens at At ("Opens", "Due"), Left how long until then.
	Label, Left string
	At          stamp
	// AtMS is At in Unix milliseconds; LeftMS the milliseconds left.
	AtMS, LeftMS int64
}

// action is a button of a rollout: a request the API would accept now.
type action struct {
	Kind, Label string
	// Confirm is the question asked before the request is sent.
	Confirm string
	Danger  bool
}

type fleetRow struct {
	Name, Image, State string
	Desired, Running   int32
	InUse, Available   int32
	// Target is "Min–Max" or "none"; Saved the saved Min/Max, "" when none.
	Target, Saved string
	Drained       bool
	// SavedBy is the rollout that holds the saved capacity (0: none).
	SavedBy int64
	// Rollout and Step are the active rollout the fleet is in and its step's state (0, "").
	Rollout int64
	Step    string
	Window  string
	// Next counts to the end of the window's current opening, or to its next one.
	Next   *countdown
	Errors []string
}

type waveRow struct {
	Wave        int
	Canary      bool
	Fleets      string
	State, Gate string
	Expected    stamp
	// Current marks the active rollout's highest released wave.
	Current bool
}

type stepRow struct {
	Fleet, State string
	Wave         int
	RollingBack  bool
	Window       string
	Saved        string
	Started      stamp
	Finished     stamp
	Message      string
}

type rolloutView struct {
	ID               int64
	Image, ImageARN  string
	FleetTag         string
	State, Gate      string
	Reason, Checks   string
	Canary, Approval string
	Progressive      bool
	Active           bool
	AwaitingApproval bool
	ScaleImmediately bool
	Created, Updated stamp
	Start            stamp
	// Fleets is how many fleets the rollout has, Done how many finished.
	Fleets, Done int
	// Wave is the highest released wave, of Waves.
	Wave, Waves int
	Next        *countdown
	// Waiting says what the rollout waits for when no countdown applies.
	Waiting string
	Plan    []waveRow
	Steps   []stepRow
	Actions []action
}

type eventRow struct {
	At                  stamp
	Kind                string
	Bad                 bool
	Fleet, WorkspaceID  string
	State, Call, Result string
	Reason, Error       string
}

type pendingRow struct {
	WorkspaceID, UserName string
	Mode, Phase           string
	LoggedOff             stamp
	Due                   *countdown
	Since                 stamp
	Attempts              int
	// Waiting is what a due reset waits for (a snapshot), if anything.
	Waiting string
}

type recordRow struct {
	At                    stamp
	WorkspaceID, UserName string
	Mode, Outcome, Reason string
}

type overviewView struct {
	Now       stamp
	Fleets    []fleetRow
	Drained   []fleetRow
	FleetsErr string
	Active    []rolloutView
	ActiveErr string
	Recent    []rolloutView
	RecentErr string
}

type rolloutPageView struct {
	Rollout   rolloutView
	Timeline  []eventRow
	EventsErr string
	Truncated bool
}

type resetsView struct {
	Since      stamp
	Tracked    map[string]int // by mode
	Pending    []pendingRow
	TrackedErr string
	Records    []recordRow
	RecordsErr string
	Truncated  bool
}

type errorView struct{ Message string }

// builder formats for one page, at one instant.
type builder struct {
	now    time.Time
	loc    *time.Location
	window func(fleet string) window.Window
}

func (d *Dashboard) builder(now time.Time) builder {
	return builder{now: now, loc: d.opts.Location, window: d.src.Window}
}

const stampLayout = "Mon 2 Jan 15:04 MST"

func (b builder) stamp(t time.Time) stamp { return b.stampIn(t, b.loc) }

func (b builder) stampIn(t time.Time, loc *time.Location) stamp {
	if t.IsZero() {
		return stamp{}
	}
	return stamp{Text: t.In(loc).Format(stampLayout), ISO: t.UTC().Format(time.RFC3339)}
}

func (b builder) countdown(label string, at time.Time, loc *time.Location) *countdown {
	left := max(at.Sub(b.now), 0)
	return &countdown{Label: label, Left: formatLeft(left), At: b.stampIn(at, loc), AtMS: at.UnixMilli(), LeftMS: left.Milliseconds()}
}

// formatLeft is a duration as a countdown shows it ("in 3 h 20 min", "now"); static/dashboard.js
// formats the same way.
func formatLeft(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s <= 0:
		return "now"
	case s < 60:
		return fmt.Sprintf("in %d s", s)
	case s < 10*60:
		return fmt.Sprintf("in %d min %d s", s/60, s%60)
	case s < 3600:
		return fmt.Sprintf("in %d min", s/60)
	case s < 86400:
		return fmt.Sprintf("in %d h %d min", s/3600, s%3600/60)
	}
	return fmt.Sprintf("in %d d %d h", s/86400, s%86400/3600)
}

func (b builder) zone(fleet string) *time.Location { return b.window(fleet).Location() }

// fleets are the overview's fleet table, by name, with the active rollout each fleet is in.
func (b builder) fleets(fleets []FleetView, active []rollout.Rollout) []fleetRow {
	in := map[string]rollout.Step{}
	for _, r := range active {
		for _, s := range r.Steps {
			if !s.State.Final() {
				in[s.Fleet] = s
			}
		}
	}
	out := make([]fleetRow, 0, len(fleets))
	for _, f := range fleets {
		row := fleetRow{Name: f.Name, Image: f.ImageName, State: f.State, Desired: f.Desired, Running: f.Running,
			InUse: f.InUse, Available: f.Available, Target: "none", Drained: f.Drained(), Errors: f.Errors}
		if f.Target != nil {
			row.Target = fmt.Sprintf("%d–%d", f.Target.Min, f.Target.Max)
		}
		if f.Saved != nil {
			row.Saved, row.SavedBy = fmt.Sprintf("%d–%d", f.Saved.Min, f.Saved.Max), f.Saved.RolloutID
		}
		if s, ok := in[f.Name]; ok {
			row.Rollout, row.Step = s.RolloutID, string(s.State)
		}
		w := b.window(f.Name)
		row.Window = w.String()
		if _, end, open := w.OpenAt(b.now); open {
			row.Next = b.countdown("Closes", end, w.Location())
		} else if start, _ := w.Next(b.now); !start.IsZero() {
			row.Next = b.countdown("Opens", start, w.Location())
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b fleetRow) int { return strings.Compare(a.Name, b.Name) })
	return out
}

var gateText = map[rollout.Gate]string{
	rollout.GateChecking:    "checking health",
	rollout.GateBaking:      "baking",
	rollout.GateRechecking:  "checking health again",
	rollout.GateApproval:    "awaiting approval",
	rollout.GateHalted:      "halted: a person must decide",
	rollout.GateRollingBack: "rolling back",
	rollout.GateCancelling:  "cancelling",
}

// rollout is a rollout with its plan (nil: no waves shown).
func (b builder) rollout(r rollout.Rollout, plan []rollout.WavePlan) rolloutView {
	v := rolloutView{ID: r.ID, Image: r.ImageName, ImageARN: r.ImageARN, FleetTag: r.FleetTag, State: string(r.State),
		Gate: gateText[r.Gate], Reason: r.Reason, Checks: r.Checks, Canary: r.Canary, Progressive: r.Progressive(),
		Active: r.State.Active(), AwaitingApproval: r.State.Active() && r.Gate == rollout.GateApproval,
		ScaleImmediately: r.ScaleImmediately, Created: b.stamp(r.CreatedAt), Updated: b.stamp(r.UpdatedAt),
		Start: b.stamp(r.Start), Fleets: len(r.Steps), Wave: max(1, r.Wave), Waves: max(1, r.Waves)}
	switch {
	case r.Approved:
		v.Approval = "approved by " + cmp.Or(r.ApprovedBy, "someone")
	case r.Approval:
		v.Approval = "manual, after the canary"
	}
	for _, s := range r.Steps {
		if s.State.Final() {
			v.Done++
		}
		row := stepRow{Fleet: s.Fleet, State: string(s.State), Wave: max(1, s.Wave), RollingBack: s.RollingBack,
			Started: b.stamp(s.StartedAt), Finished: b.stamp(s.FinishedAt), Message: s.Message}
		if !s.WindowStart.IsZero() {
			loc := b.zone(s.Fleet)
			start, end := s.WindowStart.In(loc), s.WindowEnd.In(loc)
			endLayout := "15:04 MST"
			if start.YearDay() != end.YearDay() || start.Year() != end.Year() {
				endLayout = stampLayout // an opening into the next day (a rollback's 24 h) says so
			}
			row.Window = start.Format(stampLayout) + " – " + end.Format(endLayout)
		}
		if s.Drain && (s.SavedMin != 0 || s.SavedMax != 0) {
			row.Saved = fmt.Sprintf("%d–%d", s.SavedMin, s.SavedMax)
		}
		v.Steps = append(v.Steps, row)
	}
	for _, w := range plan {
		if len(w.Fleets) == 0 {
			continue
		}
		v.Plan = append(v.Plan, waveRow{Wave: w.Wave, Canary: w.Canary, Fleets: strings.Join(w.Fleets, ", "),
			State: w.State, Gate: w.Gate, Expected: b.stamp(w.ExpectedStart), Current: r.State.Active() && w.Wave == max(1, r.Wave)})
	}
	v.Next, v.Waiting = b.next(r, plan)
	v.Actions = actions(r, b.now)
	return v
}

// next is what an active rollout counts down to: its start, the opening of the window its
// waiting fleets start in, or the expected start of its next wave; or, when no time applies,
// what it waits for.
func (b builder) next(r rollout.Rollout, plan []rollout.WavePlan) (*countdown, string) {
	if !r.State.Active() {
		return nil, ""
	}
	switch r.Gate {
	case rollout.GateApproval:
		return nil, "Waiting for a person to approve the next wave."
	case rollout.GateHalted:
		return nil, "Halted after a failed gate: approve to go on, roll back or cancel."
	case rollout.GateRollingBack:
		return nil, "Rolling back the fleets it changed."
	case rollout.GateCancelling:
		return nil, "Cancelling: fleets in progress finish, nothing else starts."
	}
	// The waiting fleets of the released waves: the earliest window they start in.
	var open, opens rollout.Step
	busy := false
	for _, s := range r.Steps {
		if max(1, s.Wave) > max(1, r.Wave) || s.State.Final() {
			continue
		}
		if s.State != rollout.StepWaiting {
			busy = true
			continue
		}
		switch {
		case !s.WindowStart.After(b.now) && b.now.Before(s.WindowEnd):
			if open.Fleet == "" || s.WindowEnd.Before(open.WindowEnd) {
				open = s
			}
		case s.WindowStart.After(b.now):
			if opens.Fleet == "" || s.WindowStart.Before(opens.WindowStart) {
				opens = s
			}
		}
	}
	switch {
	case r.State == rollout.Pending && opens.Fleet != "" && open.Fleet == "":
		return b.countdown("Starts", opens.WindowStart, b.zone(opens.Fleet)), ""
	case opens.Fleet != "" && open.Fleet == "" && !busy:
		return b.countdown("Next window opens", opens.WindowStart, b.zone(opens.Fleet)), ""
	case open.Fleet != "":
		return b.countdown("Window open, closes", open.WindowEnd, b.zone(open.Fleet)), ""
	case busy:
		return nil, "Updating fleets now."
	}
	// Every released fleet finished: the gate, then the next wave.
	for _, w := range plan {
		if w.Wave == max(1, r.Wave)+1 && !w.ExpectedStart.IsZero() && w.ExpectedStart.After(b.now) {
			return b.countdown(fmt.Sprintf("Wave %d expected to start", w.Wave), w.ExpectedStart, b.loc), ""
		}
	}
	if r.Gate != rollout.GateNone {
		return nil, "Wave " + strconv.Itoa(max(1, r.Wave)) + ": " + gateText[r.Gate] + "."
	}
	return nil, ""
}

// actions are the requests the API would accept on r now, asked of the same pure decision the
// controller makes (rollout.Policy.DecideRequest): a request that is refused, or already in
// effect, has no button. The policy's settings do not change which requests apply.
func actions(r rollout.Rollout, now time.Time) []action {
	var out []action
	for _, a := range []action{
		{Kind: string(rollout.RequestApprove), Label: "Approve",
			Confirm: fmt.Sprintf("Approve rollout #%d of image %s? The next wave is released.", r.ID, r.ImageName)},
		{Kind: string(rollout.RequestCancel), Label: "Cancel", Danger: true,
			Confirm: fmt.Sprintf("Cancel rollout #%d of image %s? Nothing more starts; fleets being updated finish.", r.ID, r.ImageName)},
		{Kind: string(rollout.RequestRollback), Label: "Roll back", Danger: true,
			Confirm: fmt.Sprintf("Roll back rollout #%d of image %s? Every fleet it changed goes back to its previous image.", r.ID, r.ImageName)},
	} {
		if cmd, err := (rollout.Policy{}).DecideRequest(r, rollout.RequestKind(a.Kind), "dashboard", now); err == nil && cmd.Change != nil {
			out = append(out, a)
		}
	}
	return out
}

func (b builder) event(e history.Event) eventRow {
	return eventRow{At: b.stamp(e.At), Kind: string(e.Kind), Fleet: e.Fleet, WorkspaceID: e.WorkspaceID, State: e.State,
		Call: e.Call, Result: e.Result, Reason: e.Reason, Error: e.Error,
		Bad: e.Kind == history.Failed || e.Kind == history.Refused || e.Kind == history.Escalated ||
			(e.Kind == history.Call && e.Result != history.ResultOK)}
}

// pending counts the tracked WorkSpaces by mode and returns those with a reset under way or
// due, soonest first.
func (b builder) pending(tracked map[string]reset.Tracked) (map[string]int, []pendingRow) {
	counts := map[string]int{}
	var out []pendingRow
	for _, t := range tracked {
		counts[string(t.Mode)]++
		if t.Phase == reset.Idle || t.Phase == "" {
			continue
		}
		row := pendingRow{WorkspaceID: t.ID, UserName: t.UserName, Mode: string(t.Mode), Phase: string(t.Phase),
			LoggedOff: b.stamp(t.DisconnectedAt), Since: b.stamp(t.ResetStartedAt), Attempts: t.Attempts, Waiting: t.Waiting}
		if t.Phase == reset.Grace && !t.DueAt.IsZero() {
			row.Due = b.countdown("Due", t.DueAt, b.loc)
		}
		out = append(out, row)
	}
	// Resets under way first, then the due ones, soonest first.
	key := func(p pendingRow) int64 {
		if p.Due == nil {
			return -1
		}
		return p.Due.LeftMS
	}
	slices.SortFunc(out, func(x, y pendingRow) int {
		return cmp.Or(cmp.Compare(key(x), key(y)), strings.Compare(x.WorkspaceID, y.WorkspaceID))
	})
	return counts, out
}

func (b builder) record(r reset.Record) recordRow {
	return recordRow{At: b.stamp(r.At), WorkspaceID: r.WorkspaceID, UserName: r.UserName, Mode: string(r.Mode),
		Outcome: r.Outcome, Reason: r.Reason}
}
