package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/sim"
)

// BenchmarkTargets runs a real `deskpilot serve` against `deskpilot sim`'s library on the wall
// clock, serving 3 accounts × 4 regions (12 targets) through assumed roles, each with its own
// tag-event queue (rollouts.events.queue given by name), 50 images and 5 fleets. In the "denied"
// variant an SCP denies one region of one account throughout. It measures, over the 11 reachable
// targets, how long a tag takes to become Status=Pending (3 tags per target, one after the
// other), then the AWS calls of 2 idle wall minutes per target (and of the denied target, which
// keeps retrying with backoff), and the AssumeRole calls.
//
//	go test -run '^$' -bench Targets -benchtime 1x -timeout 20m ./e2e
func BenchmarkTargets(b *testing.B) {
	for _, denied := range []bool{false, true} {
		name := "all-reachable"
		if denied {
			name = "one-region-denied"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchTargets(b, denied)
			}
		})
	}
}

func benchTargets(b *testing.B, denied bool) {
	accounts := []string{"111111111111", "222222222222", "333333333333"}
	regions := []string{"eu-central-1", "eu-west-1", "us-east-1", "ap-southeast-2"}
	var simAccounts []sim.Account
	var targetsYAML strings.Builder
	targetsYAML.WriteString("targets:\n")
	for i, a := range accounts {
		acct := sim.Account{ID: a, AccessKeys: []string{fmt.Sprintf("AKIAADMINBENCH%05d", i)},
			Roles: []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{account}, ExternalID: "bench"}}}
		if denied && i == 1 {
			acct.DeniedRegions = []string{"eu-west-1"}
		}
		simAccounts = append(simAccounts, acct)
		fmt.Fprintf(&targetsYAML, "  - {account: %q, role_arn: \"arn:aws:iam::%s:role/deskpilot\", external_id: bench, regions: [%s]}\n",
			a, a, strings.Join(regions, ", "))
	}
	w := newRPWorld(b, sim.Options{RandSeed: 1, Accounts: simAccounts}, sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}})
	seed, fleets := eventsEstate(50, 5)
	seed.VerifiedEmailIdentities = nil
	type world struct {
		key string
		s   *sim.Sim
		as  *appstream.Client
		arn func(string) string
	}
	var reachable []world
	for i, a := range accounts {
		for _, r := range regions {
			s := w.sim.World(a, r)
			if err := s.ApplySeed(seed); err != nil {
				b.Fatal(err)
			}
			if denied && i == 1 && r == "eu-west-1" {
				continue
			}
			cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(r), awsconfig.WithBaseEndpoint(w.srv.URL),
				awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(fmt.Sprintf("AKIAADMINBENCH%05d", i), "secret", "")))
			if err != nil {
				b.Fatal(err)
			}
			a, r := a, r
			reachable = append(reachable, world{key: a + "/" + r, s: s, as: appstream.NewFromConfig(cfg),
				arn: func(img string) string { return "arn:aws:appstream:" + r + ":" + a + ":image/" + img }})
		}
	}
	tomorrow := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Minute)
	cfg := rpConfig{ScanInterval: time.Hour, Window: demoWindowString(tomorrow, 3*time.Hour), ServerAddr: freeAddr(b),
		Rollouts: []string{"events: {queue: deskpilot-events, resync_interval: 1h}"}, Targets: targetsYAML.String()}
	d := rpStartDaemon(b, rpBinary(b), cfg.write(b, w))
	ctx := context.Background()
	// Every reachable target's startup scan has read its images, and its events loop is
	// listening: a tag is then measured from the queue, not from a poll still starting.
	waitUntil(b, d, 2*time.Minute, "every target's startup scan and long poll", func() bool {
		for _, x := range reachable {
			if x.s.CountCalls(sim.ServiceAppStream, "ListTagsForResource") < 52 || x.s.WaitingPolls() < 1 {
				return false
			}
		}
		return true
	})
	var toPending []time.Duration
	for round := range 3 {
		for _, x := range reachable {
			image := fmt.Sprintf("img-%03d", round)
			start := time.Now()
			if _, err := x.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: aws.String(x.arn(image)), Tags: map[string]string{"FleetName": fleets[round]}}); err != nil {
				b.Fatal(err)
			}
			waitUntilFast(b, d, 30*time.Second, x.key+" "+image+" pending", func() bool {
				lt, err := x.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(x.arn(image))})
				return err == nil && strings.HasPrefix(lt.Tags["Status"], "Pending/")
			})
			toPending = append(toPending, time.Since(start))
		}
	}
	// Idle: what each target costs per hour with nothing to do (long polls, and the resync's
	// share is not in two minutes: it is an hour apart).
	before := map[string]int{}
	for _, x := range reachable {
		before[x.key] = x.s.Calls().Total
	}
	stsBefore := w.sim.CountCalls(sim.ServiceSTS, "AssumeRole")
	deniedWorld := w.sim.World(accounts[1], "eu-west-1")
	deniedBefore := deniedWorld.Calls().Total
	// Idle is a rate of a real process on the wall clock, so it takes real time to measure.
	const idle = 2 * time.Minute
	time.Sleep(idle)
	var idleCalls []int
	for _, x := range reachable {
		idleCalls = append(idleCalls, x.s.Calls().Total-before[x.key])
	}
	assumes := w.sim.CountCalls(sim.ServiceSTS, "AssumeRole")
	deniedCalls := deniedWorld.Calls().Total - deniedBefore
	d.stop()
	slices.Sort(toPending)
	slices.Sort(idleCalls)
	b.ReportMetric(float64(len(reachable)), "reachable-targets")
	b.ReportMetric(quantile(toPending, 0.5).Seconds()*1000, "pending-p50-ms")
	b.ReportMetric(quantile(toPending, 1).Seconds()*1000, "pending-max-ms")
	b.ReportMetric(float64(idleCalls[len(idleCalls)/2])*float64(time.Hour/idle), "idle-calls/hour/target")
	b.ReportMetric(float64(assumes), "assume-role-calls")
	b.ReportMetric(float64(assumes-stsBefore), "assume-role-calls-idle")
	if denied {
		// What the denied target keeps trying: its loops back off on their own.
		b.ReportMetric(float64(deniedCalls)*float64(time.Hour/idle), "denied-target-calls/hour")
	}
}
