package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// BenchmarkRollout100Fleets rolls an image out to 100 draining fleets (each 2 instances, one
// of them in use, target 2/4) in the emulator on a manual clock, and reports in simulated
// time how long the rollout took against one fleet's drain, how long each fleet stayed at 0/0
// after its last idle instance was gone (the restore lag), and the AWS calls per fleet.
//
//	go test -run '^$' -bench Rollout100Fleets -benchtime 1x ./e2e
func BenchmarkRollout100Fleets(b *testing.B) {
	for _, parallel := range []int{10, 100} {
		b.Run(fmt.Sprintf("max_parallel=%d", parallel), func(b *testing.B) {
			for range b.N {
				benchRollout(b, 100, parallel)
			}
		})
	}
}

// terminate is how long an idle instance takes to go in the benchmark's emulator.
const terminate = 2*time.Minute + 2500*time.Millisecond

func benchRollout(b *testing.B, fleets, parallel int) {
	seed := sim.Seed{Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}}, VerifiedEmailIdentities: []string{"deskpilot@example.com"}}
	for i := range fleets {
		name := fmt.Sprintf("fleet-%03d", i)
		seed.Fleets = append(seed.Fleets, sim.SeedFleet{Name: name, ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 4}})
		seed.Stacks = append(seed.Stacks, sim.SeedStack{Name: "stack-" + name, Fleets: []string{name}})
		seed.Sessions = append(seed.Sessions, sim.SessionSpec{FleetName: name, StackName: "stack-" + name, UserId: "user-" + name})
	}
	start := time.Date(2026, 11, 29, 0, 59, 0, 0, time.UTC) // a minute before the window
	h := newHarnessWith(b, start, fmt.Sprintf(`rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  scan_interval: 5m
  max_parallel: %d
`, parallel), seed, func(o *sim.Options) {
		// Not a multiple of the drain poll interval (5 s), so the lag is not flattered.
		o.Timings.InstanceTerminate = terminate
	})
	if _, err := h.sim.CreateImage(sim.ImageSpec{Name: "img-new", Tags: map[string]string{"FleetName": "prefix:fleet-", "ScaleImmediately": "True"}}); err != nil {
		b.Fatal(err)
	}
	before := h.sim.Calls().Total
	wallStart := time.Now()
	h.runUntil("the rollout finished", 6*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	wall := time.Since(wallStart)
	r := h.rollouts()[0]
	var first, last time.Time
	for _, s := range r.Steps {
		if first.IsZero() || s.StartedAt.Before(first) {
			first = s.StartedAt
		}
		if s.FinishedAt.After(last) {
			last = s.FinishedAt
		}
		if s.State != rollout.StepDone || h.target(s.Fleet) != (rollout.Capacity{Min: 2, Max: 4}) {
			b.Fatalf("%s: %s at %v", s.Fleet, s.State, h.target(s.Fleet))
		}
	}
	// Restore lag: each fleet's idle instances are gone InstanceTerminate after its 0/0;
	// the lag is how long after that its Min/Max came back.
	var zeroAt, restoredAt = map[string]time.Time{}, map[string]time.Time{}
	events, err := h.app.Store.Events(h.ctx, r.ID, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range events {
		switch {
		case e.Kind == history.Step && e.State == string(rollout.StepDraining) && e.Reason == "scaled to 0/0":
			zeroAt[e.Fleet] = e.At
		case e.Kind == history.Step && e.State == string(rollout.StepRestoring) && strings.HasPrefix(e.Reason, "restored"):
			restoredAt[e.Fleet] = e.At
		}
	}
	var maxLag, sumLag time.Duration
	for f, z := range zeroAt {
		lag := restoredAt[f].Sub(z.Add(terminate))
		sumLag += lag
		maxLag = max(maxLag, lag)
	}
	calls := h.sim.Calls().Total - before
	b.ReportMetric(last.Sub(first).Minutes(), "sim-min/rollout")
	b.ReportMetric(terminate.Minutes(), "sim-min/one-drain")
	b.ReportMetric(maxLag.Seconds(), "max-restore-lag-s")
	b.ReportMetric(sumLag.Seconds()/float64(len(zeroAt)), "mean-restore-lag-s")
	b.ReportMetric(float64(calls)/float64(fleets), "aws-calls/fleet")
	b.ReportMetric(wall.Seconds(), "wall-s")
}
