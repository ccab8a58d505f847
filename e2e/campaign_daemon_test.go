package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// campaignProc is one `deskpilot serve` process of a campaign.
type campaignProc struct {
	d       *rpDaemon
	exited  chan struct{} // closed when the process has ended
	err     error         // its exit, once exited
	killed  atomic.Bool   // the campaign killed it (else it exited by itself)
	started time.Time
}

// campaignSupervisor runs the daemon as a service manager would (Restart=always): the campaign
// SIGKILLs it at random moments and starts it again; if it exits by itself it is started again
// too, and the exit is classified (expected only when AWS could not be reached at start).
type campaignSupervisor struct {
	c   *campaign
	bin string
	cfg string

	mu   sync.Mutex
	cur  *campaignProc
	all  []*campaignProc
	stop chan struct{}
	done chan struct{}

	kills, killsAfterCall, restartsAfterPause atomic.Int64
	selfExits, startFailures                  atomic.Int64
	armedTimeouts                             atomic.Int64
	refusals                                  int
	afterOps                                  map[string]int
}

func newCampaignSupervisor(c *campaign, bin, cfg string) *campaignSupervisor {
	return &campaignSupervisor{c: c, bin: bin, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{}), afterOps: map[string]int{}}
}

// startLocked starts a daemon; the caller holds mu.
func (s *campaignSupervisor) startLocked() {
	p := &campaignProc{d: rpStartDaemon(s.c.t, s.bin, s.cfg), exited: make(chan struct{}), started: time.Now()}
	go func() {
		err := <-p.d.done
		p.err = err
		p.d.done <- err // for rpDaemon.stop at cleanup
		close(p.exited)
	}()
	s.cur = p
	s.all = append(s.all, p)
}

func (s *campaignSupervisor) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked()
	go s.watch()
}

func exited(p *campaignProc) bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// watch restarts a daemon that exited by itself, until stopped.
func (s *campaignSupervisor) watch() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		s.mu.Lock()
		if p := s.cur; p != nil && exited(p) && !p.killed.Load() {
			s.selfExits.Add(1)
			logs := p.d.logs.String()
			// A daemon that cannot reach AWS at start exits (serve without --wait-for-aws): it
			// is expected while the emulator is down or while every call may fail.
			if strings.Contains(logs, "sts:GetCallerIdentity") && (len(s.c.v.faults) > 0 || s.c.v.emulatorRestarts) {
				s.startFailures.Add(1)
			} else {
				s.c.errorf("the daemon (pid %d) exited by itself (%v) %s after it started; its log (tail):\n%s",
					p.d.cmd.Process.Pid, p.err, time.Since(p.started).Round(time.Millisecond), tail(logs, 40))
			}
			time.Sleep(300 * time.Millisecond)
			s.startLocked()
		}
		s.mu.Unlock()
	}
}

// kill SIGKILLs the running daemon and waits for it to be gone; it does not start another.
// after names the mutating call it follows ("" for a kill at a random moment).
func (s *campaignSupervisor) kill(after string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cur
	if p == nil || exited(p) {
		return
	}
	p.killed.Store(true)
	_ = p.d.cmd.Process.Kill()
	<-p.exited
	s.kills.Add(1)
	if after != "" {
		s.killsAfterCall.Add(1)
		s.afterOps[after]++
	}
}

// restart starts a daemon if none runs.
func (s *campaignSupervisor) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || exited(s.cur) {
		s.startLocked()
	}
}

// current returns the running daemon.
func (s *campaignSupervisor) current() *campaignProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// secondRefuses starts a second daemon on the same store while one runs (and answers its API):
// it must exit non-zero at once, naming the running one.
func (s *campaignSupervisor) secondRefuses(api string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cur
	if p == nil || exited(p) {
		return
	}
	if resp, err := http.Get("http://" + api + "/healthz"); err != nil {
		return // not serving yet: it may not hold the store's lock yet
	} else {
		resp.Body.Close()
	}
	second := startDaemon(s.c.t, s.bin, s.cfg)
	var err error
	select {
	case err = <-second.done:
	case <-time.After(20 * time.Second):
		second.stop()
		s.c.errorf("a second daemon on the same store was still running 20s after it started; its output:\n%s", tail(second.logs.String(), 20))
		return
	}
	out := second.logs.String()
	var ee *exec.ExitError
	switch {
	case !errors.As(err, &ee) || ee.ExitCode() <= 0:
		s.c.errorf("a second daemon on the same store ended with %v; want a non-zero exit status; its output:\n%s", err, out)
	case !strings.Contains(out, fmt.Sprintf("is in use by deskpilot pid %d", p.d.cmd.Process.Pid)):
		s.c.errorf("a second daemon on the same store did not name the running one (pid %d):\n%s", p.d.cmd.Process.Pid, out)
	default:
		s.refusals++
	}
}

// shutdown stops the watcher and the running daemon (cleanly).
func (s *campaignSupervisor) shutdown() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.d.stop()
	}
}

// resume starts the watcher and a daemon again after shutdown (the flush at the end).
func (s *campaignSupervisor) resume() {
	s.mu.Lock()
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.startLocked()
	s.mu.Unlock()
	go s.watch()
}
