package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// This file and realproc_bench_test.go measure a real `deskpilot serve` process against the
// in-process emulator on the wall clock, sped up with sim.Options.Speed as in the crash test.
// On a manual clock every call of a pass happens at one instant; here passes take real time,
// which is what docs/benchmarks.md ("Real process") is about. The emulator's clock is the wall
// clock (its durations are divided by Speed). TestFaults_RealProcess and BenchmarkIsolation run
// the daemon at real intervals, so their lags are wall seconds, the unit of
// drain_poll_interval; BenchmarkRealProcessRollout divides the daemon's intervals by its speed
// too (rpScale) and reports emulated seconds.

// rpEnv is what the daemon's AWS SDK is given besides crash_test.go's static credentials.
// The emulator answers in milliseconds while the SDK's default backoff is about a second for
// throttles and for 5xx, so the SDK is told to use its 2026 retry behaviour: a 50 ms base delay
// for server errors (throttles keep the SDK's fixed 1 s base; deskpilot has no setting for
// either). Attempts stay at the SDK's default of 3.
var rpEnv = []string{"AWS_NEW_RETRIES_2026=true", "AWS_MAX_ATTEMPTS=3", "AWS_RETRY_MODE=standard"}

// rpBinary is deskpilotBinary for benchmarks as well as tests: the same build, shared through
// crash_test.go's buildOnce.
func rpBinary(tb testing.TB) string {
	tb.Helper()
	return deskpilotBinary(tb)
}

// rpDaemon is a deskpilot serve process that can be stopped more than once (the test stops it
// to look at the world; a cleanup stops it if the test failed first).
type rpDaemon struct {
	*daemon
	stopOnce func()
}

func (d *rpDaemon) stop() { d.stopOnce() }

// rpStartDaemon is startDaemon for benchmarks as well as tests, with rpEnv added.
func rpStartDaemon(tb testing.TB, bin, configPath string) *rpDaemon {
	tb.Helper()
	cmd := exec.Command(bin, "serve", "--config", configPath)
	dir := tb.TempDir()
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_CONFIG_FILE="+dir+"/none", "AWS_SHARED_CREDENTIALS_FILE="+dir+"/none", "AWS_PROFILE=", "AWS_ENDPOINT_URL=")
	cmd.Env = append(cmd.Env, rpEnv...)
	d := &daemon{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	rd := &rpDaemon{daemon: d, stopOnce: sync.OnceFunc(d.stop)}
	tb.Cleanup(rd.stop)
	return rd
}

// rpWorld is an emulator on the wall clock behind an HTTP server that watches the daemon's
// calls: it notes when each rollout's final mail is accepted (with the call counts at that
// moment) and counts full WorkSpaces poll cycles.
type rpWorld struct {
	tb  testing.TB
	sim *sim.Sim
	srv *httptest.Server

	// cycles counts DescribeWorkspacesConnectionStatus calls without WorkspaceIds and without
	// NextToken: the first page of a poll of every WorkSpace.
	cycles atomic.Int64

	// armed asks for a note of the next DescribeImages call: the start of the daemon's next
	// scan, which begins every rollout.
	armed atomic.Bool

	mu       sync.Mutex
	scan     *rpFinish // the scan noted after arm
	seenMail int
	finished map[string]rpFinish // image name → its final mail
	notify   chan struct{}
}

// rpFinish is the moment a rollout's final notice was accepted by the emulated SES.
type rpFinish struct {
	At      time.Time
	Subject string
	Counts  map[string]int
	Cycles  int64
}

func newRPWorld(tb testing.TB, opts sim.Options, seed sim.Seed) *rpWorld {
	tb.Helper()
	s := sim.New(opts)
	if err := s.ApplySeed(seed); err != nil {
		tb.Fatal(err)
	}
	w := &rpWorld{tb: tb, sim: s, finished: map[string]rpFinish{}, notify: make(chan struct{}, 1)}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	tb.Cleanup(w.srv.Close)
	s.SetBaseURL(w.srv.URL)
	return w
}

// arm makes the world note the start of the daemon's next scan (see started).
func (w *rpWorld) arm() {
	w.mu.Lock()
	w.scan = nil
	w.mu.Unlock()
	w.armed.Store(true)
}

// started returns the moment the scan noted after arm began, with the call counts and poll
// cycles before it.
func (w *rpWorld) started() (rpFinish, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.scan == nil {
		return rpFinish{}, false
	}
	return *w.scan, true
}

func (w *rpWorld) serve(rw http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") == "PhotonAdminProxyService.DescribeImages" && w.armed.CompareAndSwap(true, false) {
		at := rpFinish{At: w.sim.Now(), Counts: w.sim.Calls().Counts, Cycles: w.cycles.Load()}
		w.mu.Lock()
		w.scan = &at
		w.mu.Unlock()
	}
	if r.Header.Get("X-Amz-Target") == "WorkspacesService.DescribeWorkspacesConnectionStatus" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !bytes.Contains(body, []byte(`"NextToken"`)) && !bytes.Contains(body, []byte(`"WorkspaceIds"`)) {
			w.cycles.Add(1)
		}
	}
	w.sim.ServeHTTP(rw, r)
	if strings.HasPrefix(r.URL.Path, "/v2/email/outbound-emails") {
		w.noteMail()
	}
}

// finalPrefixes are the subjects of a rollout's final notice (internal/rollout/notices.go).
var finalPrefixes = []string{"Image %s rolled out", "Rollout of image %s failed", "Rollout of image %s ended"}

func (w *rpWorld) noteMail() {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := w.sim.Messages()
	for _, m := range msgs[w.seenMail:] {
		for _, f := range finalPrefixes {
			pre, _, _ := strings.Cut(f, "%s")
			rest, ok := strings.CutPrefix(m.Subject, pre)
			if !ok {
				continue
			}
			suffix := strings.TrimPrefix(f, pre+"%s")
			image, _, _ := strings.Cut(rest, " ")
			if _, done := w.finished[image]; !done && strings.HasPrefix(strings.TrimPrefix(rest, image), suffix) {
				w.finished[image] = rpFinish{At: w.sim.Now(), Subject: m.Subject, Counts: w.sim.Calls().Counts, Cycles: w.cycles.Load()}
				select {
				case w.notify <- struct{}{}:
				default:
				}
			}
		}
	}
	w.seenMail = len(msgs)
}

// waitFinished waits until image's rollout sent its final notice, the daemon exits, or limit
// passes; ok is false in the last two cases.
func (w *rpWorld) waitFinished(image string, d *rpDaemon, limit time.Duration) (rpFinish, bool) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		f, ok := w.finished[image]
		w.mu.Unlock()
		if ok {
			return f, true
		}
		select {
		case <-w.notify:
		case err := <-d.done:
			d.done <- err
			return rpFinish{}, false
		case <-deadline.C:
			return rpFinish{}, false
		}
	}
}

// rpFleets adds n fleets name-000… to a seed the way the manual-clock benchmark builds them:
// each two instances, one in use, a 2/4 target, its own stack.
func rpFleets(seed *sim.Seed, prefix string, n int, image string) []string {
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s%03d", prefix, i)
		names = append(names, name)
		seed.Fleets = append(seed.Fleets, sim.SeedFleet{Name: name, ImageName: image, DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 4}})
		seed.Stacks = append(seed.Stacks, sim.SeedStack{Name: "stack-" + name, Fleets: []string{name}})
		seed.Sessions = append(seed.Sessions, sim.SessionSpec{FleetName: name, StackName: "stack-" + name, UserId: "user-" + name})
	}
	return names
}

// rpWorkspaces adds n opted-in WorkSpaces ws-000000000….
func rpWorkspaces(seed *sim.Seed, n int) []string {
	var ids []string
	for i := range n {
		id := fmt.Sprintf("ws-%09d", i)
		ids = append(ids, id)
		seed.Workspaces = append(seed.Workspaces, sim.WorkspaceSpec{
			WorkspaceId: id, DirectoryId: "d-1234567890", UserName: fmt.Sprintf("user%05d", i),
			BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"},
		})
	}
	return ids
}

// rpConfig is a daemon configuration; zero durations take the daemon's defaults.
type rpConfig struct {
	ScanInterval, PollInterval, DrainPollInterval time.Duration
	MaxParallel                                   int
	// Workspaces is the YAML of the workspaces section, "" for none.
	Workspaces string
	// ServerAddr is the daemon's API address, "" for none.
	ServerAddr string
	// Rollouts are more keys of the rollouts section, as "key: value" flow YAML.
	Rollouts []string
	// Window is rollouts.window; "" means one open now (openNow).
	Window string
	// Targets is the YAML of the targets section, "" for none.
	Targets string
}

// write writes the configuration for a daemon talking to w, with its store in a new
// directory, and returns its path.
func (c rpConfig) write(tb testing.TB, w *rpWorld) string {
	tb.Helper()
	dir := tb.TempDir()
	var r []string
	window := c.Window
	if window == "" {
		window = openNow()
	}
	r = append(r, fmt.Sprintf("window: %q", window))
	add := func(key string, d time.Duration) {
		if d > 0 {
			r = append(r, fmt.Sprintf("%s: %s", key, d))
		}
	}
	add("scan_interval", c.ScanInterval)
	add("poll_interval", c.PollInterval)
	add("drain_poll_interval", c.DrainPollInterval)
	if c.MaxParallel > 0 {
		r = append(r, fmt.Sprintf("max_parallel: %d", c.MaxParallel))
	}
	r = append(r, c.Rollouts...)
	cfg := fmt.Sprintf(`aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: %q}
rollouts: {%s}
notify:
  email: {from: deskpilot@example.com, to: [euc-admins@example.com], via: ses}
%s
%s
`, w.srv.URL, filepath.Join(dir, "deskpilot.db"), c.ServerAddr, strings.Join(r, ", "), c.Workspaces, c.Targets)
	path := filepath.Join(dir, "deskpilot.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// awsClients are SDK clients on the emulator for the test's own reads (not the daemon's).
func (w *rpWorld) awsClients() (*appstream.Client, *applicationautoscaling.Client) {
	cfg := (&harness{t: w.tb, ctx: context.Background(), url: w.srv.URL}).awsConfig()
	return appstream.NewFromConfig(cfg), applicationautoscaling.NewFromConfig(cfg)
}

// callsExcept sums the calls in counts (from sim.CallReport.Counts) of every service but
// except, errors included: the same count as the manual-clock benchmark's Calls().Total.
func callsExcept(counts map[string]int, except string) int {
	n := 0
	for k, v := range counts {
		if strings.Contains(k, "!") || strings.HasPrefix(k, except+".") {
			continue
		}
		n += v
	}
	return n
}

func callsOf(counts map[string]int, service string) int {
	n := 0
	for k, v := range counts {
		if !strings.Contains(k, "!") && strings.HasPrefix(k, service+".") {
			n += v
		}
	}
	return n
}

func diffCounts(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// drainStats summarises the drains of the named fleets in timelines.
type drainStats struct {
	fleets, drained, restored int
	lags, atZero              []time.Duration // sorted
	// idleToZero is, per drain, how long the idle instances took to go after 0/0.
	idleToZero []time.Duration
	problems   []string
}

func drainStatsOf(timelines []sim.FleetTimeline, fleets []string) drainStats {
	want := map[string]bool{}
	for _, f := range fleets {
		want[f] = true
	}
	var st drainStats
	for _, tl := range timelines {
		if !want[tl.FleetName] {
			continue
		}
		st.fleets++
		if len(tl.Drains) == 0 {
			st.problems = append(st.problems, tl.FleetName+": never at 0/0")
			continue
		}
		st.drained++
		for _, d := range tl.Drains {
			if d.Restored() {
				st.restored++
			}
			st.atZero = append(st.atZero, d.AtZero())
			if lag, ok := d.RestoreLag(); ok {
				st.lags = append(st.lags, lag)
				st.idleToZero = append(st.idleToZero, d.IdleGoneAt.Sub(d.ZeroAt))
			} else {
				st.problems = append(st.problems, fmt.Sprintf("%s: restored at %s before its idle instances were gone", tl.FleetName, d.RestoredAt.Format(time.RFC3339Nano)))
			}
		}
	}
	slices.Sort(st.lags)
	slices.Sort(st.atZero)
	return st
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// TestFaults_RealProcess runs a ScaleImmediately rollout of 12 fleets with a real `deskpilot
// serve` against the emulator with throttling (30 %), server errors (about 5 %) and latency
// (on a tenth of the calls) on every operation of every service, while WorkSpaces resets run
// and users log on and off. It asserts what must hold however AWS misbehaves: every fleet runs
// the new image, no fleet stays at 0/0 longer than its drain plus three drain polls (from the
// emulator's timeline), every Min/Max is restored exactly, and the rollout ends. It reports the
// time to finish against the same run without faults.
func TestFaults_RealProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary")
	}
	calm := faultRun(t, nil)
	stormy := faultRun(t, []sim.Fault{
		// Tried in order, first hit only: errors first, then latency on what is left.
		{Service: "*", ErrorCode: "ThrottlingException", Probability: 0.3},
		{Service: "*", ErrorCode: "InternalServerError", Probability: 0.03},
		{Service: "*", ErrorCode: "ServiceUnavailable", Probability: 0.02},
		{Service: "*", LatencyMs: 40, Probability: 0.1},
	})
	t.Logf("time to finish: %.1fs without faults, %.1fs with them (%.1fx); restore lag max %.1fs without, %.1fs with",
		calm.took.Seconds(), stormy.took.Seconds(), stormy.took.Seconds()/calm.took.Seconds(), calm.maxLag.Seconds(), stormy.maxLag.Seconds())
}

type faultOutcome struct {
	took, maxLag time.Duration
}

// faultRun is one run of TestFaults_RealProcess with the given faults (none for the
// reference run).
func faultRun(t *testing.T, faults []sim.Fault) faultOutcome {
	t.Helper()
	const (
		fleets    = 10
		drainPoll = 5 * time.Second // the default
		slack     = 3               // drain polls a restore may take beyond the drain
		limit     = 75 * time.Second
		mailLimit = 3 * time.Minute
	)
	name := "calm"
	if len(faults) > 0 {
		name = "faults"
	}
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"},
		Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-new", Tags: map[string]string{"FleetName": "prefix:fleet-", "ScaleImmediately": "True"}}}}
	names := rpFleets(&seed, "fleet-", fleets, "img-1")
	wsIDs := rpWorkspaces(&seed, 6)
	w := newRPWorld(t, sim.Options{Speed: 600, RandSeed: 11}, seed)
	for _, f := range faults {
		if err := w.sim.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	// The image is tagged before the daemon starts, so the first scan that succeeds plans the
	// rollout. A failed scan is tried again a scan_interval later, hence a short one.
	api := freeAddr(t)
	cfg := rpConfig{ScanInterval: 5 * time.Second, PollInterval: time.Second, DrainPollInterval: drainPoll, MaxParallel: 20, ServerAddr: api,
		Workspaces: "workspaces:\n  reset: {enabled: true, grace: 2s, poll_interval: 5s, max_concurrent: 10, max_per_minute: 120}"}.write(t, w)

	// Users log on and off while the rollout runs (control calls: never faulted).
	ctx, stopUsers := context.WithCancel(context.Background())
	var users sync.WaitGroup
	users.Add(1)
	go func() {
		defer users.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for ctx.Err() == nil {
			id := wsIDs[rng.IntN(len(wsIDs))]
			if w.sim.ConnectWorkspace(id) == nil {
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(100+rng.IntN(400)) * time.Millisecond):
				}
				_ = w.sim.DisconnectWorkspace(id)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() { stopUsers(); users.Wait() }()

	start := time.Now()
	d := rpStartDaemon(t, rpBinary(t), cfg)
	state, ok := waitRolloutEnded(t, d, api, "img-new", limit)
	took := time.Since(start)
	stopUsers()
	users.Wait()
	switch {
	case !ok:
		t.Errorf("%s: the rollout did not end within %s", name, limit)
	case state != rollout.Succeeded:
		t.Errorf("%s: the rollout ended %s", name, state)
	}
	// The final notice may be waiting for its retry after SES throttled it (fault.Delivery:
	// 2 min after a throttled attempt), so it is waited for apart from the rollout, with SES
	// answering again; it must still go out.
	w.sim.ClearFaults()
	if fin, ok := w.waitFinished("img-new", d, mailLimit); !ok {
		t.Errorf("%s: the final notice was not sent within %s of the rollout's end", name, mailLimit)
	} else if !strings.HasPrefix(fin.Subject, "Image img-new rolled out") {
		t.Errorf("%s: the final notice is %q", name, fin.Subject)
	}
	d.stop()

	// 1. Every fleet runs the new image, with exactly its Min/Max.
	as, aas := w.awsClients()
	ctxb := context.Background()
	for batch := range slices.Chunk(names, 10) {
		out, err := as.DescribeFleets(ctxb, &appstream.DescribeFleetsInput{Names: batch})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range out.Fleets {
			if got := aws.ToString(f.ImageArn); got != imageARN("img-new") {
				t.Errorf("%s: %s runs %s, want img-new", name, aws.ToString(f.Name), got)
			}
		}
	}
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = "fleet/" + n
	}
	tg, err := aas.DescribeScalableTargets(ctxb, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.ScalableTargets) != fleets {
		t.Errorf("%s: %d scalable targets, want %d", name, len(tg.ScalableTargets), fleets)
	}
	for _, x := range tg.ScalableTargets {
		if got := (rollout.Capacity{Min: aws.ToInt32(x.MinCapacity), Max: aws.ToInt32(x.MaxCapacity)}); got != (rollout.Capacity{Min: 2, Max: 4}) {
			t.Errorf("%s: %s ends at %v, want its original 2/4", name, aws.ToString(x.ResourceId), got)
		}
	}

	// 2. From the timeline: each fleet drained, restored exactly, and not at 0/0 longer than
	// its drain plus a few drain polls.
	st := drainStatsOf(w.sim.Timelines(), names)
	for _, p := range st.problems {
		t.Errorf("%s: %s", name, p)
	}
	for _, tl := range w.sim.Timelines() {
		if !strings.HasPrefix(tl.FleetName, "fleet-") {
			continue
		}
		for _, dr := range tl.Drains {
			switch {
			case !dr.Restored():
				t.Errorf("%s: %s left at 0/0 (since %s, %.1fs)", name, tl.FleetName, dr.ZeroAt.Format(time.RFC3339Nano), dr.AtZeroSeconds)
			case dr.RestoredMin != dr.SavedMin || dr.RestoredMax != dr.SavedMax:
				t.Errorf("%s: %s restored to %d/%d, saved %d/%d", name, tl.FleetName, dr.RestoredMin, dr.RestoredMax, dr.SavedMin, dr.SavedMax)
			}
			if lag, ok := dr.RestoreLag(); ok && lag > slack*drainPoll {
				t.Errorf("%s: %s at 0/0 for %.1fs: its idle instances were gone after %.1fs, its Min/Max came back %.1fs later (more than %d drain polls of %s)",
					name, tl.FleetName, dr.AtZeroSeconds, dr.IdleGoneAt.Sub(dr.ZeroAt).Seconds(), lag.Seconds(), slack, drainPoll)
			}
		}
	}
	if t.Failed() {
		t.Logf("%s: daemon log (tail):\n%s", name, tail(d.logs.String(), 60))
	}
	rebuilds := 0
	for _, id := range wsIDs {
		if info, err := w.sim.WorkspaceStatus(id); err == nil {
			rebuilds += len(info.Rebuilds)
		}
	}
	counts := w.sim.Calls().Counts
	errs := 0
	for k, v := range counts {
		if strings.Contains(k, "!") {
			errs += v
		}
	}
	t.Logf("%s: finished in %.1fs; %d AWS calls (%d AppStream, %d Auto Scaling, %d SES, %d WorkSpaces), %d of them failed; restore lag p50 %.1fs max %.1fs; %d WorkSpaces rebuilt",
		name, took.Seconds(), w.sim.Calls().Total, callsOf(counts, sim.ServiceAppStream), callsOf(counts, sim.ServiceAutoScaling),
		callsOf(counts, sim.ServiceSESv2), callsOf(counts, sim.ServiceWorkSpaces), errs,
		quantile(st.lags, 0.5).Seconds(), quantile(st.lags, 1).Seconds(), rebuilds)
	return faultOutcome{took: took, maxLag: quantile(st.lags, 1)}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback host:port nothing listens on now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitRolloutEnded polls the daemon's API at addr until the latest rollout of image is no
// longer active, and returns its state; ok is false if limit passes or the daemon exits first.
func waitRolloutEnded(tb testing.TB, d *rpDaemon, addr, image string, limit time.Duration) (state rollout.State, ok bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			d.done <- err
			return "", false
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get("http://" + addr + "/api/v1/rollouts?limit=10")
		if err != nil {
			continue // not listening yet
		}
		var body struct {
			Rollouts []struct {
				ImageName string        `json:"image_name"`
				State     rollout.State `json:"state"`
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			tb.Fatalf("GET /api/v1/rollouts: %v", err)
		}
		for _, r := range body.Rollouts { // newest first
			if r.ImageName == image {
				if !r.State.Active() {
					return r.State, true
				}
				break
			}
		}
	}
	return "", false
}
