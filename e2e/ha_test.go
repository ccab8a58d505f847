package e2e

import (
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/deskpilot/deskpilot/internal/store"
	"github.com/deskpilot/deskpilot/internal/store/storetest"
	"github.com/deskpilot/deskpilot/sim"
)

// haReplica is one `deskpilot serve` of the HA test, with its own door to the emulator so that
// its AWS calls are counted apart.
type haReplica struct {
	d     *rpDaemon
	calls atomic.Int64
}

func (r *haReplica) pid() int { return r.d.cmd.Process.Pid }

// TestHA_TwoReplicasOnPostgres runs two replicas on one PostgreSQL store through a
// ScaleImmediately rollout of six fleets. The leader is paused (SIGSTOP) past its lease
// mid-drain: the other takes over, and once resumed the old leader makes no AWS call. Then the
// leader is killed (SIGKILL) three times at random moments and replaced each time; the other
// takes over each time within ha.takeover plus a retry. At the end every fleet runs the new
// image with exactly its Min/Max (none stranded at 0/0) and the final notice went out once.
func TestHA_TwoReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL; not in -short")
	}
	pg := storetest.PostgresURL(t)
	const fleets, takeover = 6, 3 * time.Second
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"},
		Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-new", Tags: map[string]string{"FleetName": "prefix:fleet-", "ScaleImmediately": "True"}}}}
	names := rpFleets(&seed, "fleet-", fleets, "img-1")
	// Idle instances take 20 s of wall time to go, so drains last long enough to be interrupted.
	w := newRPWorld(t, sim.Options{Speed: 6, RandSeed: 3, Timings: sim.Timings{InstanceTerminate: 2 * time.Minute}}, seed)
	bin := rpBinary(t)
	dir := t.TempDir()
	var mu sync.Mutex
	var replicas []*haReplica
	start := func() *haReplica {
		r := &haReplica{}
		door := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			r.calls.Add(1)
			w.serve(rw, req)
		}))
		t.Cleanup(door.Close)
		cfg := fmt.Sprintf(`aws: {region: us-east-1, endpoint: %q}
store: {postgres: {url: %q}}
ha: {takeover: %s}
server: {addr: ""}
rollouts: {window: %q, scan_interval: 5s, poll_interval: 1s, drain_poll_interval: 500ms, max_parallel: 2}
notify:
  email: {from: deskpilot@example.com, to: [euc-admins@example.com], via: ses}
`, door.URL, pg, takeover, openNow())
		path := filepath.Join(dir, fmt.Sprintf("replica-%d.yaml", len(replicas)))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r.d = rpStartDaemon(t, bin, path)
		mu.Lock()
		replicas = append(replicas, r)
		mu.Unlock()
		return r
	}
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, pg, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	leader := func() (string, int64) {
		l, ok, err := st.Leader(ctx, "leader")
		if err != nil || !ok {
			return "", 0
		}
		return l.Holder, l.Epoch
	}
	replicaOf := func(holder string) *haReplica {
		parts := strings.Split(holder, ":")
		if len(parts) < 3 {
			return nil
		}
		pid, _ := strconv.Atoi(parts[len(parts)-2])
		mu.Lock()
		defer mu.Unlock()
		for _, r := range replicas {
			if r.pid() == pid {
				return r
			}
		}
		return nil
	}
	a := start()
	waitUntil(t, a.d, 30*time.Second, "a leader", func() bool { h, _ := leader(); return h != "" })
	b := start()
	live := map[*haReplica]bool{a: true, b: true}
	waitUntil(t, a.d, time.Minute, "a fleet drained", func() bool {
		for _, tl := range w.sim.Timelines() {
			for _, c := range tl.Targets {
				if c.MinCapacity == 0 && c.MaxCapacity == 0 && !c.Deregistered {
					return true
				}
			}
		}
		return false
	})

	// 1. Pause the leader past its lease, mid-drain.
	holder, epoch := leader()
	paused := replicaOf(holder)
	if paused == nil {
		t.Fatalf("leader %q is none of the replicas", holder)
	}
	if err := paused.d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	waitUntil(t, a.d, 3*takeover, "a takeover from the paused leader", func() bool { h, _ := leader(); return h != holder && h != "" })
	t.Logf("takeover from the paused leader after %s", time.Since(stoppedAt).Round(10*time.Millisecond))
	time.Sleep(takeover) // well past its lease
	before := paused.calls.Load()
	if err := paused.d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * takeover)
	if n := paused.calls.Load() - before; n != 0 {
		t.Errorf("the leader paused past its lease made %d AWS calls after it resumed; want none", n)
	}
	if h, e := leader(); h == holder || e <= epoch {
		t.Errorf("after the resume the lease is %s epoch %d; want another holder with an epoch above %d", h, e, epoch)
	}

	// 2. Kill the leader three times at random moments; a new replica replaces each.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3 {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		holder, _ := leader()
		victim := replicaOf(holder)
		if victim == nil {
			t.Fatalf("kill %d: leader %q is none of the replicas", i, holder)
		}
		if err := victim.d.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		delete(live, victim)
		live[start()] = true
		var any *haReplica
		for r := range live {
			any = r
		}
		waitUntil(t, any.d, 3*takeover, "a takeover after kill", func() bool { h, _ := leader(); return h != holder && h != "" })
		if took := time.Since(killed); took > takeover+takeover/5+time.Second {
			t.Errorf("kill %d: takeover took %s, want within ha.takeover (%s) and a retry", i, took.Round(10*time.Millisecond), takeover)
		}
	}
	var any *haReplica
	for r := range live {
		any = r
	}
	if _, ok := w.waitFinished("img-new", any.d, 3*time.Minute); !ok {
		t.Fatalf("the rollout did not finish; a replica's log (tail):\n%s", tail(any.d.logs.String(), 60))
	}
	aas := applicationautoscaling.NewFromConfig((&harness{t: t, ctx: ctx, url: w.srv.URL}).awsConfig())
	as, _ := w.awsClients()
	for _, f := range names {
		if img := fleetImageOf(t, as, f); img != "img-new" {
			t.Errorf("%s runs %s, want img-new", f, img)
		}
		out, err := aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + f}})
		if err != nil || len(out.ScalableTargets) != 1 {
			t.Fatalf("%s: %v", f, err)
		}
		if tg := out.ScalableTargets[0]; aws.ToInt32(tg.MinCapacity) != 2 || aws.ToInt32(tg.MaxCapacity) != 4 {
			t.Errorf("%s ends at %d/%d, want its saved 2/4", f, aws.ToInt32(tg.MinCapacity), aws.ToInt32(tg.MaxCapacity))
		}
	}
	finals := 0
	for _, m := range w.sim.Messages() {
		if strings.HasPrefix(m.Subject, "Image img-new rolled out") {
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("the final notice went out %d times, want once", finals)
	}
}
