// Package ha elects one leader among the deskpilot replicas that share a store: the leader
// acts (rollouts, resets, notices), the others serve the API and the dashboard read-only and
// take over when the leader's lease runs out.
//
// The lease lives in the store, judged by the database's clock, so the replicas' clocks need
// not agree. A replica also keeps its own, shorter, view of its lease on its own monotonic
// clock: it counts the lease from just before it asked for it, so its view always ends before
// the database's. Leading reports that view, and deskpilot asks it before every AWS call, so a
// leader that was paused (a stopped process, a long GC, a frozen VM) past its lease and then
// resumes stops acting before anyone else can have started. What it writes to the store
// is fenced by its lease's epoch as well (store.Fence), for the writes already under way.
package ha

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Lease is the leader lease as the store holds it.
type Lease struct {
	Holder string
	// Epoch grows by one each time the lease changes hands; the fence compares it.
	Epoch int64
	// Expires is when the lease runs out, by the database's clock.
	Expires time.Time
}

// Leases is the store's lease table.
type Leases interface {
	// AcquireLease takes the lease if it is free, expired or already the holder's, for ttl.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, bool, error)
	// RenewLease extends the holder's lease of this epoch, if it is still theirs.
	RenewLease(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) (Lease, bool, error)
	// ReleaseLease ends the holder's lease now.
	ReleaseLease(ctx context.Context, name, holder string, epoch int64) error
	// Leader is the current holder, if the lease has not expired.
	Leader(ctx context.Context, name string) (Lease, bool, error)
}

// Timing derives the lease's timing from ha.takeover, the longest a dead leader may leave
// the replicas without one: a follower tries to take the lease every Takeover/5, and the
// lease lasts the rest, 4/5 of Takeover, so a follower that tries just after the lease ran
// out takes over within Takeover of the leader's last renewal. The leader renews every
// quarter of the lease, so three renewals in a row may fail (a slow database) before it
// loses it.
type Timing struct {
	TTL, Retry, Renew time.Duration
}

// TimingFor returns the timing for a takeover time.
func TimingFor(takeover time.Duration) Timing {
	ttl := takeover * 4 / 5
	return Timing{TTL: ttl, Retry: takeover / 5, Renew: ttl / 4}
}

// margin is how much of its lease a leader gives up in its own view, for clock-rate drift
// between it and the database (real clocks drift by parts per million; this is 2 %).
func margin(ttl time.Duration) time.Duration { return ttl / 50 }

// Elector takes and keeps the lease for one replica.
type Elector struct {
	leases Leases
	name   string
	holder string
	timing Timing
	now    func() time.Time
	log    *slog.Logger

	// OnElected is called when this replica becomes leader, with the lease's epoch, before
	// Leading reports true; OnDemoted when it stops being leader. Both run in Tick's goroutine.
	OnElected func(epoch int64)
	OnDemoted func()

	mu      sync.Mutex
	leading bool
	epoch   int64
	// until is the end of this replica's view of its lease, on now's clock (monotonic when
	// now is time.Now).
	until time.Time
	// leader is the holder last seen, this replica or another.
	leader   Lease
	lastSeen bool
}

// New returns an elector for the lease name, held as holder (unique per replica and run).
func New(leases Leases, name, holder string, timing Timing, now func() time.Time, log *slog.Logger) *Elector {
	return &Elector{leases: leases, name: name, holder: holder, timing: timing, now: now, log: log}
}

// Holder is this replica's name in the lease.
func (e *Elector) Holder() string { return e.holder }

// Leading reports whether this replica holds the lease by its own (shorter) view of it, now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading && e.now().Before(e.until)
}

// Epoch is the epoch of the lease this replica holds or last held.
func (e *Elector) Epoch() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.epoch
}

// Status is what a replica knows of the lease.
type Status struct {
	// Self is this replica's holder name; Leading whether it leads now.
	Self    string
	Leading bool
	// Leader is the holder last seen ("" when none was), Epoch its epoch and Expires when
	// its lease runs out.
	Leader  string
	Epoch   int64
	Expires time.Time
}

// Status returns what the elector last saw; it makes no call.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Status{Self: e.holder, Leading: e.leading && e.now().Before(e.until)}
	if e.lastSeen {
		s.Leader, s.Epoch, s.Expires = e.leader.Holder, e.leader.Epoch, e.leader.Expires
	}
	return s
}

// Tick takes or renews the lease once and returns when it wants to run again. A leader whose
// renewal fails stays leader until its own view of the lease ends, then steps down.
func (e *Elector) Tick(ctx context.Context) (time.Time, error) {
	start := e.now()
	e.mu.Lock()
	leading, epoch, until := e.leading, e.epoch, e.until
	e.mu.Unlock()

	if leading && start.Before(until) {
		l, ok, err := e.leases.RenewLease(ctx, e.name, e.holder, epoch, e.timing.TTL)
		switch {
		case err != nil:
			e.log.Warn("could not renew the leader lease; still leader until it runs out", "err", err, "lease_left", until.Sub(e.now()).Round(time.Millisecond))
			return e.now().Add(min(e.timing.Renew, max(until.Sub(e.now()), 0))), fmt.Errorf("renew leader lease: %w", err)
		case ok:
			e.keep(l, start)
			return start.Add(e.timing.Renew), nil
		default:
			e.demote("the lease was taken or has run out")
			// Fall through to an attempt to read who leads now.
		}
	} else if leading {
		e.demote("its own view of the lease ran out before a renewal")
	}

	l, ok, err := e.leases.AcquireLease(ctx, e.name, e.holder, e.timing.TTL)
	if err != nil {
		return e.now().Add(e.timing.Retry), fmt.Errorf("acquire leader lease: %w", err)
	}
	if ok {
		e.elect(l, start)
		return start.Add(e.timing.Renew), nil
	}
	cur, found, err := e.leases.Leader(ctx, e.name)
	if err != nil {
		return e.now().Add(e.timing.Retry), fmt.Errorf("read leader lease: %w", err)
	}
	e.mu.Lock()
	e.leader, e.lastSeen = cur, found
	e.mu.Unlock()
	return e.now().Add(e.timing.Retry), nil
}

func (e *Elector) keep(l Lease, start time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.until = start.Add(e.timing.TTL - margin(e.timing.TTL))
	e.leader, e.lastSeen = l, true
}

func (e *Elector) elect(l Lease, start time.Time) {
	if e.OnElected != nil {
		e.OnElected(l.Epoch)
	}
	e.mu.Lock()
	e.leading, e.epoch = true, l.Epoch
	e.until = start.Add(e.timing.TTL - margin(e.timing.TTL))
	e.leader, e.lastSeen = l, true
	e.mu.Unlock()
	e.log.Info("became leader", "holder", e.holder, "epoch", l.Epoch)
}

func (e *Elector) demote(why string) {
	e.mu.Lock()
	was := e.leading
	e.leading = false
	epoch := e.epoch
	e.mu.Unlock()
	if !was {
		return
	}
	e.log.Warn("stopped being leader: "+why, "holder", e.holder, "epoch", epoch)
	if e.OnDemoted != nil {
		e.OnDemoted()
	}
}

// Release gives the lease up, so that another replica takes over at once (a clean shutdown).
func (e *Elector) Release(ctx context.Context) error {
	e.mu.Lock()
	leading, epoch := e.leading, e.epoch
	e.leading = false
	e.mu.Unlock()
	if !leading {
		return nil
	}
	if e.OnDemoted != nil {
		e.OnDemoted()
	}
	if err := e.leases.ReleaseLease(ctx, e.name, e.holder, epoch); err != nil {
		return fmt.Errorf("release leader lease: %w", err)
	}
	e.log.Info("released the leader lease", "holder", e.holder, "epoch", epoch)
	return nil
}
