package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// The fault campaign (issue 10): a real `deskpilot serve` against the emulator, with fleets
// rolled out round after round while WorkSpaces users log on and off, and the daemon SIGKILLed
// at random moments throughout; then every invariant is checked on the world and the store.
//
//	go test -count=1 -run '^TestCampaign$' ./e2e -campaign=short -v                 # CI, ≤ 5 min
//	go test -count=1 -run '^TestCampaign$' ./e2e -campaign=full -timeout 90m -v     # the full one
//	... -campaign.seed=N                                                            # replay a seed
//
// The seed fixes every random choice (estate, users, kill moments, faults); the interleaving of
// the daemon's goroutines with the driver's is the machine's, so a seed replays the same
// campaign, not the same instants.
var (
	campaignFlag     = flag.String("campaign", "", "run TestCampaign, the fault campaign: short (CI) or full (give -timeout 90m); also DESKPILOT_CAMPAIGN")
	campaignSeedFlag = flag.String("campaign.seed", "", "the fault campaign's seed (default: from the clock); also DESKPILOT_CAMPAIGN_SEED")
)

// campaignScheduledActionAtRestore says what a fleet's Min/Max must be after a drain during
// which one of its scheduled actions was due. false: the Min/Max deskpilot saved before the
// drain (the action's change is lost), which is what the committed code did when this campaign
// was written. true: what the schedule says now (the action's Min/Max), which is what
// deskpilot does once it suspends scheduled scaling during a drain and applies the schedule at
// the restore (the SuspendedState work of issue 10, in the working tree when the campaign was
// first run). EXTENSION POINT: flip it to match the build under test.
const campaignScheduledActionAtRestore = true

// campaignDeskpilotModes are the drain modes the campaign asks deskpilot for, each through the
// image's Drain tag (scale-to-zero through ScaleImmediately, as the recipe's admins do).
var campaignDeskpilotModes = map[string]bool{"scale-to-zero": true, "sessions": true, "deadline": true}

// campaignDeadline and campaignWarning are rollouts.drain.session_deadline and warning: short
// enough that sessions (which last up to 6 s) are still there at some deadlines.
const campaignDeadline, campaignWarning = 3 * time.Second, time.Second

// campaignSessionsPerInstance is the MaxSessionsPerInstance of the multi-session fleets.
const campaignSessionsPerInstance = 4

// campaignDrainMode is one way a rollout ends the sessions on a fleet's old image. Each fleet
// of the campaign has one; its rollouts and its invariants are the mode's.
type campaignDrainMode struct {
	name string
	// prefix starts the names of the mode's fleets; each round rolls one image out to
	// FleetName=prefix:<prefix>.
	prefix string
	// needs are the emulator's operations the mode needs (probed at the start).
	needs []string
	// imageTags are the rollout tags of the mode's image.
	imageTags map[string]string
	// multiSession fleets host several sessions per instance (MaxSessionsPerInstance).
	multiSession bool
}

// campaignModes lists every drain mode; those deskpilot or the emulator cannot do yet are left
// out of the estate (and said so in the log).
var campaignModes = []campaignDrainMode{
	{name: "scale-to-zero", prefix: "cz-", imageTags: map[string]string{"ScaleImmediately": "True"}},
	// Multi-session fleets: their old instances get capacity added, then drained one by one.
	{name: "sessions", prefix: "cs-", needs: []string{"PhotonAdminProxyService.DrainSessionInstance"}, imageTags: map[string]string{"Drain": "sessions"}, multiSession: true},
	// Single-session fleets, scaled to zero, then their old sessions ended at the deadline.
	{name: "deadline", prefix: "cd-", needs: []string{"PhotonAdminProxyService.ExpireSession"}, imageTags: map[string]string{"Drain": "deadline"}},
}

// campaignScale is the size of a campaign.
type campaignScale struct {
	name               string
	fleets, workspaces int
	// active is how long users, sessions, kills and rounds run (at least; until minKills).
	active   time.Duration
	minKills int
	// outages is how many times the emulator-restart variant takes the emulator away mid-drain,
	// each for a time in [outageMin, outageMax).
	outages              int
	outageMin, outageMax time.Duration
	grace                time.Duration
	// userStart spreads the users' first logons; restMin/restMax is how long a user stays away
	// after a reset before the next session.
	userStart, restMin, restMax time.Duration
	// resetLimit is how long a user who stays away waits for the reset before it counts as
	// missing.
	resetLimit time.Duration
	// actionSpread: each round's scheduled actions fire within this long of the round's start.
	actionSpread time.Duration
}

var campaignScales = map[string]campaignScale{
	"short": {name: "short", fleets: 8, workspaces: 40, active: 30 * time.Second, minKills: 10,
		outages: 2, outageMin: time.Second, outageMax: 3 * time.Second, grace: 2 * time.Second,
		userStart: 15 * time.Second, restMin: 6 * time.Second, restMax: 20 * time.Second,
		resetLimit: 150 * time.Second, actionSpread: 6 * time.Second},
	"full": {name: "full", fleets: 20, workspaces: 200, active: 220 * time.Second, minKills: 55,
		outages: 8, outageMin: 2 * time.Second, outageMax: 8 * time.Second, grace: 2 * time.Second,
		userStart: 150 * time.Second, restMin: 40 * time.Second, restMax: 160 * time.Second,
		resetLimit: 200 * time.Second, actionSpread: 8 * time.Second},
}

// campaignVariant is what goes wrong besides the kills.
type campaignVariant struct {
	name             string
	faults           []sim.Fault
	emulatorRestarts bool
}

var campaignVariants = []campaignVariant{
	{name: "none"},
	{name: "faults", faults: []sim.Fault{
		// Tried in order, first hit only: errors first, then latency on part of the rest.
		{Service: "*", ErrorCode: "ThrottlingException", Probability: 0.3},
		{Service: "*", ErrorCode: "InternalServerError", Probability: 0.03},
		{Service: "*", ErrorCode: "ServiceUnavailable", Probability: 0.02},
		{Service: "*", LatencyMs: 40, Probability: 0.2},
	}},
	{name: "emulator-restart", emulatorRestarts: true},
}

// campaignFleet is one fleet of the estate, and what its target must be.
type campaignFleet struct {
	name      string
	mode      *campaignDrainMode
	seeded    rollout.Capacity
	suspended campaignSuspended
	// expect is the Min/Max the fleet must have now (after the rounds checked so far).
	expect rollout.Capacity
}

// campaignSuspended is a scalable target's SuspendedState.
type campaignSuspended struct{ In, Out, Scheduled bool }

// campaignRound is one rollout of a new image to every fleet of a mode, with one scheduled
// action per fleet due during it.
type campaignRound struct {
	n              int
	image          string
	mode           *campaignDrainMode
	start, ended   time.Time // emulator clock: before the actions were put; the rollout seen ended
	state          string
	steps          map[string]api.Step
	actions        map[string]campaignAction
	actionsPutFail int
}

type campaignAction struct {
	name string
	at   time.Time
	cap  rollout.Capacity
}

// campaignFeatures are what the emulator can do beyond what the campaign always uses.
type campaignFeatures struct {
	ops             map[string]bool
	scalingPolicies bool
}

// campaign is one variant's run.
type campaign struct {
	t      *testing.T
	seed   uint64
	sc     campaignScale
	v      campaignVariant
	w      *campaignWorld
	sup    *campaignSupervisor
	api    string
	cfg    string
	db     string
	start  time.Time
	feat   campaignFeatures
	modes  []*campaignDrainMode
	fleets []*campaignFleet
	users  []*campaignUser
	as     *appstream.Client
	aas    *applicationautoscaling.Client
	watch  campaignWatcher

	chaos, stop  chan struct{}
	stopped      atomic.Bool
	chaosWG, bg  sync.WaitGroup
	ctxWG        sync.WaitGroup
	usersWG      sync.WaitGroup
	killedAfter  chan struct{}
	driverCalls  atomic.Int64
	roundsMu     sync.Mutex
	rounds       []*campaignRound
	roundErrors  []string
	secondsAfter time.Duration

	sessionsStarted, appSessions, appSessionsRefused atomic.Int64
}

func (c *campaign) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("[campaign %s/%s, seed %d] "+format, append([]any{c.sc.name, c.v.name, c.seed}, args...)...)
}

func (c *campaign) fatalf(format string, args ...any) {
	c.t.Helper()
	if p := c.sup.current(); p != nil {
		c.t.Logf("daemon log (tail):\n%s", tail(p.d.logs.String(), 60))
	}
	c.t.Fatalf("[campaign %s/%s, seed %d] "+format, append([]any{c.sc.name, c.v.name, c.seed}, args...)...)
}

func (c *campaign) stopping() bool { return c.stopped.Load() }

// pause sleeps d, or less if the campaign stops; it reports whether it slept it all.
func (c *campaign) pause(d time.Duration) bool {
	select {
	case <-c.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// chaosPause is pause for the chaos goroutines, which stop before the rest.
func (c *campaign) chaosPause(d time.Duration) bool {
	select {
	case <-c.chaos:
		return false
	case <-time.After(d):
		return true
	}
}

// campaignSettings reads the flags and the environment: the scale ("" to skip) and the seed.
func campaignSettings(t *testing.T) (string, uint64) {
	scale := *campaignFlag
	if scale == "" {
		scale = os.Getenv("DESKPILOT_CAMPAIGN")
	}
	raw := *campaignSeedFlag
	if raw == "" {
		raw = os.Getenv("DESKPILOT_CAMPAIGN_SEED")
	}
	seed := uint64(time.Now().UnixNano())
	if raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			t.Fatalf("campaign seed %q: %v", raw, err)
		}
		seed = n
	}
	return scale, seed
}

// TestCampaign is the fault campaign. It runs only when asked for (-campaign=short|full or
// DESKPILOT_CAMPAIGN), as three subtests: kills alone (none), kills with throttling, server
// errors and latency on every operation (faults), and kills with the emulator restarted
// mid-drain (emulator-restart). Each prints a summary and fails on any broken invariant.
func TestCampaign(t *testing.T) {
	scale, seed := campaignSettings(t)
	if scale == "" {
		t.Skip("the fault campaign runs only when asked for: -campaign=short|full (or DESKPILOT_CAMPAIGN=short|full), optionally -campaign.seed=N")
	}
	sc, ok := campaignScales[scale]
	if !ok {
		t.Fatalf("-campaign=%q: want short or full", scale)
	}
	t.Logf("campaign %s, seed %d (replay: -campaign=%s -campaign.seed=%d)", scale, seed, scale, seed)
	bin := deskpilotBinary(t)
	var results []campaignResult
	for i, v := range campaignVariants {
		t.Run(v.name, func(t *testing.T) {
			r := runCampaign(t, bin, seed, uint64(i), sc, v)
			results = append(results, r)
		})
	}
	if len(results) > 1 && results[0].variant == "none" && results[0].took > 0 {
		for _, r := range results[1:] {
			t.Logf("seed %d: %s took %.1fs, %.2fx the fault-free run (%.1fs); mean round %.1fs vs %.1fs",
				seed, r.variant, r.took.Seconds(), r.took.Seconds()/results[0].took.Seconds(), results[0].took.Seconds(),
				r.meanRound.Seconds(), results[0].meanRound.Seconds())
		}
	}
}

// runCampaign runs one variant end to end and checks it.
func runCampaign(t *testing.T, bin string, seed, stream uint64, sc campaignScale, v campaignVariant) campaignResult {
	rng := rand.New(rand.NewPCG(seed, stream))
	c := &campaign{t: t, seed: seed, sc: sc, v: v, chaos: make(chan struct{}), stop: make(chan struct{}),
		killedAfter: make(chan struct{}, 1), watch: campaignWatcher{ended: map[string][]time.Time{}}}
	c.build(rng)
	t.Logf("seed %d: %d fleets (%s), %d WorkSpaces; emulator at %s, daemon API at %s",
		seed, len(c.fleets), c.modeSummary(), len(c.users), c.w.url, c.api)

	// 1. The estate's targets get their SuspendedState (and scaling policies when the emulator
	// has them), before any fault is on.
	c.setupTargets(rng)
	for _, f := range v.faults {
		if err := c.w.sim.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}

	// 2. The daemon, then (once it polled the WorkSpaces) the users and the chaos.
	c.start = time.Now()
	c.sup = newCampaignSupervisor(c, bin, c.cfg)
	c.w.onKill = func(op string) {
		c.sup.kill(op)
		select {
		case c.killedAfter <- struct{}{}:
		default:
		}
	}
	c.sup.start()
	// A fatal failure before the chaos ends must not leave the watcher running past the test
	// (it would report into a finished test). Once the chaos ended the run shuts it down itself.
	t.Cleanup(func() {
		if !c.stopped.Load() {
			c.stopped.Store(true)
			c.sup.shutdown()
		}
	})
	c.waitFirstPoll()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.ctxWG.Add(2)
	go c.runWatcher(ctx)
	go c.runProgress(ctx)
	c.bg.Add(2)
	go c.runSessions(rand.New(rand.NewPCG(seed, stream<<8|1)))
	go c.runRounds(rand.New(rand.NewPCG(seed, stream<<8|2)))
	for i, u := range c.users {
		c.usersWG.Add(1)
		go c.runUser(u, rand.New(rand.NewPCG(seed, stream<<16|uint64(i)+1000)))
	}
	c.chaosWG.Add(1)
	go c.runKiller(rand.New(rand.NewPCG(seed, stream<<8|3)))
	if v.emulatorRestarts {
		c.chaosWG.Add(1)
		go c.runOutages(rand.New(rand.NewPCG(seed, stream<<8|4)))
	}

	// 3. The active phase lasts sc.active, and until enough kills (and outages) happened.
	limit := time.Now().Add(4 * sc.active)
	for {
		enough := time.Since(c.start) >= sc.active && c.sup.kills.Load() >= int64(sc.minKills)
		if v.emulatorRestarts {
			c.w.mu.Lock()
			enough = enough && c.w.outages >= sc.outages
			c.w.mu.Unlock()
		}
		if enough {
			break
		}
		if time.Now().After(limit) {
			c.errorf("after %s: %d kills (want %d), %d outages; ending the active phase anyway", time.Since(c.start).Round(time.Second), c.sup.kills.Load(), sc.minKills, c.w.outages)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	activeEnd := time.Now()

	// 4. Settle: the chaos stops first (the emulator up, a daemon running), then the faults go
	// (so that waits already scheduled by throttles are what is left), then users, sessions and
	// rounds finish their work: every user's last logoff waits for its reset.
	close(c.chaos)
	c.chaosWG.Wait()
	if err := c.w.up(); err != nil {
		t.Fatal(err)
	}
	c.sup.restart()
	injected := c.w.sim.Faults()
	c.w.sim.ClearFaults()
	c.stopped.Store(true)
	close(c.stop)
	if !campaignWait(&c.usersWG, sc.resetLimit+time.Minute) {
		c.fatalf("the users did not finish within %s", sc.resetLimit+time.Minute)
	}
	if !campaignWait(&c.bg, 4*time.Minute) { // rounds end when their rollout did
		c.fatalf("the last round did not end within 4m")
	}
	c.waitResetsSettled(2 * time.Minute)
	cancel()
	c.ctxWG.Wait()
	settled := time.Now()

	// 5. Flush: the daemon runs until every notice went out and the digest covers every
	// decision, then it is stopped and the store is read.
	final := c.flush()
	took := time.Since(c.start)

	// 6. Check and report.
	res := campaignResult{variant: v.name, took: took, settle: settled.Sub(activeEnd), active: activeEnd.Sub(c.start)}
	c.check(final, injected, &res)
	c.report(res)
	if t.Failed() {
		for i, p := range c.sup.all {
			if i == len(c.sup.all)-1 || (!p.killed.Load() && p.err != nil) {
				t.Logf("daemon %d (pid %d) log (tail):\n%s", i+1, p.d.cmd.Process.Pid, tail(p.d.logs.String(), 40))
			}
		}
	}
	return res
}

// build seeds the emulator with the estate and writes the daemon's configuration.
func (c *campaign) build(rng *rand.Rand) {
	t := c.t
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}, Images: []sim.ImageSpec{{Name: "img-base"}}}
	probe := sim.New(sim.Options{})
	probeSrv := httptest.NewServer(probe)
	c.feat = campaignFeatures{ops: map[string]bool{}}
	for _, m := range campaignModes {
		for _, op := range m.needs {
			c.feat.ops[op] = campaignHasOp(probeSrv.URL, op)
		}
	}
	c.feat.scalingPolicies = campaignHasOp(probeSrv.URL, "AnyScaleFrontendService.PutScalingPolicy")
	probeSrv.Close()
	for i := range campaignModes {
		m := &campaignModes[i]
		ok := campaignDeskpilotModes[m.name]
		for _, op := range m.needs {
			ok = ok && c.feat.ops[op]
		}
		if ok {
			c.modes = append(c.modes, m)
		} else {
			t.Logf("drain mode %s: not in the campaign yet (deskpilot: %v; emulator operations %v: %v)", m.name, campaignDeskpilotModes[m.name], m.needs, c.feat.ops)
		}
	}
	// Fleets: the modes in turn, each with its own Min/Max and SuspendedState.
	for i := range c.sc.fleets {
		m := c.modes[i%len(c.modes)]
		names := rpFleets(&seed, fmt.Sprintf("%s%02d-", m.prefix, i), 1, "img-base")
		f := &campaignFleet{name: names[0], mode: m}
		lo := int32(1 + rng.IntN(3))
		f.seeded = rollout.Capacity{Min: lo, Max: lo + 1 + int32(rng.IntN(4))}
		f.expect = f.seeded
		f.suspended = campaignSuspended{In: rng.IntN(4) == 0, Out: rng.IntN(4) == 0, Scheduled: rng.IntN(5) == 0}
		sf := &seed.Fleets[len(seed.Fleets)-1]
		sf.DesiredInstances = lo
		if m.multiSession {
			// Four sessions an instance; the target counts sessions.
			sf.MaxSessionsPerInstance, sf.DesiredSessions = campaignSessionsPerInstance, lo*campaignSessionsPerInstance
		}
		sf.ScalableTarget = &sim.SeedScalingTarget{MinCapacity: f.seeded.Min, MaxCapacity: f.seeded.Max}
		c.fleets = append(c.fleets, f)
	}
	seed.Sessions = nil // the campaign's sessions are its own (runSessions)
	// WorkSpaces: rebuild or restore (a few opted out), ALWAYS_ON or AUTO_STOP.
	ids := rpWorkspaces(&seed, c.sc.workspaces)
	for i, id := range ids {
		u := &campaignUser{id: id, mode: "rebuild", running: "ALWAYS_ON"}
		switch r := rng.IntN(20); {
		case r == 0:
			u.mode = "off"
		case r < 10:
			u.mode = "restore"
		}
		if rng.IntN(2) == 0 {
			u.running = "AUTO_STOP"
			seed.Workspaces[i].RunningModeAutoStopTimeoutInMinutes = int32(1 + rng.IntN(3))
		}
		seed.Workspaces[i].RunningMode = u.running
		seed.Workspaces[i].Tags = map[string]string{"deskpilot:reset": u.mode}
		c.users = append(c.users, u)
	}
	c.w = newCampaignWorld(t, sim.Options{Speed: 600, RandSeed: c.seed ^ 0x5eed, MaxTimeline: 100000}, seed)
	cfg := c.w.direct.URL
	h := &harness{t: t, ctx: context.Background(), url: cfg}
	awsCfg := h.awsConfig()
	awsCfg.RetryMaxAttempts = 25 // the driver's own calls must get through the faults
	c.as, c.aas = appstream.NewFromConfig(awsCfg), applicationautoscaling.NewFromConfig(awsCfg)

	c.api = freeAddr(t)
	stub := &rpWorld{srv: &httptest.Server{URL: c.w.url}} // rpConfig.write reads only the URL
	c.cfg = rpConfig{ScanInterval: time.Second, PollInterval: 500 * time.Millisecond, DrainPollInterval: 500 * time.Millisecond,
		MaxParallel: 20, ServerAddr: c.api,
		Rollouts:   []string{fmt.Sprintf("drain: {session_deadline: %s, warning: %s}", campaignDeadline, campaignWarning)},
		Workspaces: fmt.Sprintf("workspaces:\n  reset: {enabled: true, grace: %s, poll_interval: 1s, max_concurrent: 100, max_per_minute: 1000, digest_interval: 3s}", c.sc.grace),
	}.write(t, stub)
	c.db = filepath.Join(filepath.Dir(c.cfg), "deskpilot.db")
}

func (c *campaign) modeSummary() string {
	n := map[string]int{}
	for _, f := range c.fleets {
		n[f.mode.name]++
	}
	var parts []string
	for _, m := range c.modes {
		parts = append(parts, fmt.Sprintf("%d %s", n[m.name], m.name))
	}
	return strings.Join(parts, ", ")
}

// campaignHasOp reports whether the emulator at url routes the JSON operation target (its
// answer to an empty request is anything but UnknownOperationException).
func campaignHasOp(url, target string) bool {
	req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader([]byte("{}")))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Type string `json:"__type"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Type != "UnknownOperationException"
}

func campaignTarget(name string) *string { return aws.String("fleet/" + name) }

// setupTargets gives each fleet's target its SuspendedState, and a target-tracking policy when
// the emulator has scaling policies.
func (c *campaign) setupTargets(rng *rand.Rand) {
	ctx := context.Background()
	for _, f := range c.fleets {
		_, err := c.aas.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: campaignTarget(f.name),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
			SuspendedState: &aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(f.suspended.In),
				DynamicScalingOutSuspended: aws.Bool(f.suspended.Out), ScheduledScalingSuspended: aws.Bool(f.suspended.Scheduled)},
		})
		if err != nil {
			c.t.Fatal(err)
		}
		if !c.feat.scalingPolicies {
			continue
		}
		_, err = c.aas.PutScalingPolicy(ctx, &applicationautoscaling.PutScalingPolicyInput{
			PolicyName: aws.String("campaign-utilisation"), ServiceNamespace: aastypes.ServiceNamespaceAppstream,
			ResourceId: campaignTarget(f.name), ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
			PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{
				TargetValue: aws.Float64(float64(50 + rng.IntN(40))),
				PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{
					PredefinedMetricType: aastypes.MetricTypeAppStreamAverageCapacityUtilization},
			},
		})
		if err != nil {
			c.t.Fatal(err)
		}
	}
	if !c.feat.scalingPolicies {
		c.t.Logf("scaling policies: the emulator has no PutScalingPolicy yet; fleets have none")
	}
}

// waitFirstPoll waits until the daemon has read every WorkSpace's connection state once, so
// that the users' sessions all end after deskpilot started tracking them.
func (c *campaign) waitFirstPoll() {
	// 200 WorkSpaces under 30 % throttling on a busy 2-core machine took over a minute once.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		calls, failed, _, _ := c.w.daemonCalls()
		if calls["workspaces.DescribeWorkspacesConnectionStatus"]-failed["workspaces.DescribeWorkspacesConnectionStatus"] >= 2*(c.sc.workspaces/25+1) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.fatalf("the daemon did not poll the WorkSpaces within 3 minutes")
}

// runKiller SIGKILLs the daemon at random moments until the chaos stops: at a random instant,
// or right after the next mutating call took effect; then starts it again at once or after a
// short pause. Once, a second daemon is started beside the running one and must refuse.
func (c *campaign) runKiller(rng *rand.Rand) {
	defer c.chaosWG.Done()
	mean := c.sc.active / time.Duration(c.sc.minKills) * 9 / 10
	second := 2 + rng.IntN(c.sc.minKills/2)
	for i := 0; ; i++ {
		if !c.chaosPause(campaignUniform(rng, mean/3, mean*5/3)) {
			return
		}
		if i == second {
			c.sup.secondRefuses(c.api)
		}
		if rng.Float64() < 0.4 {
			c.w.killArmed.Store(true)
			select {
			case <-c.killedAfter:
			case <-time.After(3 * time.Second):
				if c.w.killArmed.CompareAndSwap(true, false) {
					c.sup.armedTimeouts.Add(1)
					c.sup.kill("")
				} else {
					<-c.killedAfter // the call came as the wait ended
				}
			}
		} else {
			c.sup.kill("")
		}
		if rng.Float64() < 0.5 {
			time.Sleep(campaignUniform(rng, 100*time.Millisecond, 1500*time.Millisecond))
			c.sup.restartsAfterPause.Add(1)
		}
		c.sup.restart()
	}
}

// runOutages takes the emulator away while a fleet is drained (at 0/0), for a while, then
// serves it again on the same port, until the chaos stops.
func (c *campaign) runOutages(rng *rand.Rand) {
	defer c.chaosWG.Done()
	for i := 0; ; i++ {
		if !c.chaosPause(campaignUniform(rng, time.Second, 5*time.Second)) {
			return
		}
		for !c.midDrain() {
			if !c.chaosPause(50 * time.Millisecond) {
				return
			}
		}
		c.w.down()
		c.chaosPause(campaignUniform(rng, c.sc.outageMin, c.sc.outageMax))
		if err := c.w.up(); err != nil {
			c.errorf("%v", err)
			return
		}
	}
}

// midDrain reports whether some fleet is at 0/0 now.
func (c *campaign) midDrain() bool {
	for _, tl := range c.w.sim.Timelines() {
		if n := len(tl.Drains); n > 0 && !tl.Drains[n-1].Restored() {
			return true
		}
	}
	return false
}

// runRounds rolls a new image out to each mode's fleets, round after round, until the
// campaign stops (the round under way finishes). Each round first puts one scheduled action
// per fleet, due at a random instant of the round, with a new Min/Max.
func (c *campaign) runRounds(rng *rand.Rand) {
	defer c.bg.Done()
	client := &api.Client{BaseURL: "http://" + c.api, HTTP: &http.Client{Timeout: 3 * time.Second}}
	for n := 1; n == 1 || !c.stopping(); n++ {
		for _, m := range c.modes {
			r := &campaignRound{n: n, mode: m, image: fmt.Sprintf("img-%sr%02d", m.prefix, n), start: c.w.sim.Now(), actions: map[string]campaignAction{}}
			c.putActions(r, rng)
			tags := map[string]string{"FleetName": "prefix:" + m.prefix}
			for k, v := range m.imageTags {
				tags[k] = v
			}
			if _, err := c.w.sim.CreateImage(sim.ImageSpec{Name: r.image, Tags: tags}); err != nil {
				c.errorf("round %d: create image %s: %v", n, r.image, err)
				return
			}
			if !c.waitRollout(client, r, 4*time.Minute) {
				c.roundsMu.Lock()
				c.roundErrors = append(c.roundErrors, fmt.Sprintf("round %d (%s): the rollout did not end within 4m", n, r.image))
				c.rounds = append(c.rounds, r)
				c.roundsMu.Unlock()
				return
			}
			// The next round starts once every action of this one is due (and fired, or not).
			for _, a := range r.actions {
				if d := time.Until(a.at.Add(500 * time.Millisecond)); d > 0 {
					time.Sleep(d)
				}
			}
			c.roundsMu.Lock()
			c.rounds = append(c.rounds, r)
			c.roundsMu.Unlock()
		}
	}
}

// putActions puts a round's scheduled actions: each fleet gets a Min/Max other than the one it
// should have now, at a whole second within actionSpread of now.
func (c *campaign) putActions(r *campaignRound, rng *rand.Rand) {
	ctx := context.Background()
	now := c.w.sim.Now()
	for _, f := range c.fleets {
		if f.mode != r.mode {
			continue
		}
		var cap rollout.Capacity
		for cap = f.expect; cap == f.expect; {
			lo := int32(1 + rng.IntN(3))
			cap = rollout.Capacity{Min: lo, Max: lo + 1 + int32(rng.IntN(4))}
		}
		at := now.Add(campaignUniform(rng, time.Second, c.sc.actionSpread)).Truncate(time.Second)
		a := campaignAction{name: fmt.Sprintf("campaign-r%02d", r.n), at: at, cap: cap}
		c.driverCalls.Add(1)
		_, err := c.aas.PutScheduledAction(ctx, &applicationautoscaling.PutScheduledActionInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: campaignTarget(f.name),
			ScalableDimension:   aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
			ScheduledActionName: aws.String(a.name), Schedule: aws.String("at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"),
			ScalableTargetAction: &aastypes.ScalableTargetAction{MinCapacity: aws.Int32(cap.Min), MaxCapacity: aws.Int32(cap.Max)},
		})
		if err != nil {
			r.actionsPutFail++
			continue
		}
		r.actions[f.name] = a
	}
}

// waitRollout waits until the round's rollout ended, reading the daemon's API (which is away
// while the daemon is killed), and notes its state and steps.
func (c *campaign) waitRollout(client *api.Client, r *campaignRound, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		list, err := client.Rollouts(context.Background(), api.RolloutFilter{Image: r.image, Limit: 5})
		if err != nil || len(list.Rollouts) == 0 || list.Rollouts[0].Active {
			continue
		}
		ro := list.Rollouts[0]
		r.ended, r.state, r.steps = c.w.sim.Now(), ro.State, map[string]api.Step{}
		for _, s := range ro.Steps {
			r.steps[s.Fleet] = s
		}
		return true
	}
	return false
}

// waitResetsSettled waits until no reset is pending in the daemon and no WorkSpace is being
// reset.
func (c *campaign) waitResetsSettled(limit time.Duration) {
	client := &api.Client{BaseURL: "http://" + c.api, HTTP: &http.Client{Timeout: 3 * time.Second}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		p, err := client.PendingResets(context.Background())
		if err != nil || len(p.Pending) > 0 {
			continue
		}
		busy := false
		for _, u := range c.users {
			if _, st := campaignResetCount(c.w.sim, u.id); st == "REBUILDING" || st == "RESTORING" {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
	}
	c.errorf("resets still pending %s after the users stopped", limit)
}

// runProgress logs where the campaign is every ten seconds (for -v and for a campaign that
// hangs).
func (c *campaign) runProgress(ctx context.Context) {
	defer c.ctxWG.Done()
	client := &api.Client{BaseURL: "http://" + c.api, HTTP: &http.Client{Timeout: 2 * time.Second}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
		c.roundsMu.Lock()
		done := len(c.rounds)
		c.roundsMu.Unlock()
		latest := "daemon API not answering"
		if list, err := client.Rollouts(ctx, api.RolloutFilter{Limit: 1}); err == nil && len(list.Rollouts) > 0 {
			r := list.Rollouts[0]
			latest = fmt.Sprintf("latest rollout %d of %s: %s (%s)", r.ID, r.ImageName, r.State, r.Reason)
		} else if err == nil {
			latest = "no rollout yet"
		}
		_, _, calls, failed := c.w.daemonCalls()
		c.t.Logf("%5.0fs: %d kills, %d rounds done, %s; %d AWS calls (%d failed), %d WorkSpaces sessions",
			time.Since(c.start).Seconds(), c.sup.kills.Load(), done, latest, calls, failed, c.sessionsStarted.Load())
	}
}

// campaignWait waits for wg, at most limit; it reports whether wg was done.
func campaignWait(wg *sync.WaitGroup, limit time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}
