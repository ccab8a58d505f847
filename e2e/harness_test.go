// Package e2e drives deskpilot end to end: app.Main, built as `deskpilot serve` builds it, against
// the emulator over real HTTP with the real AWS SDK. Tests assert the state of the world (fleet
// images, capacities, tags, mail sent), not the calls made.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

const account = "123456789012"

func imageARN(name string) string { return "arn:aws:appstream:us-east-1:" + account + ":image/" + name }
func fleetARN(name string) string { return "arn:aws:appstream:us-east-1:" + account + ":fleet/" + name }

// harness is an emulator and a deskpilot daemon sharing one manual clock.
type harness struct {
	t     testing.TB
	ctx   context.Context
	clock *sim.ManualClock
	sim   *sim.Sim
	url   string
	cfg   config.Config
	app   *app.Main
	// tolerate lists the substrings of pass errors a test expects (it injected faults); any
	// other error fails the test.
	tolerate []string
	as       *appstream.Client
	aas      *applicationautoscaling.Client
	// configure, if set, adjusts the daemon before it opens (at start and every restart).
	configure func(*app.Main)
}

// estate is the AppStream estate most scenarios start from: two running fleets on img-1 with
// scalable targets, a stack, and a user streaming on fleet-a.
var estate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}, {Name: "img-3"}},
	Fleets: []sim.SeedFleet{
		{Name: "fleet-a", ImageName: "img-1", DesiredInstances: 3, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 3, MaxCapacity: 8}},
		{Name: "fleet-b", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 5}},
		{Name: "fleet-c", ImageName: "img-1", DesiredInstances: 1},
	},
	Stacks:                  []sim.SeedStack{{Name: "stack-a", Fleets: []string{"fleet-a"}}},
	Sessions:                []sim.SessionSpec{{FleetName: "fleet-a", StackName: "stack-a", UserId: "alice"}},
	VerifiedEmailIdentities: []string{"deskpilot@example.com"},
}

// newHarness starts the emulator at start with the estate, and the daemon with extraConfig
// (YAML merged over a test base config).
func newHarness(t *testing.T, start time.Time, extraConfig string) *harness {
	t.Helper()
	return newHarnessWith(t, start, extraConfig, estate)
}

// newHarnessWith is newHarness with another estate.
func newHarnessWith(t testing.TB, start time.Time, extraConfig string, seed sim.Seed, opts ...func(*sim.Options)) *harness {
	t.Helper()
	clock := sim.NewManualClock(start)
	o := sim.Options{Clock: clock, RandSeed: 42}
	for _, f := range opts {
		f(&o)
	}
	s := sim.New(o)
	if err := s.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	yaml := fmt.Sprintf(`
aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: ""}
rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  scan_interval: 5m
  poll_interval: 10s
  drain_poll_interval: 5s
notify:
  email: {from: deskpilot@example.com, to: [euc-admins@example.com], via: ses}
`, srv.URL, filepath.Join(t.TempDir(), "deskpilot.db"))
	// {{SIM}} in the extra config stands for the emulator's URL.
	extraConfig = strings.ReplaceAll(extraConfig, "{{SIM}}", srv.URL)
	cfg, err := config.Parse([]byte(mergeYAML(yaml, extraConfig)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{t: t, ctx: context.Background(), clock: clock, sim: s, url: srv.URL, cfg: cfg}
	awsCfg := h.awsConfig()
	h.as, h.aas = appstream.NewFromConfig(awsCfg), applicationautoscaling.NewFromConfig(awsCfg)
	h.start()
	t.Cleanup(func() { h.app.Close() })
	return h
}

// mergeYAML appends extra top-level keys; a key in extra replaces the base's section.
func mergeYAML(base, extra string) string {
	if strings.TrimSpace(extra) == "" {
		return base
	}
	var keep []string
	skip := false
	for _, line := range strings.Split(base, "\n") {
		if line != "" && line[0] != ' ' {
			key, _, _ := strings.Cut(line, ":")
			skip = strings.Contains(extra, "\n"+key+":") || strings.HasPrefix(extra, key+":")
		}
		if !skip {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n") + "\n" + extra
}

// get GETs path from the daemon's own server and returns the body, failing unless it answers
// 200.
func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.app.Addr() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func (h *harness) awsOptions() []func(*awsconfig.LoadOptions) error {
	return []func(*awsconfig.LoadOptions) error{
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		}),
	}
}

func (h *harness) awsConfig() aws.Config {
	cfg, err := awsconfig.LoadDefaultConfig(h.ctx, append(h.awsOptions(), awsconfig.WithRegion("us-east-1"), awsconfig.WithBaseEndpoint(h.url))...)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

// start opens the daemon on the harness's store (again, after a restart).
func (h *harness) start() {
	h.t.Helper()
	h.app = &app.Main{Config: h.cfg, Now: h.clock.Now, AWSOptions: h.awsOptions()}
	if h.configure != nil {
		h.configure(h.app)
	}
	if err := h.app.Open(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.app.StartServer()
}

// restart stops the daemon and starts a new one on the same store, as after a crash.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.app.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.start()
}

// run lets d of simulated time pass, running every daemon pass that falls due.
func (h *harness) run(d time.Duration) {
	h.t.Helper()
	end := h.clock.Now().Add(d)
	for {
		now := h.clock.Now()
		next := now
		for i := 0; i < 100 && !next.After(now); i++ {
			n, err := h.app.Tick(h.ctx)
			if err != nil && !h.tolerated(err) {
				h.t.Fatalf("tick at %s: unexpected error: %v", now.Format(time.RFC3339), err)
			}
			next = n
		}
		if !now.Before(end) {
			return
		}
		step := min(max(next.Sub(now), time.Second), end.Sub(now))
		h.clock.Advance(step)
	}
}

// expectErrors makes pass errors containing any of subs part of the test (it injected faults).
func (h *harness) expectErrors(subs ...string) { h.tolerate = append(h.tolerate, subs...) }

func (h *harness) tolerated(err error) bool {
	for _, s := range h.tolerate {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// runUntil runs until cond holds, failing after limit of simulated time.
func (h *harness) runUntil(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	end := h.clock.Now().Add(limit)
	for !cond() {
		if !h.clock.Now().Before(end) {
			h.t.Fatalf("after %s of simulated time: still not %s", limit, what)
		}
		h.run(30 * time.Second)
	}
}

func (h *harness) tagImage(image string, tags map[string]string) {
	h.t.Helper()
	if _, err := h.as.TagResource(h.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(imageARN(image)), Tags: tags}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) untagImage(image string, keys ...string) {
	h.t.Helper()
	if _, err := h.as.UntagResource(h.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(imageARN(image)), TagKeys: keys}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tags(arn string) map[string]string {
	h.t.Helper()
	out, err := h.as.ListTagsForResource(h.ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		h.t.Fatal(err)
	}
	return out.Tags
}

func (h *harness) fleetImage(fleet string) string {
	h.t.Helper()
	out, err := h.as.DescribeFleets(h.ctx, &appstream.DescribeFleetsInput{Names: []string{fleet}})
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.TrimPrefix(aws.ToString(out.Fleets[0].ImageArn), "arn:aws:appstream:us-east-1:"+account+":image/")
}

func (h *harness) target(fleet string) rollout.Capacity {
	h.t.Helper()
	out, err := h.aas.DescribeScalableTargets(h.ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + fleet},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(out.ScalableTargets) == 0 {
		return rollout.Capacity{Min: -1, Max: -1}
	}
	return rollout.Capacity{Min: aws.ToInt32(out.ScalableTargets[0].MinCapacity), Max: aws.ToInt32(out.ScalableTargets[0].MaxCapacity)}
}

// minTarget returns the smallest Max the fleet's target had in its scaling history, to tell
// whether it was drained.
func (h *harness) wasDrained(fleet string) bool {
	h.t.Helper()
	out, err := h.aas.DescribeScalingActivities(h.ctx, &applicationautoscaling.DescribeScalingActivitiesInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range out.ScalingActivities {
		if aws.ToString(a.Description) == "Setting desired capacity to 0." {
			return true
		}
	}
	return false
}

// subjects returns the subjects of the mail sent so far.
func (h *harness) subjects() []string {
	var out []string
	for _, m := range h.sim.Messages() {
		out = append(out, m.Subject)
	}
	return out
}

func (h *harness) mailCount(prefix string) int {
	n := 0
	for _, s := range h.subjects() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (h *harness) rollouts() []rollout.Rollout {
	h.t.Helper()
	rs, err := h.app.Store.Rollouts(h.ctx, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

func untag(arn string, keys ...string) *appstream.UntagResourceInput {
	return &appstream.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: keys}
}

func tagIn(arn string, tags map[string]string) *appstream.TagResourceInput {
	return &appstream.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags}
}

func setTarget(t testing.TB, h *harness, fleet string, min, max int32) {
	t.Helper()
	_, err := h.aas.RegisterScalableTarget(h.ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + fleet),
		ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MinCapacity: aws.Int32(min), MaxCapacity: aws.Int32(max),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// latestState is the newest rollout's state, or "" before there is one.
func (h *harness) latestState() rollout.State {
	rs := h.rollouts()
	if len(rs) == 0 {
		return ""
	}
	return rs[0].State
}
