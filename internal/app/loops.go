package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// Each part of the daemon runs in its own loop, with its own timer and its own backoff, so that
// a failure in one (WorkSpaces calls denied, a mail server down) never delays another (a drained
// fleet's restore). The parts share only the store, which serialises writes.
const (
	// maxIdle is the longest a loop sleeps without being woken, so that a clock jump or a lost
	// wake-up costs at most this.
	maxIdle = 5 * time.Second
	// minGap separates passes when work is due at once, so that a loop that keeps finding
	// work lets the HTTP server and the other loops run.
	minGap = 10 * time.Millisecond
)

// component is one of the daemon's loops.
type component struct {
	name string
	// pass runs once and returns when it next wants to run.
	pass func(ctx context.Context) (time.Time, error)
	// tickPass, if set, is the pass Main.Tick runs instead: one that never waits on a clock
	// (the events loop's long poll would wait for a manual clock that only the caller moves).
	tickPass func(ctx context.Context) (time.Time, error)
	// paced components back off their failing parts themselves (the rollout controller backs
	// off a failing fleet, not the whole controller), so a failed pass adds no loop backoff of
	// its own; unpaced ones back off as a whole.
	paced bool
	// wake interrupts the loop's sleep.
	wake chan struct{}
	// after is called after every pass (to wake the outbox when a pass may have enqueued).
	after func()
	// interval is how often the component runs when nothing wakes it (for readiness: a
	// component whose last good pass is older than 3 intervals is not ready).
	interval time.Duration
	// onOK, if set, is told of each pass that worked (the metrics' last successful pass).
	onOK func(name string, at time.Time)
	// onRecord, if set, is called after each pass's outcome is recorded, outside the lock (a
	// target's health gauge).
	onRecord func()

	mu      sync.Mutex
	lastOK  time.Time
	lastErr string
	// errClass and errAt are the latest failed pass's fault class and time.
	errClass string
	errAt    time.Time
}

// PassStatus is how one of the daemon's loops is doing.
type PassStatus struct {
	// Name is the loop: scan, rollouts, resets, outbox or housekeeping.
	Name string
	// LastOK is when its latest pass that worked ended (zero: none yet); LastError the error
	// of its latest pass if that one failed.
	LastOK    time.Time
	LastError string
	// ErrorClass and ErrorAt are the fault class and time of the latest failed pass.
	ErrorClass string
	ErrorAt    time.Time
	// Interval is how often it runs when nothing wakes it.
	Interval time.Duration
}

// record notes a pass's outcome.
func (c *component) record(at time.Time, err error) {
	c.recordLocked(at, err)
	if c.onRecord != nil {
		c.onRecord()
	}
}

func (c *component) recordLocked(at time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr, c.errClass, c.errAt = err.Error(), fault.Classify(err).String(), at
		return
	}
	c.lastOK, c.lastErr = at, ""
	if c.onOK != nil {
		c.onOK(c.name, at)
	}
}

func (c *component) status() PassStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return PassStatus{Name: c.name, LastOK: c.lastOK, LastError: c.lastErr, ErrorClass: c.errClass, ErrorAt: c.errAt, Interval: c.interval}
}

func newComponent(name string, paced bool, pass func(context.Context) (time.Time, error)) *component {
	return &component{name: name, pass: pass, paced: paced, wake: make(chan struct{}, 1)}
}

// poke asks the loop for a pass now.
func (c *component) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run is the loop: pass, then sleep until the pass's next time, the backoff after a failure
// (fault.Loop, growing with consecutive failures of this component only), a poke, or ctx's end.
func (c *component) run(ctx context.Context, now func() time.Time, log *slog.Logger) {
	log = log.With("loop", c.name)
	failures := 0
	for ctx.Err() == nil {
		next, err := c.pass(ctx)
		if ctx.Err() == nil {
			c.record(now(), err)
		}
		if c.after != nil {
			c.after()
		}
		wait := min(max(next.Sub(now()), 0), maxIdle)
		if err != nil && ctx.Err() == nil {
			failures++
			class := fault.Classify(err)
			if !c.paced {
				wait = max(wait, fault.Loop.Delay(failures, class))
			}
			if c.paced {
				// Its failing parts (a fleet, a rollout) back off on their own; the next pass
				// may come at once for the others, so "retry_in" would mislead.
				log.Warn("pass failed in part; the failing parts back off on their own", "err", err, "class", class.String(), "failures", failures,
					"next_pass_in", max(wait, minGap).Round(time.Millisecond))
			} else {
				log.Warn("pass failed", "err", err, "class", class.String(), "failures", failures, "retry_in", max(wait, minGap).Round(time.Millisecond))
			}
		} else {
			failures = 0
		}
		wait = max(wait, minGap)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-c.wake:
		}
		t.Stop()
	}
}

// runAll runs every component in its own goroutine until ctx ends.
func runAll(ctx context.Context, comps []*component, now func() time.Time, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, c := range comps {
		wg.Go(func() { c.run(ctx, now, log) })
	}
	wg.Wait()
}
