package e2e

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/sim"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// deskpilotBinary builds cmd/deskpilot once for the tests that run it as a real process.
func deskpilotBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deskpilot-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "deskpilot")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/deskpilot/deskpilot/cmd/deskpilot").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// mutating is the set of AWS calls that change the world; the crash test kills the daemon
// right after each of them in turn.
var mutating = map[string]bool{
	"PhotonAdminProxyService.UpdateFleet":            true,
	"PhotonAdminProxyService.TagResource":            true,
	"PhotonAdminProxyService.UntagResource":          true,
	"AnyScaleFrontendService.RegisterScalableTarget": true,
	"PhotonAdminProxyService.DrainSessionInstance":   true,
	"PhotonAdminProxyService.ExpireSession":          true,
}

// crashWorld is an emulator on the wall clock (sped up) behind a handler that can kill the
// daemon process right after the Nth mutating call took effect, before the daemon hears back.
type crashWorld struct {
	sc       crashScenario
	sim      *sim.Sim
	srv      *httptest.Server
	crashAt  int64 // 0: never
	calls    atomic.Int64
	first    chan *daemon // the first daemon process, to be killed at the crash point
	killed   chan struct{}
	finished chan struct{}
	once     sync.Once
	mu       sync.Mutex
}

// crashScenario is a rollout the crash test interrupts: the image to roll out (tagged before
// the daemon starts), the subject prefix of its final mail, and extra rollouts settings.
type crashScenario struct {
	image  sim.ImageSpec
	final  string
	config string
	// estate, if set, changes the estate the scenario starts from.
	estate func(*sim.Seed)
}

// crashPlain is the recipe's rollout: both fleets, drained.
var crashPlain = crashScenario{
	image: sim.ImageSpec{Name: "img-2", Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True"}},
	final: "Image img-2 rolled out",
}

// crashCanaryRollback is a canary rollout of a defective image: the canary (fleet-a) is
// updated and drained, fails its health gate, and is rolled back and drained again; fleet-b
// is never touched.
var crashCanaryRollback = crashScenario{
	image: sim.ImageSpec{Name: "img-2", Defect: sim.ImageDefectInstancesFail,
		Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "Canary": "fleet-a", "ScaleImmediately": "True"}},
	final:  "Image img-2 rolled back",
	config: ", health: {timeout: 2s}",
}

func newCrashWorld(t *testing.T, sc crashScenario, crashAt int64) *crashWorld {
	t.Helper()
	s := sim.New(sim.Options{Speed: 600, RandSeed: 1})
	seed := estate
	seed.Images = []sim.ImageSpec{{Name: "img-1"}, sc.image}
	if sc.estate != nil {
		seed.Fleets = slices.Clone(seed.Fleets)
		sc.estate(&seed)
	}
	if err := s.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	w := &crashWorld{sc: sc, sim: s, crashAt: crashAt, killed: make(chan struct{}), finished: make(chan struct{}), first: make(chan *daemon, 1)}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *crashWorld) serve(rw http.ResponseWriter, r *http.Request) {
	if !mutating[r.Header.Get("X-Amz-Target")] {
		w.sim.ServeHTTP(rw, r)
		if strings.HasPrefix(r.URL.Path, "/v2/email/outbound-emails") {
			msgs := w.sim.Messages()
			if len(msgs) > 0 && strings.HasPrefix(msgs[len(msgs)-1].Subject, w.sc.final) {
				w.once.Do(func() { close(w.finished) })
			}
		}
		return
	}
	w.mu.Lock() // one mutating call at a time, so "the Nth" is well defined
	defer w.mu.Unlock()
	n := w.calls.Add(1)
	if w.crashAt == 0 || n != w.crashAt {
		w.sim.ServeHTTP(rw, r)
		return
	}
	// The call takes effect in AWS; the daemon dies before it learns the outcome.
	w.sim.ServeHTTP(httptest.NewRecorder(), r)
	d := <-w.first
	_ = d.cmd.Process.Kill()
	<-d.done
	close(w.killed)
	panic(http.ErrAbortHandler)
}

// daemon is a deskpilot serve process.
type daemon struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// syncBuffer is a bytes.Buffer safe to read while the process writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startDaemon(t *testing.T, bin, configPath string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", configPath)
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_CONFIG_FILE="+dir+"/none", "AWS_SHARED_CREDENTIALS_FILE="+dir+"/none", "AWS_PROFILE=", "AWS_ENDPOINT_URL=")
	d := &daemon{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	return d
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// openNow is a window that is open for the next few hours, whatever the time.
func openNow() string {
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	return demoWindowString(start, 6*time.Hour)
}

func demoWindowString(start time.Time, d time.Duration) string {
	end := start.Add(d)
	day := func(t time.Time) string { return strings.ToLower(t.Weekday().String()[:3]) }
	return fmt.Sprintf("%s:%s-%s:%s", day(start), start.Format("15:04"), day(end), end.Format("15:04"))
}

type outcome struct {
	images    map[string]string
	targets   map[string]rollout.Capacity
	suspended map[string]aastypes.SuspendedState
	tags      map[string]map[string]string
	// subjects are the distinct subjects of the mail sent; resent counts the copies beyond the
	// first. Mail is at-least-once: the outbox runs in its own loop, so a kill can land while a
	// send is in flight, and that one notice goes out again after the restart (with the same
	// X-Deskpilot-Notice header).
	subjects []string
	resent   int
	state    rollout.State
	saved    int
	calls    int64
}

// crashRun runs one rollout to completion, killing the daemon after the crashAt-th mutating
// call (0: never) and starting it again, and returns the end state of the world.
func crashRun(t *testing.T, sc crashScenario, crashAt int64) outcome {
	t.Helper()
	bin := deskpilotBinary(t)
	w := newCrashWorld(t, sc, crashAt)
	dir := t.TempDir()
	db := filepath.Join(dir, "deskpilot.db")
	cfgPath := filepath.Join(dir, "deskpilot.yaml")
	cfg := fmt.Sprintf(`aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: ""}
rollouts: {window: %q, scan_interval: 1s, poll_interval: 200ms, drain_poll_interval: 100ms, start_margin: 1m%s}
notify:
  email: {from: deskpilot@example.com, to: [euc-admins@example.com], via: ses}
`, w.srv.URL, db, openNow(), sc.config)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, cfgPath)
	w.first <- d
	timeout := time.After(60 * time.Second)
	if crashAt > 0 {
		select {
		case <-w.killed:
		case <-w.finished:
			d.stop()
			return outcome{calls: w.calls.Load()} // fewer mutating calls than crashAt: nothing to test
		case <-timeout:
			d.stop()
			t.Fatalf("crash point %d never reached; daemon log:\n%s", crashAt, d.logs)
		}
		d = startDaemon(t, bin, cfgPath)
	}
	select {
	case <-w.finished:
	case <-timeout:
		d.stop()
		t.Fatalf("crash at %d: the rollout did not finish; daemon log:\n%s", crashAt, d.logs)
	}
	// Let the last mail go out and the daemon settle, then stop it cleanly.
	d.stop()
	return observe(t, w, db)
}

func observe(t *testing.T, w *crashWorld, db string) outcome {
	t.Helper()
	ctx := context.Background()
	cfg := (&harness{t: t, ctx: ctx, url: w.srv.URL}).awsConfig()
	as, aas := appstream.NewFromConfig(cfg), applicationautoscaling.NewFromConfig(cfg)
	o := outcome{images: map[string]string{}, targets: map[string]rollout.Capacity{}, suspended: map[string]aastypes.SuspendedState{},
		tags: map[string]map[string]string{}, calls: w.calls.Load()}
	for _, f := range []string{"fleet-a", "fleet-b"} {
		out, err := as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{f}})
		if err != nil {
			t.Fatal(err)
		}
		o.images[f] = aws.ToString(out.Fleets[0].ImageArn)
		tg, err := aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + f}})
		if err != nil {
			t.Fatal(err)
		}
		o.targets[f] = rollout.Capacity{Min: aws.ToInt32(tg.ScalableTargets[0].MinCapacity), Max: aws.ToInt32(tg.ScalableTargets[0].MaxCapacity)}
		if ss := tg.ScalableTargets[0].SuspendedState; ss != nil {
			o.suspended[f] = aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(aws.ToBool(ss.DynamicScalingInSuspended)),
				DynamicScalingOutSuspended: aws.Bool(aws.ToBool(ss.DynamicScalingOutSuspended)), ScheduledScalingSuspended: aws.Bool(aws.ToBool(ss.ScheduledScalingSuspended))}
		}
		tags, err := as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(fleetARN(f))})
		if err != nil {
			t.Fatal(err)
		}
		o.tags[f] = tags.Tags
	}
	tags, err := as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(imageARN("img-2"))})
	if err != nil {
		t.Fatal(err)
	}
	o.tags["img-2"] = tags.Tags
	if st, ok := tags.Tags["Status"]; ok {
		// Status carries the time of its change (RolledBack/<time>), which differs per run.
		kind, _, _ := strings.Cut(st, "/")
		o.tags["img-2"]["Status"] = kind + "/…"
	}
	for _, m := range w.sim.Messages() {
		// A deadline warning names the deadline, which is a wall-clock time that differs per run.
		if before, _, ok := strings.Cut(m.Subject, " end at "); ok && strings.HasPrefix(before, "Sessions on fleet ") {
			m.Subject = before + " end at …"
		}
		if slices.Contains(o.subjects, m.Subject) {
			o.resent++
			continue
		}
		o.subjects = append(o.subjects, m.Subject)
	}
	slices.Sort(o.subjects)
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.Rollouts(ctx, 0)
	if err != nil || len(rs) != 1 {
		t.Fatalf("rollouts %+v, %v", rs, err)
	}
	o.state = rs[0].State
	saved, err := st.SavedCapacities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o.saved = len(saved)
	return o
}

// TestCrashAfterEverySideEffect kills `deskpilot serve` (SIGKILL) right after each AWS call
// that changes the world, in turn, restarts it, and checks the end state is the one an
// uninterrupted run reaches: both fleets on the new image, Min/Max exactly the originals, no
// fleet left at 0/0, each email sent, and at most one sent twice (the one a kill interrupted).
func TestCrashAfterEverySideEffect(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary many times")
	}
	img2 := imageARN("img-2")
	crashEverywhere(t, crashPlain, func(want outcome) bool {
		return want.state == rollout.Succeeded && want.images["fleet-a"] == img2 && want.images["fleet-b"] == img2
	})
}

// TestCrashAfterEverySideEffect_CanaryRolledBack is the crash test on a canary rollout of a
// defective image that is rolled back: the same end state after a kill at any mutating call
// (both fleets on img-1, Min/Max exact, no fleet at 0/0, Status=RolledBack/…, each notice
// sent once).
func TestCrashAfterEverySideEffect_CanaryRolledBack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary many times")
	}
	img1 := imageARN("img-1")
	crashEverywhere(t, crashCanaryRollback, func(want outcome) bool {
		return want.state == rollout.RolledBack && want.images["fleet-a"] == img1 && want.images["fleet-b"] == img1 &&
			want.tags["img-2"]["Status"] == "RolledBack/…"
	})
}

// crashSuspended is the recipe's rollout on fleets whose admins suspended some of their
// scaling: fleet-a's dynamic scale-in, fleet-b's scheduled scaling.
var crashSuspended = crashScenario{
	image: crashPlain.image,
	final: crashPlain.final,
	estate: func(s *sim.Seed) {
		for i, f := range s.Fleets {
			if f.ScalableTarget == nil {
				continue
			}
			t := *f.ScalableTarget
			switch f.Name {
			case "fleet-a":
				t.SuspendedState = &sim.SeedSuspendedState{DynamicScalingInSuspended: true}
			case "fleet-b":
				t.SuspendedState = &sim.SeedSuspendedState{ScheduledScalingSuspended: true}
			default:
				continue
			}
			s.Fleets[i].ScalableTarget = &t
		}
	},
}

// crashSessions is a sessions-mode rollout (Drain=sessions on the image) on a multi-session
// fleet-a whose user stays: its capacity is raised, alice's old instance drained, and, when the
// drain times out with her still there, the raise is undone; fleet-b (single-session, nobody on
// it) only gets the image.
var crashSessions = crashScenario{
	image:  sim.ImageSpec{Name: "img-2", Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "Drain": "sessions"}},
	final:  "Image img-2 rolled out",
	config: ", drain_timeout: 4s",
	estate: func(s *sim.Seed) {
		for i, f := range s.Fleets {
			if f.Name == "fleet-a" {
				s.Fleets[i].DesiredInstances, s.Fleets[i].MaxSessionsPerInstance, s.Fleets[i].DesiredSessions = 0, 4, 8
			}
		}
	},
}

// TestCrashAfterEverySideEffect_SessionsDrain is the crash test on a sessions-mode drain of a
// multi-session fleet: after a kill at any mutating call (the raise, DrainSessionInstance, the
// restore…), the fleet ends with its Min/Max and SuspendedState exactly, never at 0/0.
func TestCrashAfterEverySideEffect_SessionsDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary many times")
	}
	img2 := imageARN("img-2")
	crashEverywhere(t, crashSessions, func(want outcome) bool {
		return want.state == rollout.Succeeded && want.images["fleet-a"] == img2 && want.images["fleet-b"] == img2
	})
}

// crashDeadline is a deadline-mode rollout: multi-session fleet-a as in crashSessions, but
// alice's session is ended at the deadline after the warning; single-session fleet-b is scaled
// to zero and restored as in the recipe.
var crashDeadline = crashScenario{
	image:  sim.ImageSpec{Name: "img-2", Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "Drain": "deadline"}},
	final:  "Image img-2 rolled out",
	config: ", drain: {session_deadline: 3s, warning: 1s}",
	estate: crashSessions.estate,
}

// TestCrashAfterEverySideEffect_Deadline is the crash test on a deadline-mode rollout: after a
// kill at any mutating call (ExpireSession included), Min/Max and SuspendedState are exact, the
// warning is sent once, and alice's old-image session is ended.
func TestCrashAfterEverySideEffect_Deadline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary many times")
	}
	img2 := imageARN("img-2")
	crashEverywhere(t, crashDeadline, func(want outcome) bool {
		return want.state == rollout.Succeeded && want.images["fleet-a"] == img2 && want.images["fleet-b"] == img2 &&
			slices.Contains(want.subjects, "Sessions on fleet fleet-a end at …") && len(want.tags["img-2"]) == 0
	})
}

// TestCrashAfterEverySideEffect_SuspendedScaling is the crash test on fleets with some of
// their scaling suspended by their admins: after a kill at any mutating call, each fleet has
// exactly its own SuspendedState back (the drain suspends everything), with its Min/Max.
func TestCrashAfterEverySideEffect_SuspendedScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary many times")
	}
	img2 := imageARN("img-2")
	suspended := func(in, out, sched bool) aastypes.SuspendedState {
		return aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(in), DynamicScalingOutSuspended: aws.Bool(out), ScheduledScalingSuspended: aws.Bool(sched)}
	}
	crashEverywhere(t, crashSuspended, func(want outcome) bool {
		return want.state == rollout.Succeeded && want.images["fleet-a"] == img2 && want.images["fleet-b"] == img2 &&
			cmp.Equal(want.suspended["fleet-a"], suspended(true, false, false), cmpopts.IgnoreUnexported(aastypes.SuspendedState{})) &&
			cmp.Equal(want.suspended["fleet-b"], suspended(false, false, true), cmpopts.IgnoreUnexported(aastypes.SuspendedState{}))
	})
}

// crashEverywhere runs sc uninterrupted (its end state must satisfy ok, with both fleets at
// their original Min/Max), then once per mutating call with a kill right after it, and
// compares each end state with the uninterrupted one.
func crashEverywhere(t *testing.T, sc crashScenario, ok func(outcome) bool) {
	t.Helper()
	want := crashRun(t, sc, 0)
	if !ok(want) || want.targets["fleet-a"] != (rollout.Capacity{Min: 3, Max: 8}) || want.targets["fleet-b"] != (rollout.Capacity{Min: 2, Max: 5}) || want.saved != 0 {
		t.Fatalf("the uninterrupted run did not end as it should: %+v", want)
	}
	if want.resent != 0 {
		t.Fatalf("the uninterrupted run sent %d mails twice", want.resent)
	}
	t.Logf("uninterrupted run: %d mutating AWS calls, mail %q", want.calls, want.subjects)
	total := want.calls
	want.calls = 0
	for n := int64(1); n <= total; n++ {
		t.Run(fmt.Sprintf("crash after call %d", n), func(t *testing.T) {
			got := crashRun(t, sc, n)
			got.calls = 0
			if got.resent > 1 {
				t.Errorf("%d mails sent again after one kill; at most the one in flight may be", got.resent)
			}
			got.resent = 0
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(outcome{}), cmpopts.IgnoreUnexported(aastypes.SuspendedState{})); diff != "" {
				t.Errorf("end state differs from the uninterrupted run (-want +got):\n%s", diff)
			}
		})
	}
}
