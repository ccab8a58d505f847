package sim

import (
	"sync"
	"time"
)

// Clock tells the emulator what time it is. Everything the emulator does over time (fleets
// starting, instances provisioning, sessions expiring) is computed from it when a request
// arrives, so a test that owns the clock owns the emulator's time.
type Clock interface {
	Now() time.Time
}

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now().UTC() }

// ManualClock is a Clock that moves only when told to. Tests use it to run minutes of simulated
// fleet behaviour in microseconds.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock stopped at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start.UTC()}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (a negative d is ignored: time does not run backwards).
func (c *ManualClock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Timings are how long the emulator's asynchronous changes take. The defaults resemble AWS;
// Options.Speed divides all of them.
type Timings struct {
	// FleetStart is STARTING → RUNNING.
	FleetStart time.Duration
	// FleetStop is STOPPING → STOPPED.
	FleetStop time.Duration
	// InstanceProvision is how long a new streaming instance takes to become available.
	InstanceProvision time.Duration
	// InstanceTerminate is how long an instance takes to go away once it is told to.
	InstanceTerminate time.Duration
	// ImageReplace is the interval between batches when idle instances are replaced after an
	// image change on a running fleet.
	ImageReplace time.Duration
	// WorkspaceRebuild is REBUILDING → AVAILABLE (and RESTORING → AVAILABLE).
	WorkspaceRebuild time.Duration
	// WorkspaceTransition is how long WorkSpaces start, stop and reboot take.
	WorkspaceTransition time.Duration
}

// DefaultTimings resemble what AWS takes.
var DefaultTimings = Timings{
	FleetStart:          10 * time.Minute,
	FleetStop:           5 * time.Minute,
	InstanceProvision:   10 * time.Minute,
	InstanceTerminate:   2 * time.Minute,
	ImageReplace:        5 * time.Minute,
	WorkspaceRebuild:    20 * time.Minute,
	WorkspaceTransition: 3 * time.Minute,
}

// scaled returns the timings divided by speed (speed <= 1 leaves them alone), never below a
// millisecond so that ordering is kept.
func (t Timings) scaled(speed float64) Timings {
	if speed <= 1 {
		return t
	}
	f := func(d time.Duration) time.Duration {
		s := time.Duration(float64(d) / speed)
		if s < time.Millisecond {
			s = time.Millisecond
		}
		return s
	}
	return Timings{
		FleetStart:          f(t.FleetStart),
		FleetStop:           f(t.FleetStop),
		InstanceProvision:   f(t.InstanceProvision),
		InstanceTerminate:   f(t.InstanceTerminate),
		ImageReplace:        f(t.ImageReplace),
		WorkspaceRebuild:    f(t.WorkspaceRebuild),
		WorkspaceTransition: f(t.WorkspaceTransition),
	}
}

// withDefaults fills every zero duration from DefaultTimings.
func (t Timings) withDefaults() Timings {
	pick := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	return Timings{
		FleetStart:          pick(t.FleetStart, DefaultTimings.FleetStart),
		FleetStop:           pick(t.FleetStop, DefaultTimings.FleetStop),
		InstanceProvision:   pick(t.InstanceProvision, DefaultTimings.InstanceProvision),
		InstanceTerminate:   pick(t.InstanceTerminate, DefaultTimings.InstanceTerminate),
		ImageReplace:        pick(t.ImageReplace, DefaultTimings.ImageReplace),
		WorkspaceRebuild:    pick(t.WorkspaceRebuild, DefaultTimings.WorkspaceRebuild),
		WorkspaceTransition: pick(t.WorkspaceTransition, DefaultTimings.WorkspaceTransition),
	}
}
