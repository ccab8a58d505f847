package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/deskpilot/deskpilot/sim"
)

// eventsEstate is the estate of the event benchmarks: images images (img-000…) besides the
// fleets' img-1 and the one rolled out, and fleets fleets of two instances, one in use, 2/4.
func eventsEstate(images, fleets int) (sim.Seed, []string) {
	seed := sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}, Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-new"}},
		EventQueues: []string{"deskpilot-events"}}
	for i := range images {
		seed.Images = append(seed.Images, sim.ImageSpec{Name: fmt.Sprintf("img-%03d", i)})
	}
	return seed, rpFleets(&seed, "fleet-", fleets, "img-1")
}

// BenchmarkTagToPending measures, with a real `deskpilot serve` on the wall clock (emulator at
// real speed), how long a tag takes to become Status=Pending on the image and to be announced
// (the pending notice accepted by the emulated SES), through the event queue, with full scans an
// hour apart and the window a day away. 20 images are tagged one after the other, each for a
// fleet of its own (a second image for the same fleet would supersede the first); the estate
// has 200 images.
//
//	go test -run '^$' -bench TagToPending -benchtime 1x -timeout 20m ./e2e
func BenchmarkTagToPending(b *testing.B) {
	for range b.N {
		seed, fleets := eventsEstate(200, 20)
		w := newRPWorld(b, sim.Options{RandSeed: 1}, seed)
		tomorrow := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Minute)
		cfg := rpConfig{ScanInterval: time.Hour, Window: demoWindowString(tomorrow, 3*time.Hour),
			Rollouts: []string{"events: {queue: deskpilot-events, resync_interval: 1h}"}}
		d := rpStartDaemon(b, rpBinary(b), cfg.write(b, w))
		as, _ := w.awsClients()
		ctx := context.Background()
		// The startup scan has read every image; the first long poll is under way.
		waitUntil(b, d, time.Minute, "the startup scan", func() bool {
			return w.sim.CountCalls(sim.ServiceAppStream, "ListTagsForResource") >= 200
		})
		time.Sleep(time.Second)
		var toPending, toNotice []time.Duration
		for i := range 20 {
			image := fmt.Sprintf("img-%03d", i)
			mails := len(w.sim.Messages())
			start := time.Now()
			if _, err := as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: aws.String(imageARN(image)), Tags: map[string]string{"FleetName": fleets[i]}}); err != nil {
				b.Fatal(err)
			}
			var pendingAt time.Duration
			waitUntilFast(b, d, 30*time.Second, image+" pending and announced", func() bool {
				if pendingAt == 0 {
					lt, err := as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(imageARN(image))})
					if err == nil && strings.HasPrefix(lt.Tags["Status"], "Pending/") {
						pendingAt = time.Since(start)
					}
				}
				return pendingAt > 0 && len(w.sim.Messages()) > mails
			})
			toPending = append(toPending, pendingAt)
			toNotice = append(toNotice, time.Since(start))
		}
		d.stop()
		slices.Sort(toPending)
		slices.Sort(toNotice)
		b.ReportMetric(quantile(toPending, 0.5).Seconds(), "pending-p50-s")
		b.ReportMetric(quantile(toPending, 1).Seconds(), "pending-max-s")
		b.ReportMetric(quantile(toNotice, 0.5).Seconds(), "notice-p50-s")
		b.ReportMetric(quantile(toNotice, 1).Seconds(), "notice-max-s")
	}
}

// waitUntilFast is waitUntil polling every 5 ms, for latencies.
func waitUntilFast(tb testing.TB, d *rpDaemon, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s; daemon log (tail):\n%s", what, limit, tail(d.logs.String(), 40))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkCallsVsRecipe counts the AWS calls of one ScaleImmediately rollout of img-new to 10
// fleets, from the tag to the last restore, on an estate of 200 more images, in a window that is
// open when the image is tagged:
//
//   - recipe: the recipe's Lambda function and state machine (recipe_test.go) on a manual
//     clock, its one Step Functions call included;
//   - events: a real `deskpilot serve` with the event queue (resync 15 min), everything sped up
//     rpScale times as in BenchmarkRealProcessRollout;
//   - scan: the same without events (scan_interval 60 s, the default).
//
// aws-calls/fleet counts every call but WorkSpaces', SQS receives included, from the tag to the
// final notice. idle-calls/hour is measured apart: the daemon with no rollout for 30 emulated
// minutes (3 wall minutes), times two; the recipe makes none while idle.
//
//	go test -run '^$' -bench CallsVsRecipe -benchtime 1x -timeout 30m ./e2e
func BenchmarkCallsVsRecipe(b *testing.B) {
	const images, fleets = 200, 10
	b.Run("recipe", func(b *testing.B) {
		for range b.N {
			seed, names := eventsEstate(images, fleets)
			start := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC) // Sunday 01:00 UTC, the window
			clock := sim.NewManualClock(start)
			s := sim.New(sim.Options{Clock: clock, RandSeed: 1, Timings: sim.Timings{InstanceTerminate: terminate}})
			if err := s.ApplySeed(seed); err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(s)
			b.Cleanup(srv.Close)
			h := &harness{t: b, ctx: context.Background(), url: srv.URL}
			cfg := h.awsConfig()
			r := &recipe{as: appstream.NewFromConfig(cfg), aas: applicationautoscaling.NewFromConfig(cfg), ses: sesv2.NewFromConfig(cfg), maintDay: 6, maintTime: "01:00:00"}
			before := s.Calls().Counts
			tags := map[string]string{"FleetName": strings.Join(names, "/"), "ScaleImmediately": "True"}
			if _, err := r.as.TagResource(h.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(imageARN("img-new")), Tags: tags}); err != nil {
				b.Fatal(err)
			}
			exec, err := r.taggedImage(h.ctx, clock.Now(), imageARN("img-new"), tags)
			if err != nil || exec == nil {
				b.Fatalf("the recipe did not start: %v", err)
			}
			for done := false; !done; {
				var next time.Time
				done, next, err = r.step(h.ctx, exec, clock.Now())
				if err != nil {
					b.Fatal(err)
				}
				clock.Advance(next.Sub(clock.Now()))
			}
			for _, f := range names {
				if img := fleetImageOf(b, r.as, f); img != "img-new" {
					b.Fatalf("%s on %s after the recipe", f, img)
				}
			}
			calls := diffCounts(s.Calls().Counts, before)
			// The admin's own TagResource is not the recipe's.
			total := callsExcept(calls, sim.ServiceWorkSpaces) - 1 + r.stepFunctionCalls
			b.ReportMetric(float64(total)/fleets, "aws-calls/fleet")
			b.ReportMetric(0, "idle-calls/hour")
		}
	})
	for _, events := range []bool{true, false} {
		name := "scan"
		if events {
			name = "events"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchDaemonCalls(b, images, fleets, events)
			}
		})
	}
}

func fleetImageOf(tb testing.TB, as *appstream.Client, fleet string) string {
	out, err := as.DescribeFleets(context.Background(), &appstream.DescribeFleetsInput{Names: []string{fleet}})
	if err != nil || len(out.Fleets) != 1 {
		tb.Fatalf("describe %s: %v", fleet, err)
	}
	return aws.ToString(out.Fleets[0].ImageName)
}

func benchDaemonCalls(b *testing.B, images, fleets int, events bool) {
	seed, names := eventsEstate(images, fleets)
	w := newRPWorld(b, sim.Options{Speed: rpScale, RandSeed: 1, Timings: sim.Timings{InstanceTerminate: terminate}}, seed)
	cfg := rpConfig{ScanInterval: time.Minute / rpScale, PollInterval: 10 * time.Second / rpScale, DrainPollInterval: 5 * time.Second / rpScale, MaxParallel: fleets}
	if events {
		cfg.Rollouts = []string{fmt.Sprintf("events: {queue: deskpilot-events, resync_interval: %s}", 15*time.Minute/rpScale)}
	}
	d := rpStartDaemon(b, rpBinary(b), cfg.write(b, w))
	// Idle: 30 emulated minutes with no rollout, after the startup scan.
	waitUntil(b, d, time.Minute, "the startup scan", func() bool {
		return w.sim.CountCalls(sim.ServiceAppStream, "ListTagsForResource") >= images
	})
	idleFrom := w.sim.Calls().Counts
	time.Sleep(30 * time.Minute / rpScale)
	idle := callsExcept(diffCounts(w.sim.Calls().Counts, idleFrom), sim.ServiceWorkSpaces)
	// The rollout: from the admin's tag to the final notice.
	as, _ := w.awsClients()
	before := w.sim.Calls().Counts
	tags := map[string]string{"FleetName": strings.Join(names, "/"), "ScaleImmediately": "True"}
	if _, err := as.TagResource(context.Background(), &appstream.TagResourceInput{ResourceArn: aws.String(imageARN("img-new")), Tags: tags}); err != nil {
		b.Fatal(err)
	}
	fin, ok := w.waitFinished("img-new", d, 20*time.Minute)
	if !ok {
		b.Fatalf("the rollout did not finish; daemon log (tail):\n%s", tail(d.logs.String(), 40))
	}
	d.stop()
	calls := diffCounts(fin.Counts, before)
	st := drainStatsOf(w.sim.Timelines(), names)
	if len(st.problems) > 0 || st.restored != fleets {
		b.Fatalf("%d of %d fleets drained and restored: %v", st.restored, fleets, st.problems)
	}
	total := callsExcept(calls, sim.ServiceWorkSpaces) - 1 // not the admin's TagResource
	b.ReportMetric(float64(total)/float64(fleets), "aws-calls/fleet")
	b.ReportMetric(float64(callsOf(calls, sim.ServiceSQS)), "sqs-calls")
	b.ReportMetric(float64(idle*2), "idle-calls/hour")
}
