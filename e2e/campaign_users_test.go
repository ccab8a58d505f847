package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/sim"
)

// campaignUser is the user of one WorkSpace, logging on and off at random through the
// emulator's control API. Its sessions are what the reset invariants are checked against.
type campaignUser struct {
	id string
	// mode is the WorkSpace's deskpilot:reset tag: rebuild, restore or off.
	mode    string
	running string // ALWAYS_ON or AUTO_STOP
	// sessions are written by the user's goroutine only, and read once it has ended.
	sessions []campaignSession
}

// campaignSession is one session of a user, on the emulator's clock. The times are read by the
// driver around its control calls, so that they are conservative: the user was connected, or
// connecting, during all of [ConnCall, DiscAt], and away during all of (DiscAt, BackCall).
type campaignSession struct {
	// ConnCall is read right before the ConnectWorkspace call that succeeded. A reset cannot
	// start between it and the connection (the connection would have been refused), so any
	// reset from ConnCall to DiscAt was made under a connected user (or one connecting to a
	// starting AUTO_STOP WorkSpace, which AWS refuses to reset).
	ConnCall time.Time
	// DiscAt is read right before the DisconnectWorkspace call.
	DiscAt time.Time
	// Kicked: the disconnect found no user connected: something ended the session earlier.
	Kicked bool
	// Waited: after this logoff the user stayed away until the WorkSpace was reset (or deskpilot
	// recorded why not): a qualifying logoff. WaitedOut: the wait hit the limit instead.
	Waited, WaitedOut bool
	// BackCall is the ConnCall of the next session; zero if there was none.
	BackCall time.Time
}

// resetCount is how many resets the emulator started on a WorkSpace (accepted calls only).
func campaignResetCount(s *sim.Sim, id string) (int, string) {
	info, err := s.WorkspaceStatus(id)
	if err != nil {
		return 0, ""
	}
	var ws struct{ State string }
	_ = json.Unmarshal(info.Workspace, &ws)
	return len(info.Rebuilds) + len(info.Restores), ws.State
}

// runUser logs on and off until the campaign stops, then waits for the reset of its last logoff.
// After each logoff the user picks at random: come back within the grace period (a network
// blip: no reset may follow), come back a little after it (a reset may or may not have
// started), or stay away until the WorkSpace is reset (exactly one reset must follow).
func (c *campaign) runUser(u *campaignUser, rng *rand.Rand) {
	defer c.usersWG.Done()
	s := c.w.sim
	grace := c.sc.grace
	if !c.pause(campaignUniform(rng, 0, c.sc.userStart)) {
		return
	}
	for {
		// 1. Log on, trying again while the WorkSpace refuses (being reset, starting).
		var call time.Time
		connected := false
		for !c.stopping() {
			call = s.Now()
			if s.ConnectWorkspace(u.id) == nil {
				connected = true
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !connected {
			return
		}
		if n := len(u.sessions); n > 0 {
			u.sessions[n-1].BackCall = call
		}
		// A stopped AUTO_STOP WorkSpace starts first; the user is connected once it is AVAILABLE.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if info, err := s.WorkspaceStatus(u.id); err == nil && info.ConnectionState == "CONNECTED" {
				break
			}
		}
		c.sessionsStarted.Add(1)
		// 2. Work for a while, then log off.
		c.pause(campaignUniform(rng, 300*time.Millisecond, 3*time.Second))
		sess := campaignSession{ConnCall: call, DiscAt: s.Now()}
		sess.Kicked = s.DisconnectWorkspace(u.id) != nil
		before, _ := campaignResetCount(s, u.id)
		// 3. Stay away.
		kind := rng.Float64()
		switch {
		case sess.Kicked:
			u.sessions = append(u.sessions, sess)
			if !c.pause(campaignUniform(rng, c.sc.restMin, c.sc.restMax)) {
				return
			}
			continue
		case u.mode == "off":
			u.sessions = append(u.sessions, sess)
			if !c.pause(campaignUniform(rng, grace, 3*grace)) {
				return
			}
			continue
		case kind < 0.25 && !c.stopping():
			time.Sleep(campaignUniform(rng, grace/20, grace/2)) // back within the grace period
		case kind < 0.35 && !c.stopping():
			time.Sleep(grace + campaignUniform(rng, 0, 2*time.Second)) // back just after it
		default:
			c.waitReset(u, &sess, before)
			u.sessions = append(u.sessions, sess)
			if !c.pause(campaignUniform(rng, c.sc.restMin, c.sc.restMax)) {
				return
			}
			continue
		}
		if c.stopping() {
			// The user does not come back after all: the logoff is the last one, and qualifies.
			c.waitReset(u, &sess, before)
			u.sessions = append(u.sessions, sess)
			return
		}
		u.sessions = append(u.sessions, sess)
	}
}

// waitReset waits until the WorkSpace was reset after sess's logoff, or deskpilot recorded
// that it failed or skipped it, or the limit passes.
func (c *campaign) waitReset(u *campaignUser, sess *campaignSession, before int) {
	sess.Waited = true
	for deadline := time.Now().Add(c.sc.resetLimit); ; time.Sleep(200 * time.Millisecond) {
		if n, _ := campaignResetCount(c.w.sim, u.id); n > before || c.watch.endedAfter(u.id, sess.DiscAt) {
			return
		}
		if time.Now().After(deadline) {
			sess.WaitedOut = true
			return
		}
	}
}

// runSessions starts and ends AppStream sessions at random on the campaign's fleets.
func (c *campaign) runSessions(rng *rand.Rand) {
	defer c.bg.Done()
	type live struct {
		id  string
		end time.Time
	}
	var lives []live
	for !c.stopping() {
		time.Sleep(campaignUniform(rng, 100*time.Millisecond, 500*time.Millisecond))
		keep := lives[:0]
		for _, l := range lives {
			if time.Now().After(l.end) {
				_ = c.w.sim.EndSession(l.id)
				continue
			}
			keep = append(keep, l)
		}
		lives = keep
		if len(lives) >= 2*len(c.fleets) {
			continue
		}
		f := c.fleets[rng.IntN(len(c.fleets))]
		info, err := c.w.sim.StartSession(sim.SessionSpec{FleetName: f.name, StackName: "stack-" + f.name, UserId: "as-user-" + f.name})
		if err != nil {
			c.appSessionsRefused.Add(1)
			continue
		}
		c.appSessions.Add(1)
		lives = append(lives, live{id: info.SessionId, end: time.Now().Add(campaignUniform(rng, 500*time.Millisecond, 6*time.Second))})
	}
	for _, l := range lives {
		_ = c.w.sim.EndSession(l.id)
	}
}

// campaignWatcher follows the daemon's reset history through its API, so that a user waiting
// for a reset stops waiting when deskpilot recorded that it failed or skipped it.
type campaignWatcher struct {
	mu    sync.Mutex
	ended map[string][]time.Time
}

func (w *campaignWatcher) endedAfter(id string, t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.ended[id] {
		if !at.Before(t) {
			return true
		}
	}
	return false
}

func (c *campaign) runWatcher(ctx context.Context) {
	defer c.ctxWG.Done()
	client := &api.Client{BaseURL: "http://" + c.api}
	since := c.start.Add(-time.Minute)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			list, err := client.Resets(rctx, since)
			cancel()
			if err != nil {
				break // the daemon is down; later
			}
			c.watch.mu.Lock()
			for _, r := range list.Resets {
				if r.Outcome == "failed" || r.Outcome == "skipped" {
					c.watch.ended[r.WorkspaceID] = append(c.watch.ended[r.WorkspaceID], r.At)
				}
				if r.At.After(since) {
					since = r.At
				}
			}
			c.watch.mu.Unlock()
			if !list.Truncated {
				break
			}
		}
	}
}

// campaignUniform is a duration drawn uniformly from [lo, hi).
func campaignUniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
