package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/sim"
)

// campaignFinal is what the store holds once the daemon stopped for good.
type campaignFinal struct {
	records    []reset.Record
	watermark  time.Time
	deliveries []store.DeliveryRecord
	rollouts   []rollout.Rollout
	saved      []rollout.SavedCapacity
}

// flush lets the daemon run until every notice in its outbox went out and the reset digest
// covers every decision (digest_interval is 3 s), then stops it and reads the store. A store
// that is not there yet gets the daemon back for a few seconds more.
func (c *campaign) flush() campaignFinal {
	wait := 8 * time.Second // two digest intervals, and the outbox's pass
	for try := 1; ; try++ {
		time.Sleep(wait)
		c.sup.shutdown()
		f, why, retryAt := c.readStore()
		if why == "" {
			return f
		}
		if try == 8 {
			c.errorf("after %d tries the store still is not flushed: %s", try, why)
			return f
		}
		// A notice whose send failed (the emulator was away) is retried on the outbox's
		// schedule (30 s, 1 min, 2 min, …): wait for it.
		wait = 4 * time.Second
		if d := time.Until(retryAt); d > 0 {
			wait = min(d, 5*time.Minute) + 4*time.Second
		}
		c.t.Logf("flush: %s; the daemon runs %s more", why, wait.Round(time.Second))
		c.sup.resume()
	}
}

func (c *campaign) readStore() (f campaignFinal, why string, retryAt time.Time) {
	ctx := context.Background()
	st, err := store.Open(ctx, c.db, store.Options{})
	if err != nil {
		c.fatalf("open the store: %v", err)
	}
	defer st.Close()
	if f.records, err = st.Records(ctx, time.Time{}, 0); err != nil {
		c.fatalf("%v", err)
	}
	raw, err := st.Meta(ctx, reset.DigestKey(account, "us-east-1"))
	if err != nil {
		c.fatalf("%v", err)
	}
	f.watermark, _ = time.Parse(time.RFC3339Nano, raw)
	if f.deliveries, err = st.Deliveries(ctx, 0); err != nil {
		c.fatalf("%v", err)
	}
	if f.rollouts, err = st.Rollouts(ctx, 0); err != nil {
		c.fatalf("%v", err)
	}
	if f.saved, err = st.SavedCapacities(ctx); err != nil {
		c.fatalf("%v", err)
	}
	for _, d := range f.deliveries {
		if d.SentAt.IsZero() && !d.Permanent {
			if d.NextAt.After(retryAt) {
				retryAt = d.NextAt
			}
			why = fmt.Sprintf("notice %s not sent yet (attempt %d, next at %s: %s)", d.NoticeID, d.Attempt, d.NextAt.Format(time.RFC3339), tail(d.LastError, 1))
		}
	}
	if why != "" {
		return f, why, retryAt
	}
	for _, r := range f.records {
		if r.Outcome != "logoff" && r.At.UnixMilli() >= f.watermark.UnixMilli() {
			return f, fmt.Sprintf("the digest watermark %s is not past the %s of %s at %s", f.watermark.Format(time.RFC3339Nano), r.Outcome, r.WorkspaceID, r.At.Format(time.RFC3339Nano)), retryAt
		}
	}
	return f, "", retryAt
}

// campaignResult is what a variant measured.
type campaignResult struct {
	variant                         string
	took, active, settle, meanRound time.Duration
	rounds                          int
	lines                           [][2]string // the summary table
}

func (r *campaignResult) add(name, format string, args ...any) {
	r.lines = append(r.lines, [2]string{name, fmt.Sprintf(format, args...)})
}

// check asserts every invariant on the world and the store, and fills the summary.
func (c *campaign) check(final campaignFinal, injected []sim.Fault, res *campaignResult) {
	c.checkFleets(final, res)
	c.checkWorkspaces(final, res)
	c.checkMail(final, res)

	// The numbers.
	calls, failed, total, totalFailed := c.w.daemonCalls()
	inj, injLatency := 0, 0
	for _, f := range injected {
		if f.ErrorCode == "" {
			injLatency += f.Injected
		} else {
			inj += f.Injected
		}
	}
	res.add("kills (SIGKILL)", "%d: %d at a random instant (%d of them after waiting 3s for a mutating call), %d right after a mutating call %v; %d restarts after a pause",
		c.sup.kills.Load(), c.sup.kills.Load()-c.sup.killsAfterCall.Load(), c.sup.armedTimeouts.Load(), c.sup.killsAfterCall.Load(), c.sup.afterOps, c.sup.restartsAfterPause.Load())
	res.add("daemon processes", "%d started; %d exits by itself (%d: AWS unreachable at start); second daemon refused %d of 1",
		len(c.sup.all), c.sup.selfExits.Load(), c.sup.startFailures.Load(), c.sup.refusals)
	if c.v.emulatorRestarts {
		res.add("emulator restarts", "%d, down %.1fs in all (connection refused)", c.w.outages, c.w.downFor.Seconds())
	}
	res.add("faults injected", "%d errors, %d delays (the driver's own %d calls included)", inj, injLatency, c.driverCalls.Load())
	res.add("AWS calls (daemon)", "%d, %d of them failed", total, totalFailed)
	for _, op := range slices.Sorted(maps.Keys(calls)) {
		res.add("  "+op, "%d (%d failed)", calls[op], failed[op])
	}
	res.add("time", "%.1fs in all: %.1fs active, %.1fs to settle after the chaos stopped; %d rounds, mean %.1fs",
		res.took.Seconds(), res.active.Seconds(), res.settle.Seconds(), res.rounds, res.meanRound.Seconds())
}

// checkFleets: every fleet on its mode's last image, Min/Max as expected after every round,
// SuspendedState as seeded, not at 0/0, no saved-capacity tags; every round succeeded.
func (c *campaign) checkFleets(final campaignFinal, res *campaignResult) {
	ctx := context.Background()
	tls := map[string]sim.FleetTimeline{}
	for _, tl := range c.w.sim.Timelines() {
		tls[tl.FleetName] = tl
	}
	c.roundsMu.Lock()
	rounds := append([]*campaignRound(nil), c.rounds...)
	for _, e := range c.roundErrors {
		c.errorf("%s", e)
	}
	c.roundsMu.Unlock()
	if len(rounds) == 0 {
		c.errorf("no round of rollouts completed")
		return
	}
	lastImage := map[*campaignDrainMode]string{}
	var roundTime time.Duration
	when := map[string]int{}
	for i, r := range rounds {
		lastImage[r.mode] = r.image
		roundTime += r.ended.Sub(r.start)
		if r.state != string(rollout.Succeeded) {
			c.errorf("round %d: the rollout of %s ended %q, want succeeded", r.n, r.image, r.state)
		}
		if r.actionsPutFail > 0 {
			c.errorf("round %d: %d scheduled actions could not be put", r.n, r.actionsPutFail)
		}
		end := time.Now().Add(time.Hour)
		for _, next := range rounds[i+1:] {
			if next.mode == r.mode {
				end = next.start
				break
			}
		}
		for _, f := range c.fleets {
			if f.mode == r.mode {
				when[c.checkRound(r, f, tls[f.name], end)]++
			}
		}
	}
	res.rounds = len(rounds)
	res.meanRound = roundTime / time.Duration(len(rounds))
	res.add("rounds", "%d rollouts of %d fleets; scheduled actions due %d before the drain, %d during it, %d after it, %d never (ScheduledScalingSuspended by the admin)",
		len(rounds), len(c.fleets), when["before"], when["during"], when["after"], when["never"])

	// The world now.
	names := make([]string, len(c.fleets))
	ids := make([]string, len(c.fleets))
	for i, f := range c.fleets {
		names[i], ids[i] = f.name, "fleet/"+f.name
	}
	images := map[string]string{}
	for batch := range slices.Chunk(names, 10) {
		out, err := c.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: batch})
		if err != nil {
			c.fatalf("%v", err)
		}
		for _, f := range out.Fleets {
			images[aws.ToString(f.Name)] = aws.ToString(f.ImageArn)
		}
	}
	targets := map[string]aastypes.ScalableTarget{}
	for batch := range slices.Chunk(ids, 50) {
		out, err := c.aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: batch})
		if err != nil {
			c.fatalf("%v", err)
		}
		for _, x := range out.ScalableTargets {
			targets[strings.TrimPrefix(aws.ToString(x.ResourceId), "fleet/")] = x
		}
	}
	bad := 0
	for _, f := range c.fleets {
		ok := true
		if want := imageARN(lastImage[f.mode]); images[f.name] != want {
			c.errorf("%s runs %s, want %s", f.name, images[f.name], want)
			ok = false
		}
		x, found := targets[f.name]
		if !found {
			c.errorf("%s has no scalable target", f.name)
			bad++
			continue
		}
		got := rollout.Capacity{Min: aws.ToInt32(x.MinCapacity), Max: aws.ToInt32(x.MaxCapacity)}
		if got == (rollout.Capacity{}) {
			c.errorf("%s is at 0/0", f.name)
			ok = false
		} else if got != f.expect {
			c.errorf("%s ends at Min/Max %s, want %s", f.name, got, f.expect)
			ok = false
		}
		var ss campaignSuspended
		if s := x.SuspendedState; s != nil {
			ss = campaignSuspended{aws.ToBool(s.DynamicScalingInSuspended), aws.ToBool(s.DynamicScalingOutSuspended), aws.ToBool(s.ScheduledScalingSuspended)}
		}
		if ss != f.suspended {
			c.errorf("%s ends with SuspendedState %+v, want %+v as before", f.name, ss, f.suspended)
			ok = false
		}
		tags, err := c.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(fleetARN(f.name))})
		if err != nil {
			c.fatalf("%v", err)
		}
		for _, k := range []string{"Min", "Max", "Status"} {
			if v, has := tags.Tags[k]; has {
				c.errorf("%s still has the tag %s=%s", f.name, k, v)
				ok = false
			}
		}
		if tl := tls[f.name]; len(tl.Drains) > 0 && !tl.Drains[len(tl.Drains)-1].Restored() {
			c.errorf("%s is still drained (0/0 since %s)", f.name, tl.Drains[len(tl.Drains)-1].ZeroAt.Format(time.RFC3339Nano))
			ok = false
		}
		if c.feat.scalingPolicies {
			out, err := c.aas.DescribeScalingPolicies(ctx, &applicationautoscaling.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: campaignTarget(f.name)})
			if err != nil || len(out.ScalingPolicies) != 1 {
				c.errorf("%s: scaling policies %v, %v; want the campaign's one", f.name, out, err)
				ok = false
			}
		}
		if !ok {
			bad++
		}
	}
	for _, s := range final.saved {
		c.errorf("the store still holds a saved Min/Max for %s: %d/%d (rollout %d)", s.Fleet, s.Min, s.Max, s.RolloutID)
	}
	var lags []time.Duration
	for _, f := range c.fleets {
		for _, d := range tls[f.name].Drains {
			if lag, ok := d.RestoreLag(); ok {
				lags = append(lags, lag)
			}
		}
	}
	slices.Sort(lags)
	res.add("fleets", "%d of %d as they should be (image, Min/Max, SuspendedState, not 0/0, no Min/Max/Status tags); restore lag p50 %.1fs max %.1fs over %d drains",
		len(c.fleets)-bad, len(c.fleets), quantile(lags, 0.5).Seconds(), quantile(lags, 1).Seconds(), len(lags))
}

// checkRound checks one fleet's part of one round from the emulator's timeline, moves the
// fleet's expected Min/Max on, and says when the round's scheduled action fired relative to
// the drain.
func (c *campaign) checkRound(r *campaignRound, f *campaignFleet, tl sim.FleetTimeline, end time.Time) string {
	orig := f.expect
	var changes []sim.TargetChange
	for _, ch := range tl.Targets {
		if ch.Time.After(r.start) && !ch.Time.After(end) {
			changes = append(changes, ch)
		}
	}
	a, put := r.actions[f.name]
	var firstZero, restored, fired time.Time
	for _, ch := range changes {
		switch {
		case ch.Deregistered:
			c.errorf("round %d: %s's scalable target was deregistered at %s", r.n, f.name, ch.Time.Format(time.RFC3339Nano))
		case ch.ScheduledAction != "":
			if put && ch.ScheduledAction == a.name {
				fired = ch.Time
			}
		case ch.MinCapacity == 0 && ch.MaxCapacity == 0:
			if firstZero.IsZero() {
				firstZero = ch.Time
			}
		case !firstZero.IsZero():
			restored = ch.Time
		}
	}
	step, hasStep := r.steps[f.name]
	if !hasStep || step.State != string(rollout.StepDone) {
		c.errorf("round %d: %s's step is %q (%s), want done", r.n, f.name, step.State, step.Message)
	}
	if f.mode.multiSession {
		return c.checkSessionsRound(r, f, changes, firstZero, fired, a, put, orig, end)
	}
	if firstZero.IsZero() {
		c.errorf("round %d: %s was never scaled to 0/0 (step: drain %v, %s)", r.n, f.name, step.Drain, step.Message)
	}
	if !firstZero.IsZero() && restored.IsZero() {
		c.errorf("round %d: %s was never restored after its 0/0 at %s", r.n, f.name, firstZero.Format(time.RFC3339Nano))
	}
	var saved rollout.Capacity
	if step.SavedCapacity != nil {
		saved = rollout.Capacity{Min: step.SavedCapacity.Min, Max: step.SavedCapacity.Max}
	}
	if saved.Max == 0 {
		c.errorf("round %d: %s's step saved Min/Max %s", r.n, f.name, saved)
	}
	if f.suspended.Scheduled && !fired.IsZero() {
		c.errorf("round %d: %s's scheduled action fired at %s although ScheduledScalingSuspended is true", r.n, f.name, fired.Format(time.RFC3339Nano))
	}
	// When the action was due, against the drain: the emulator fires it then, unless scheduled
	// scaling is suspended at that instant (by the admin, or by deskpilot during a drain).
	var want rollout.Capacity
	when := ""
	switch {
	case !put:
		when, want = "never", orig
	case f.suspended.Scheduled:
		when, want = "never", orig // the admin suspended scheduled scaling: it never fires
		if saved != orig {
			c.errorf("round %d: %s's step saved %s, but its Min/Max was %s", r.n, f.name, saved, orig)
		}
	case !firstZero.IsZero() && a.at.Before(firstZero):
		when, want = "before", saved
		if saved != a.cap && saved != orig {
			c.errorf("round %d: %s's step saved %s; want %s (the scheduled action's, due at %s before the drain) or %s (read before it fired)",
				r.n, f.name, saved, a.cap, a.at.Format(time.RFC3339Nano), orig)
		}
		if campaignScheduledActionAtRestore {
			want = a.cap
		}
	case restored.IsZero() || !a.at.After(restored):
		when, want = "during", saved
		if saved != orig {
			c.errorf("round %d: %s's step saved %s, but its Min/Max was %s", r.n, f.name, saved, orig)
		}
		if campaignScheduledActionAtRestore {
			want = a.cap
		}
	default:
		when, want = "after", a.cap
	}
	firedNote := "not seen to fire"
	if !fired.IsZero() {
		firedNote = "fired at " + fired.Format(time.RFC3339Nano)
	}
	// The Min/Max at the end of the round (before the next one of the fleet's mode).
	got := orig
	if n := len(changes); n > 0 {
		got = rollout.Capacity{Min: changes[n-1].MinCapacity, Max: changes[n-1].MaxCapacity}
	}
	if got != want {
		c.errorf("round %d: %s ended the round at Min/Max %s, want %s (before the round %s; scheduled action %s due at %s, %s the drain, %s; saved %s; 0/0 at %s, restored at %s)",
			r.n, f.name, got, want, orig, a.cap, a.at.Format(time.RFC3339), when, firedNote, saved,
			firstZero.Format(time.RFC3339Nano), restored.Format(time.RFC3339Nano))
	}
	f.expect = want
	return when
}

// checkWorkspaces checks the resets against every user's sessions: none while the user was
// connected, none within the grace period of a logoff, at most one per logoff, and exactly one
// per qualifying logoff (the user stayed away until it came), unless deskpilot recorded why not.
func (c *campaign) checkWorkspaces(final campaignFinal, res *campaignResult) {
	grace := c.sc.grace
	failedAt := map[string][]reset.Record{}
	outcomes := map[string]int{}
	for _, r := range final.records {
		outcomes[r.Outcome]++
		if r.Outcome == "failed" || r.Outcome == "skipped" {
			failedAt[r.WorkspaceID] = append(failedAt[r.WorkspaceID], r)
		}
	}
	accepted := map[string]int{}
	var calls, refused, errored int
	for _, rc := range c.w.resetCalls() {
		calls++
		switch {
		case rc.Accepted:
			accepted[rc.Workspace]++
		case rc.Failure != "" && !strings.Contains(rc.Failure, "Exception"):
			refused++ // FailedRequests
		default:
			errored++
		}
	}
	var sessions, qualifying, resetOK, documented, short, gray, kicked, waitedOut, total int
	for _, u := range c.users {
		info, err := c.w.sim.WorkspaceStatus(u.id)
		if err != nil {
			c.fatalf("%v", err)
		}
		resets := append(append([]time.Time{}, info.Rebuilds...), info.Restores...)
		slices.SortFunc(resets, func(a, b time.Time) int { return a.Compare(b) })
		total += len(resets)
		if accepted[u.id] != len(resets) {
			c.errorf("%s: %d reset calls accepted by the emulator's API, but it started %d resets", u.id, accepted[u.id], len(resets))
		}
		if u.mode == "off" && len(resets) > 0 {
			c.errorf("%s is opted out (deskpilot:reset=off) but was reset at %v", u.id, resets)
		}
		if len(u.sessions) > 0 {
			for _, r := range resets {
				if r.Before(u.sessions[0].ConnCall) {
					c.errorf("%s was reset at %s, before its first session", u.id, r.Format(time.RFC3339Nano))
				}
			}
		} else if len(resets) > 0 {
			c.errorf("%s had no session but was reset at %v", u.id, resets)
		}
		for i, s := range u.sessions {
			sessions++
			end := s.BackCall
			var in []time.Time
			for _, r := range resets {
				if !r.Before(s.ConnCall) && !r.After(s.DiscAt) {
					c.errorf("%s was reset at %s under a connected user (connected from %s to %s)%s", u.id,
						r.Format(time.RFC3339Nano), s.ConnCall.Format(time.RFC3339Nano), s.DiscAt.Format(time.RFC3339Nano), map[bool]string{true: "; the user was disconnected by it"}[s.Kicked])
				}
				if r.After(s.DiscAt) && (end.IsZero() || r.Before(end)) {
					in = append(in, r)
				}
			}
			if s.Kicked {
				kicked++
			}
			for _, r := range in {
				if r.Sub(s.DiscAt) < grace {
					c.errorf("%s was reset at %s, %s after its user logged off at %s: within the grace period (%s)", u.id,
						r.Format(time.RFC3339Nano), r.Sub(s.DiscAt).Round(time.Millisecond), s.DiscAt.Format(time.RFC3339Nano), grace)
				}
			}
			if len(in) > 1 {
				c.errorf("%s was reset %d times (%v) after one logoff at %s", u.id, len(in), in, s.DiscAt.Format(time.RFC3339Nano))
			}
			switch {
			case s.Kicked || u.mode == "off":
				if len(in) > 0 && !s.Kicked {
					break // reported above
				}
			case s.Waited:
				qualifying++
				if len(in) == 1 {
					resetOK++
					break
				}
				why := ""
				for _, r := range failedAt[u.id] {
					if r.At.After(s.DiscAt) && (end.IsZero() || r.At.Before(end)) {
						why = r.Outcome + ": " + r.Reason
					}
				}
				if len(in) == 0 && why != "" {
					documented++
					break
				}
				if len(in) == 0 {
					if s.WaitedOut {
						waitedOut++
					}
					c.errorf("%s: its user logged off at %s and stayed away (until %s), but it was not reset (session %d of %d)", u.id,
						s.DiscAt.Format(time.RFC3339Nano), map[bool]string{true: "the end", false: end.Format(time.RFC3339Nano)}[end.IsZero()], i+1, len(u.sessions))
				}
			case !end.IsZero() && end.Sub(s.DiscAt) < grace:
				short++
			default:
				gray++
			}
		}
	}
	res.add("WorkSpaces sessions", "%d (%d users); logoffs: %d qualifying (user away until the reset), %d back within the grace, %d back just after it, %d sessions ended by a reset",
		sessions, len(c.users), qualifying, short, gray, kicked)
	res.add("resets", "%d started; qualifying logoffs reset once: %d of %d (%d failed or skipped as documented, %d never reset)",
		total, resetOK, qualifying, documented, qualifying-resetOK-documented)
	res.add("reset calls", "%d: %d accepted, %d refused in FailedRequests, %d errors", calls, total, refused, errored)
	res.add("reset records", "%v", outcomes)
	for _, r := range final.records {
		if r.Outcome == "failed" || r.Outcome == "skipped" {
			res.add("  "+r.Outcome, "%s %s: %s", r.WorkspaceID, r.At.Format(time.RFC3339), r.Reason)
		}
	}
	res.add("AppStream sessions", "%d started, %d refused (no idle instance, fleet drained)", c.appSessions.Load(), c.appSessionsRefused.Load())
	_ = waitedOut
}

// campaignNoticeID is the notice id a mail's text ends with ("Notice <id>").
func campaignNoticeID(text string) (id, body string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "Notice "); ok {
			return rest, strings.Join(append(append([]string{}, lines[:i]...), lines[i+1:]...), "\n")
		}
	}
	return "", text
}

// checkMail: each notice once (a resend of the same notice is mail's at-least-once, counted);
// no notice sent under two ids; every round's final notice; each digest item exactly once.
func (c *campaign) checkMail(final campaignFinal, res *campaignResult) {
	msgs := c.w.sim.Messages()
	type notice struct {
		subject, body string
		copies        int
	}
	byID := map[string]*notice{}
	byContent := map[string]string{}
	resent := 0
	for _, m := range msgs {
		id, body := campaignNoticeID(m.Text)
		if id == "" {
			c.errorf("a mail without a notice id: %q", m.Subject)
			continue
		}
		n, seen := byID[id]
		if !seen {
			byID[id] = &notice{subject: m.Subject, body: body, copies: 1}
			key := m.Subject + "\n" + body
			if other, dup := byContent[key]; dup {
				c.errorf("the same notice was sent as %s and as %s: %q", other, id, m.Subject)
			}
			byContent[key] = id
			continue
		}
		n.copies++
		resent++
		if n.subject != m.Subject || n.body != body {
			c.errorf("notice %s was sent twice with different contents: %q, then %q", id, n.subject, m.Subject)
		}
	}
	sentIDs := map[string]bool{}
	for _, d := range final.deliveries {
		if d.Permanent {
			c.errorf("notice %s failed for good: %s", d.NoticeID, d.LastError)
		}
		if !d.SentAt.IsZero() {
			sentIDs[d.NoticeID] = true
		}
	}
	for id := range sentIDs {
		if byID[id] == nil {
			c.errorf("the outbox says notice %s was sent, but no such mail arrived", id)
		}
	}
	c.roundsMu.Lock()
	for _, r := range c.rounds {
		want := "Image " + r.image + " rolled out"
		n := 0
		for _, x := range byID {
			if strings.HasPrefix(x.subject, want) {
				n++
			}
		}
		if n != 1 {
			c.errorf("round %d: %d distinct notices %q, want 1", r.n, n, want)
		}
	}
	c.roundsMu.Unlock()

	// Digest items: the decisions of the history (all but the logoffs), each in one digest.
	want := map[string]int{}
	for _, r := range final.records {
		if r.Outcome == "logoff" {
			continue
		}
		want[fmt.Sprintf("- %s (%s): %s (%s: %s)", r.WorkspaceID, r.UserName, r.Outcome, r.At.UTC().Format("15:04 MST"), r.Reason)]++
	}
	got := map[string]int{}
	digests := 0
	for _, n := range byID {
		if !strings.HasPrefix(n.subject, "WorkSpaces reset:") {
			continue
		}
		digests++
		for _, line := range strings.Split(n.body, "\n") {
			if strings.HasPrefix(line, "- ws-") {
				got[strings.TrimSpace(line)]++
			}
		}
	}
	var missing, extra int
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	shown := 0
	for _, k := range keys {
		switch g, w := got[k], want[k]; {
		case g < w:
			missing += w - g
			if shown++; shown <= 10 {
				c.errorf("digest item in %d digests, decided %d times: %s", g, w, k)
			}
		case g > w:
			extra += g - w
			if shown++; shown <= 10 {
				c.errorf("digest item in %d digests, decided %d times: %s", g, w, k)
			}
		}
	}
	res.add("mail", "%d sent, %d distinct notices, %d resent (at-least-once), %d duplicated under two ids", len(msgs), len(byID), resent, len(byID)-len(byContent))
	res.add("digests", "%d digests with %d items; %d decisions missing from them, %d listed twice", digests, sumValues(got), missing, extra)
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// report prints the summary table.
func (c *campaign) report(res campaignResult) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign %s, variant %s, seed %d\t\n", c.sc.name, c.v.name, c.seed)
	for _, l := range res.lines {
		fmt.Fprintf(tw, "%s\t%s\n", l[0], l[1])
	}
	tw.Flush()
	verdict := "PASS: every invariant held"
	if c.t.Failed() {
		verdict = "FAIL: see the errors above"
	}
	c.t.Logf("summary (seed %d)\n%s%s", c.seed, b.String(), verdict)
}

// checkSessionsRound checks a round of a sessions-mode (multi-session) fleet: it is never at
// 0/0, and ends the round at what its schedule says (its scheduled action, suspended while the
// capacity was raised, applied at the restore), or its Min/Max before the round.
func (c *campaign) checkSessionsRound(r *campaignRound, f *campaignFleet, changes []sim.TargetChange, firstZero, fired time.Time,
	a campaignAction, put bool, orig rollout.Capacity, end time.Time) string {
	if !firstZero.IsZero() {
		c.errorf("round %d: sessions-mode fleet %s was at 0/0 at %s", r.n, f.name, firstZero.Format(time.RFC3339Nano))
	}
	if f.suspended.Scheduled && !fired.IsZero() {
		c.errorf("round %d: %s's scheduled action fired at %s although ScheduledScalingSuspended is true", r.n, f.name, fired.Format(time.RFC3339Nano))
	}
	want, when := orig, "never"
	if put && !f.suspended.Scheduled {
		want, when = a.cap, "sessions"
	}
	got := orig
	if n := len(changes); n > 0 {
		got = rollout.Capacity{Min: changes[n-1].MinCapacity, Max: changes[n-1].MaxCapacity}
	}
	if got != want {
		c.errorf("round %d: sessions-mode fleet %s ended the round at Min/Max %s, want %s (before the round %s; scheduled action %s due at %s; round end %s)",
			r.n, f.name, got, want, orig, a.cap, a.at.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
	}
	f.expect = want
	return when
}
