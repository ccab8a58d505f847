package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/sim"
)

// rpScale is how much faster than AWS the rollout benchmark runs: the emulator's durations
// (sim.Options.Speed) and the daemon's intervals are both divided by it, as the crash test
// does, so that in emulated time the daemon polls exactly as in BenchmarkRollout100Fleets
// (drain poll 5 s, poll 10 s, scan 5 min, a drain of 2 min 2.5 s, about 24 drain polls) while
// its passes take real time. Emulated seconds are wall seconds × rpScale; so are the daemon's
// passes, which makes a loopback call of 1–2 ms count as 10–20 ms, still less than an AWS call.
const rpScale = 10

// BenchmarkRealProcessRollout is BenchmarkRollout100Fleets with a real `deskpilot serve`
// process: a ScaleImmediately rollout (FleetName=prefix:fleet-) to fleets of two instances,
// one in use, target 2/4, the emulator on the wall clock, everything sped up rpScale times. It
// reports, from the emulator's call log and its fleet timelines:
//
//   - aws-calls/fleet: every AWS call of the daemon but WorkSpaces calls (AppStream,
//     Application Auto Scaling, SES), errors included, from the start of the scan that plans
//     the rollout until the rollout's final notice was sent, divided by the fleets: what the
//     manual-clock benchmark counts (its Calls().Total, which has no WorkSpaces calls);
//   - ws-calls/poll, ws-polls (WorkSpaces variant): WorkSpaces calls in the same span, divided
//     by the full polls (first pages of DescribeWorkspacesConnectionStatus) begun in it;
//   - restore-lag-p50-s, restore-lag-max-s: per fleet, the time its saved Min/Max was
//     registered again minus the time its last idle instance was gone while at 0/0, in
//     emulated seconds, to compare with drain_poll_interval (5 s) and the manual clock's lag;
//   - max-at-zero-s: the longest a fleet's target was 0/0, in emulated seconds;
//   - sim-min/rollout: emulated minutes from the start of the scan to the final notice;
//   - wall-s: the same span in real seconds.
//
// Run it once (about 5 minutes):
//
//	go test -run '^$' -bench RealProcessRollout -benchtime 1x -timeout 60m ./e2e
func BenchmarkRealProcessRollout(b *testing.B) {
	for _, c := range []struct {
		fleets, parallel, workspaces int
	}{
		{100, 100, 0},
		{100, 10, 0},
		{500, 500, 0},
		{500, 500, 10000},
	} {
		name := fmt.Sprintf("fleets=%d/max_parallel=%d", c.fleets, c.parallel)
		if c.workspaces > 0 {
			name += fmt.Sprintf("/workspaces=%d", c.workspaces)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchRealRollout(b, c.fleets, c.parallel, c.workspaces)
			}
		})
	}
}

func benchRealRollout(b *testing.B, fleets, parallel, workspaces int) {
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}, Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-new"}}}
	request := map[string]string{"FleetName": "prefix:fleet-", "ScaleImmediately": "True"}
	if workspaces == 0 {
		seed.Images[1].Tags = request // planned by the daemon's first scan
	}
	names := rpFleets(&seed, "fleet-", fleets, "img-1")
	rpWorkspaces(&seed, workspaces)
	w := newRPWorld(b, sim.Options{Speed: rpScale, RandSeed: 1, Timings: sim.Timings{InstanceTerminate: terminate}}, seed)
	// The manual-clock benchmark's settings (and BenchmarkReset10kWorkSpaces's), divided by
	// rpScale.
	cfg := rpConfig{ScanInterval: 5 * time.Minute / rpScale, PollInterval: 10 * time.Second / rpScale, DrainPollInterval: 5 * time.Second / rpScale, MaxParallel: parallel}
	if workspaces > 0 {
		// inventory_interval is not scaled: the rollout then runs in the reset controller's
		// steady state, every tag read and each poll a listing of connection states, as
		// BenchmarkReset10kWorkSpaces measures it (scaled, the 15-minute re-read of every tag
		// would come round every 90 s and overlap the rollout or not by chance).
		cfg.Workspaces = fmt.Sprintf("workspaces:\n  reset: {enabled: true, grace: %s, poll_interval: %s, inventory_interval: 15m, max_concurrent: 1000, max_per_minute: 1000}",
			15*time.Minute/rpScale, 60*time.Second/rpScale)
	}
	w.arm()
	d := rpStartDaemon(b, rpBinary(b), cfg.write(b, w))
	if workspaces > 0 {
		// Steady state, as in BenchmarkReset10kWorkSpaces: every opt-in tag read (at most 1,000
		// a poll) and one more full poll; then the admin tags the image, and the next scan
		// plans the rollout.
		waitUntil(b, d, 30*time.Minute, "the reset controller read every tag", func() bool {
			return w.sim.CountCalls(sim.ServiceWorkSpaces, "DescribeTags") >= workspaces
		})
		n := w.cycles.Load()
		waitUntil(b, d, 10*time.Minute, "one more poll", func() bool { return w.cycles.Load() > n+1 })
		as, _ := w.awsClients()
		if _, err := as.TagResource(context.Background(), &appstream.TagResourceInput{ResourceArn: aws.String(imageARN("img-new")), Tags: request}); err != nil {
			b.Fatal(err)
		}
		w.arm()
	}
	fin, ok := w.waitFinished("img-new", d, 60*time.Minute)
	if !ok {
		b.Fatalf("the rollout did not finish; daemon log (tail):\n%s", tail(d.logs.String(), 40))
	}
	d.stop()
	begin, ok := w.started()
	if !ok {
		b.Fatal("no scan was seen")
	}
	calls := diffCounts(fin.Counts, begin.Counts)
	st := drainStatsOf(w.sim.Timelines(), names)
	if len(st.problems) > 0 || st.restored != fleets {
		b.Fatalf("%d of %d fleets drained and restored: %v", st.restored, fleets, st.problems)
	}
	emulated := func(d time.Duration) float64 { return d.Seconds() * rpScale }
	b.ReportMetric(float64(callsExcept(calls, sim.ServiceWorkSpaces))/float64(fleets), "aws-calls/fleet")
	if workspaces > 0 {
		polls := fin.Cycles - begin.Cycles
		b.ReportMetric(float64(callsOf(calls, sim.ServiceWorkSpaces))/float64(max(polls, 1)), "ws-calls/poll")
		b.ReportMetric(float64(polls), "ws-polls")
	}
	b.ReportMetric(emulated(quantile(st.lags, 0.5)), "restore-lag-p50-s")
	b.ReportMetric(emulated(quantile(st.lags, 1)), "restore-lag-max-s")
	b.ReportMetric(emulated(quantile(st.atZero, 1)), "max-at-zero-s")
	b.ReportMetric(emulated(fin.At.Sub(begin.At))/60, "sim-min/rollout")
	b.ReportMetric(fin.At.Sub(begin.At).Seconds(), "wall-s")
}

// waitUntil polls cond every 100 ms until it holds, failing after limit or if the daemon exits.
func waitUntil(tb testing.TB, d *rpDaemon, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		select {
		case err := <-d.done:
			d.done <- err
			tb.Fatalf("waiting for %s: the daemon exited (%v); its log (tail):\n%s", what, err, tail(d.logs.String(), 40))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s; daemon log (tail):\n%s", what, limit, tail(d.logs.String(), 40))
		}
	}
}

// isolationSpeed is the emulator's speed in BenchmarkIsolation. Only AWS's durations are
// sped up there (a drain takes about 2 s); the daemon runs at its default intervals, in real
// time, because what delays a restore in these cases (the SDK's retries, the daemon's backoff
// after a failed pass) is real time too. Its lags are wall seconds.
const isolationSpeed = 60

// BenchmarkIsolation measures whether trouble elsewhere delays a drained fleet's restore. A
// real `deskpilot serve` rolls img-new out to 20 fleets (ScaleImmediately) and img-other to 4
// other fleets, with 100 opted-in WorkSpaces and resets on (default settings), the emulator at
// isolationSpeed and the daemon at its default intervals (drain poll 5 s). The restore lag of
// img-new's fleets (last idle instance gone → Min/Max back, wall seconds) is reported in three
// cases:
//
//   - healthy: no fault;
//   - workspaces-denied: every WorkSpaces call answers AccessDeniedException;
//   - other-rollout-fleet-failing: once img-new's fleets are at 0/0, every call naming
//     other-000 (one of img-other's fleets) answers InternalServerError (a Resource fault).
//
// Lags are measured when img-new's rollout sent its final notice, or 2 minutes after the start
// if it had not (finished 0); a fleet not restored by then counts with its lag so far
// (unrestored says how many). Then the faults are cleared.
//
//	go test -run '^$' -bench Isolation -benchtime 1x -timeout 30m ./e2e
func BenchmarkIsolation(b *testing.B) {
	for _, c := range []struct {
		name  string
		fault sim.Fault
		late  bool // install once img-new's fleets are at 0/0
	}{
		{name: "healthy"},
		{name: "workspaces-denied", fault: sim.Fault{Service: sim.ServiceWorkSpaces, ErrorCode: "AccessDeniedException"}},
		{name: "other-rollout-fleet-failing", fault: sim.Fault{Resource: "other-000", ErrorCode: "InternalServerError"}, late: true},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				benchIsolation(b, c.fault, c.late)
			}
		})
	}
}

func benchIsolation(b *testing.B, fault sim.Fault, late bool) {
	const limit = 2 * time.Minute
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}, Images: []sim.ImageSpec{
		{Name: "img-1"},
		{Name: "img-new", Tags: map[string]string{"FleetName": "prefix:fleet-", "ScaleImmediately": "True"}},
		{Name: "img-other", Tags: map[string]string{"FleetName": "prefix:other-", "ScaleImmediately": "True"}},
	}}
	mine := rpFleets(&seed, "fleet-", 20, "img-1")
	rpFleets(&seed, "other-", 4, "img-1")
	rpWorkspaces(&seed, 100)
	w := newRPWorld(b, sim.Options{Speed: isolationSpeed, RandSeed: 1, Timings: sim.Timings{InstanceTerminate: terminate}}, seed)
	if fault != (sim.Fault{}) && !late {
		if err := w.sim.AddFault(fault); err != nil {
			b.Fatal(err)
		}
	}
	cfg := rpConfig{MaxParallel: 100, Workspaces: "workspaces:\n  reset: {enabled: true}"}
	start := time.Now()
	d := rpStartDaemon(b, rpBinary(b), cfg.write(b, w))
	if late {
		waitUntil(b, d, limit, "img-new's fleets at 0/0", func() bool {
			return drainStatsOf(w.sim.Timelines(), mine).drained == len(mine)
		})
		if err := w.sim.AddFault(fault); err != nil {
			b.Fatal(err)
		}
	}
	_, finished := w.waitFinished("img-new", d, time.Until(start.Add(limit)))
	end := time.Now()
	st := drainStatsOf(w.sim.Timelines(), mine)
	w.sim.ClearFaults()
	d.stop()
	if st.drained != len(mine) {
		b.Fatalf("%d of %d fleets were drained: %v", st.drained, len(mine), st.problems)
	}
	b.ReportMetric(quantile(st.lags, 0.5).Seconds(), "restore-lag-p50-s")
	b.ReportMetric(quantile(st.lags, 1).Seconds(), "restore-lag-max-s")
	b.ReportMetric(float64(len(mine)-st.restored), "unrestored")
	b.ReportMetric(end.Sub(start).Seconds(), "wall-s")
	done := 0.0
	if finished {
		done = 1
	}
	b.ReportMetric(done, "finished")
}
