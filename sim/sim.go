// Package sim is deskpilot's AWS emulator: AppStream 2.0, Application Auto Scaling, WorkSpaces,
// SES (v1 and v2), STS, SQS and a little CloudFormation on one HTTP port, speaking the real wire
// protocols so that aws-sdk-go-v2, the AWS CLI and boto3 work against it unchanged. It also plays
// CloudWatch and SNS for one purpose: a WorkSpace's SessionDisconnect alarm, delivered as a
// signed SNS message to HTTP subscribers; and CloudTrail and EventBridge for another: AppStream
// tag calls, delivered as events to SQS queues.
//
// It behaves like AWS rather than like a dictionary: fleets start and stop over time, streaming
// instances take time to provision and to terminate, sessions occupy instances, capacity
// changes made through Application Auto Scaling drain fleets the way AWS does, and WorkSpaces
// rebuild, restore, start, stop and auto-stop over time. Validation, error codes, HTTP statuses
// and pagination follow the official API models.
//
// Time is computed lazily from a Clock: every request first applies whatever was due up to the
// clock's now. A test that passes a ManualClock can therefore run an hour of fleet behaviour by
// advancing the clock, with no goroutines and no sleeps.
//
// The package imports nothing from deskpilot's internal packages so that anyone can use it in
// their own Go tests:
//
//	s := sim.New(sim.Options{})
//	srv := httptest.NewServer(s)
//	cfg, _ := config.LoadDefaultConfig(ctx, config.WithBaseEndpoint(srv.URL), …)
package sim

import (
	"container/heap"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/ses"
	"github.com/deskpilot/deskpilot/sim/internal/sns"
)

// Options configure an emulator. The zero value is a us-east-1 emulator on the wall clock with
// AWS-like timings.
type Options struct {
	// Region is the region in every ARN. Default us-east-1.
	Region string
	// AccountID is the account in every ARN. Default 123456789012.
	AccountID string
	// Clock is the emulator's time. Default: the wall clock.
	Clock Clock
	// Speed divides every simulated duration: 60 makes a ten-minute provisioning take ten
	// seconds. Values <= 1 mean real durations.
	Speed float64
	// Timings override the default durations (zero fields keep their default).
	Timings Timings
	// PageSize is how many items one page of DescribeFleets, DescribeStacks and DescribeImages
	// holds when the caller does not ask for fewer. Default 10: small on purpose, so that callers
	// that ignore NextToken fail here as they would in AWS with a large estate.
	PageSize int
	// RandSeed makes fault injection repeatable. Zero picks a random seed.
	RandSeed uint64
	// MaxCallLog bounds how many calls /_sim/calls keeps in full (counts are kept for all).
	// Default 10000.
	MaxCallLog int
	// MaxTimeline bounds how many target changes, and how many capacity changes, a fleet's
	// timeline keeps (the oldest are dropped first). Default 1000.
	MaxTimeline int
	// Accounts are declared at New, as SetAccount declares them (accounts.go): other accounts
	// (or the root account's roles, keys and denied regions). New panics on an invalid one.
	Accounts []Account
}

// Sim is a running emulator: one world, an (account, region), and, for the Sim New returns,
// the root of every other world (accounts.go). It is an http.Handler; all methods are safe for
// concurrent use.
type Sim struct {
	opts Options
	// parent is the root world, nil for the root itself; reg is the root's registry of
	// accounts, credentials and worlds (nil in the other worlds).
	parent  *Sim
	reg     *registry
	clock   Clock
	timings Timings

	ses     *ses.Backend
	sns     *sns.Backend
	control *http.ServeMux

	// mu guards everything below, and the state of every fleet, image, stack, session and
	// WorkSpace.
	mu       sync.Mutex
	now      time.Time // the instant being simulated; moves forward only
	events   eventQueue
	seq      uint64
	rng      *rand.Rand
	fleets   map[string]*fleet
	images   map[string]*image
	stacks   map[string]*stack
	sessions map[string]*session
	targets  map[string]*scalableTarget
	activity []*scalingActivity
	// scheduled are the scheduled actions, by resource id and name (scheduledKey).
	scheduled map[string]*scheduledAction
	faults    []*fault
	calls     callLog
	// touched are the fleets whose capacity may have changed since it was last recorded in
	// their timeline.
	touched map[*fleet]struct{}

	workspaces    map[string]*workspace
	wsOrder       []string // every WorkSpace id; sorted when wsSorted
	wsSorted      bool
	wsDirectories map[string]*wsDirectory
	wsBundles     map[string]*wsBundle
	wsIPSeq       int
	// sqs is the SQS queues and the event targets (sqs.go, events.go); cfnStacks the
	// CloudFormation stacks by name (cloudformation.go).
	sqs       *sqsBackend
	cfnStacks map[string]*cfnStack
	// baseURL is the emulator's URL as SetBaseURL gave it; SNS messages point there.
	baseURL string
}

// New returns an emulator with the built-in public AppStream base images and nothing else: the
// root world, of Options.AccountID in Options.Region, with Options.Accounts declared.
func New(opts Options) *Sim {
	accounts := opts.Accounts
	opts.Accounts = nil
	s := newWorld(opts)
	s.reg = newRegistry()
	for _, a := range accounts {
		if err := s.SetAccount(a); err != nil {
			panic("sim.New: Options.Accounts: " + err.Error())
		}
	}
	return s
}

// newWorld returns a world with the built-in public images and no registry.
func newWorld(opts Options) *Sim {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.Clock == nil {
		opts.Clock = wallClock{}
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 10
	}
	if opts.MaxCallLog <= 0 {
		opts.MaxCallLog = 10000
	}
	if opts.MaxTimeline <= 0 {
		opts.MaxTimeline = 1000
	}
	seed := opts.RandSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Sim{
		opts:    opts,
		clock:   opts.Clock,
		timings: opts.Timings.withDefaults().scaled(opts.Speed),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	s.ses = ses.New(s.clock.Now, opts.Region, opts.AccountID)
	s.sns = sns.New(s.clock.Now, opts.Region)
	s.sqs = newSQS()
	s.control = s.controlMux()
	s.resetLocked()
	return s
}

// Region returns the emulator's region.
func (s *Sim) Region() string { return s.opts.Region }

// AccountID returns the emulator's account id.
func (s *Sim) AccountID() string { return s.opts.AccountID }

// Now returns the emulator's current time.
func (s *Sim) Now() time.Time { return s.clock.Now() }

// Reset forgets every resource, session, fault, call, sent message, SNS subscription and
// delivery, and restores the built-in public images, as POST /_sim/reset does. The clock, the
// base URL and the SNS signing key are kept. On the root it also drops every other world and
// forgets the temporary credentials STS issued; the declared accounts are kept. On another
// world it resets that world alone.
func (s *Sim) Reset() {
	if s.reg != nil {
		s.reg.mu.Lock()
		s.reg.worlds = map[worldKey]*Sim{}
		s.reg.creds = map[string]*tempCredential{}
		s.reg.mu.Unlock()
	}
	s.resetWorld()
}

// resetWorld resets this world alone.
func (s *Sim) resetWorld() {
	s.mu.Lock()
	s.resetLocked()
	s.mu.Unlock()
	s.ses.Reset()
	s.sns.Reset()
}

func (s *Sim) resetLocked() {
	s.now = s.clock.Now()
	s.events = nil
	s.fleets = map[string]*fleet{}
	s.images = map[string]*image{}
	s.stacks = map[string]*stack{}
	s.sessions = map[string]*session{}
	s.targets = map[string]*scalableTarget{}
	s.activity = nil
	s.scheduled = map[string]*scheduledAction{}
	s.faults = nil
	s.calls = callLog{max: s.opts.MaxCallLog, counts: map[string]int{}}
	s.touched = map[*fleet]struct{}{}
	s.workspaces = map[string]*workspace{}
	s.wsOrder, s.wsSorted = nil, true
	s.wsDirectories = map[string]*wsDirectory{}
	s.wsBundles = map[string]*wsBundle{}
	s.wsIPSeq = 0
	s.sqs.reset()
	s.cfnStacks = map[string]*cfnStack{}
	s.addPublicImages()
}

// lock takes the state lock and applies every change that fell due up to now. Every entry point
// that reads or changes state goes through it.
func (s *Sim) lock() {
	s.mu.Lock()
	s.advance(s.clock.Now())
}

// advance fires due events in time order; each runs with s.now set to its own instant so that
// the changes it makes are dated correctly. Fleet timelines are brought up to date before the
// clock moves: first with what the calls since the last advance changed, then after each event.
func (s *Sim) advance(to time.Time) {
	s.flushCapacity()
	for len(s.events) > 0 && !s.events[0].at.After(to) {
		ev := heap.Pop(&s.events).(*event)
		if ev.at.After(s.now) {
			s.now = ev.at
		}
		ev.fire()
		s.flushCapacity()
	}
	if to.After(s.now) {
		s.now = to
	}
}

// after schedules fire to run d after the current simulated instant.
func (s *Sim) after(d time.Duration, fire func()) {
	s.seq++
	heap.Push(&s.events, &event{at: s.now.Add(d), seq: s.seq, fire: fire})
}

// scale divides a simulated duration by the emulator's speed, as the timings are.
func (s *Sim) scale(d time.Duration) time.Duration {
	if s.opts.Speed <= 1 {
		return d
	}
	return time.Duration(float64(d) / s.opts.Speed)
}

// nextID returns a number unique within this emulator, for ids that must not repeat.
func (s *Sim) nextID() uint64 {
	s.seq++
	return s.seq
}

type event struct {
	at   time.Time
	seq  uint64
	fire func()
}

// eventQueue is a min-heap of events by time, then by scheduling order.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	ev := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return ev
}

var _ http.Handler = (*Sim)(nil)
