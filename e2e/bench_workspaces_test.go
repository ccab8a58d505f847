package e2e

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/sim"
)

// BenchmarkReset10kWorkSpaces runs the reset controller over 10,000 WorkSpaces (all opted in)
// in the emulator on a manual clock and reports: AWS calls per poll cycle against the lower
// bound (the pages of DescribeWorkspacesConnectionStatus, 25 a page), how long after the grace
// period each of 200 logoffs at random times was rebuilt, and the heap the daemon holds.
//
//	go test -run '^$' -bench Reset10k -benchtime 1x ./e2e
func BenchmarkReset10kWorkSpaces(b *testing.B) {
	for range b.N {
		benchReset(b, 10000, 200)
	}
}

func benchReset(b *testing.B, n, logoffs int) {
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}}
	for i := range n {
		seed.Workspaces = append(seed.Workspaces, sim.WorkspaceSpec{
			WorkspaceId: fmt.Sprintf("ws-%09d", i), DirectoryId: "d-1234567890", UserName: fmt.Sprintf("user%05d", i),
			BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"},
		})
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := newHarnessWith(b, monday, "workspaces:\n  reset: {enabled: true, grace: 15m, poll_interval: 60s, max_concurrent: 1000, max_per_minute: 1000}\n", seed)
	// Steady state: every tag read (1,000 a poll).
	h.run(12 * time.Minute)

	// One poll cycle with nothing else due.
	calls := h.sim.Calls().Total
	h.run(time.Minute)
	perCycle := h.sim.Calls().Total - calls
	lowerBound := (n + 24) / 25

	// Logoffs at random instants over 10 minutes.
	rng := rand.New(rand.NewPCG(1, 2))
	ids := rng.Perm(n)[:logoffs]
	for _, i := range ids {
		h.connect(fmt.Sprintf("ws-%09d", i))
	}
	h.run(2 * time.Minute)
	offAt := map[string]time.Time{}
	for step := 0; step < logoffs; step++ {
		id := fmt.Sprintf("ws-%09d", ids[step])
		h.run(time.Duration(rng.IntN(6000)) * time.Millisecond)
		h.disconnect(id)
		offAt[id] = h.clock.Now()
	}
	h.run(40 * time.Minute)
	var lags []time.Duration
	for id, at := range offAt {
		info, err := h.sim.WorkspaceStatus(id)
		if err != nil || len(info.Rebuilds) != 1 {
			b.Fatalf("%s: %d rebuilds, %v", id, len(info.Rebuilds), err)
		}
		lags = append(lags, info.Rebuilds[0].Sub(at.Add(15*time.Minute)))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	b.ReportMetric(float64(perCycle), "calls/poll-cycle")
	b.ReportMetric(float64(lowerBound), "lower-bound-calls")
	b.ReportMetric(lags[len(lags)/2].Seconds(), "p50-lag-s")
	b.ReportMetric(lags[len(lags)-1].Seconds(), "max-lag-s")
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/1e6, "heap-MB(sim+daemon)")
}
