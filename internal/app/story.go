package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// The demo's story: what happens, told as it happens, for a person watching a terminal (not
// logfmt), from the daemon's own typed history, its reset records and the emulated SES; and a
// checklist of what the story must show, so that `demo --exit-when-done` can say whether it did.

// storyStep is one thing the demo story must show.
type storyStep struct {
	what string
	done bool
}

// story prints the demo as it happens and ticks off its steps.
type story struct {
	out   io.Writer
	m     *Main
	sim   *sim.Sim
	start time.Time

	mu     sync.Mutex
	steps  []*storyStep
	byName map[string]*storyStep
	// seen holds the history events and reset records already told.
	seenEvents map[int64]bool
	seenResets map[string]bool
	seenMail   int
}

func newStory(out io.Writer, m *Main, s *sim.Sim, fleets []string, image string, kiosk string) *story {
	st := &story{out: out, m: m, sim: s, start: time.Now(), byName: map[string]*storyStep{},
		seenEvents: map[int64]bool{}, seenResets: map[string]bool{}}
	add := func(key, what string) {
		step := &storyStep{what: what}
		st.steps = append(st.steps, step)
		st.byName[key] = step
	}
	add("planned", "the tagged image's rollout is planned, with its waves")
	add("started", "the maintenance window opens")
	for _, f := range fleets {
		add("applied/"+f, "fleet "+f+" gets the new image")
		add("drained/"+f, "fleet "+f+" is drained (scaled to 0/0 until its idle instances are gone)")
		add("restored/"+f, "fleet "+f+" has its Min/Max back")
	}
	add("gate", "the canary wave passes its health gate and the next wave is released")
	add("rebuilt/"+kiosk, "the kiosk "+kiosk+" is rebuilt after its user logged off")
	add("mail/final", "the admins get the final email ("+image+" rolled out)")
	add("succeeded", "the rollout ends: succeeded")
	return st
}

// tick marks a step of the story done.
func (st *story) tick(key string) {
	if s, ok := st.byName[key]; ok {
		s.done = true
	}
}

// say prints one line of the story.
func (st *story) say(what, detail string) {
	fmt.Fprintf(st.out, "%s  %-10s %s\n", time.Now().Format("15:04:05"), what, detail)
}

// watch tells the story until ctx ends, reading about once a second.
func (st *story) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		st.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// done reports whether every step happened.
func (st *story) done() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range st.steps {
		if !s.done {
			return false
		}
	}
	return true
}

// summary is the checklist, and whether it is complete.
func (st *story) summary() (string, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var b strings.Builder
	complete := true
	fmt.Fprintf(&b, "\nThe story in %s:\n", time.Since(st.start).Round(time.Second))
	for _, s := range st.steps {
		mark := "✓"
		if !s.done {
			mark, complete = "✗ did not happen:", false
		}
		fmt.Fprintf(&b, "  %s %s\n", mark, s.what)
	}
	return b.String(), complete
}

func (st *story) poll(ctx context.Context) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if rs, err := st.m.Store.Rollouts(ctx, 20); err == nil {
		slices.Reverse(rs) // oldest first
		for _, r := range rs {
			events, err := st.m.Store.Events(ctx, r.ID, 500)
			if err != nil {
				continue
			}
			slices.Reverse(events)
			for _, e := range events {
				if !st.seenEvents[e.ID] {
					st.seenEvents[e.ID] = true
					st.tell(r, e)
				}
			}
		}
	}
	if recs, err := st.m.Store.Records(ctx, st.start.Add(-time.Hour), 200); err == nil {
		slices.Reverse(recs)
		for _, rec := range recs {
			key := rec.WorkspaceID + "/" + rec.Outcome + "/" + rec.At.String()
			if st.seenResets[key] {
				continue
			}
			st.seenResets[key] = true
			switch rec.Outcome {
			case string(history.Logoff):
				st.say("logoff", fmt.Sprintf("%s (%s) logged off %s: %s", rec.UserName, rec.Mode, rec.WorkspaceID, rec.Reason))
			case string(history.Reset):
				st.say("rebuilt", fmt.Sprintf("%s rebuilt from its image: %s", rec.WorkspaceID, rec.Reason))
				st.tick("rebuilt/" + rec.WorkspaceID)
			default:
				st.say(rec.Outcome, fmt.Sprintf("%s: %s", rec.WorkspaceID, rec.Reason))
			}
		}
	}
	msgs := st.sim.Messages()
	for _, msg := range msgs[min(st.seenMail, len(msgs)):] {
		st.say("email", fmt.Sprintf("to %s: %q", strings.Join(msg.To, ", "), msg.Subject))
		if strings.Contains(msg.Subject, " rolled out") {
			st.tick("mail/final")
		}
	}
	st.seenMail = len(msgs)
}

// tell prints one history event and ticks off what it shows.
func (st *story) tell(r rollout.Rollout, e history.Event) {
	switch e.Kind {
	case history.Planned:
		var waves []string
		for _, w := range st.m.Rollouts.Plan(r) {
			label := fmt.Sprintf("wave %d", w.Wave)
			if w.Canary {
				label += " (canary)"
			}
			waves = append(waves, label+": "+strings.Join(w.Fleets, ", "))
		}
		st.say("planned", fmt.Sprintf("rollout #%d of %s: %s; the window opens %s", r.ID, r.ImageName, strings.Join(waves, "; "), r.Start.Format("15:04 MST")))
		st.tick("planned")
	case history.Started:
		st.say("window", fmt.Sprintf("the maintenance window is open: rollout #%d starts", r.ID))
		st.tick("started")
	case history.Step:
		st.say(e.Fleet, e.Reason)
		switch {
		case strings.HasPrefix(e.Reason, "image applied") || strings.HasPrefix(e.Reason, "applying the image") && !r.ScaleImmediately:
			st.tick("applied/" + e.Fleet)
		case strings.HasPrefix(e.Reason, "drained in"):
			st.tick("drained/" + e.Fleet)
		case strings.HasPrefix(e.Reason, "capacity restored to"):
			st.tick("restored/" + e.Fleet)
		}
	case history.Gate, history.Wave:
		st.say("gate", e.Reason)
		if e.Kind == history.Wave {
			st.tick("gate")
		}
	case history.Call:
		// Every AWS call is in the history; the story tells what they did, not each call.
	case history.Succeeded:
		st.say("done", fmt.Sprintf("rollout #%d succeeded: %s", r.ID, e.Reason))
		st.tick("succeeded")
	default:
		st.say(string(e.Kind), e.Reason)
	}
}
