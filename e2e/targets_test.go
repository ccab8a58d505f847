package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// The accounts of the many-targets scenario. deskpilot's own credentials (AKIDEXAMPLE) are of
// the emulator's root account, 123456789012, which both roles trust.
const (
	acctA = "111111111111"
	acctB = "222222222222"
)

// targetWorld is one account and region of the scenario, with an admin's clients of its own.
type targetWorld struct {
	account, region string
	denied          bool
	as              *appstream.Client
	aas             *applicationautoscaling.Client
}

func (w targetWorld) key() string { return w.account + "/" + w.region }

// worldEstate is the same estate in every account and region, with the same fleet and image
// names, so that a rollout that crossed an account or a region would show.
var worldEstate = sim.Seed{
	Images:      []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}},
	EventQueues: []string{"deskpilot-events"},
	Fleets: []sim.SeedFleet{
		{Name: "fleet-a", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 6}},
		{Name: "fleet-b", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 3}},
	},
}

// Two accounts × two regions served by one daemon, each through its own assumed role (one with
// an external id). An SCP denies one region of account A throughout: that target is reported
// failing, as denied, and the three others each finish their rollout in the window, with
// Min/Max restored exactly, while their role credentials are renewed every hour and once
// revoked early. No rollout crosses an account or a region.
func TestTargets_TwoAccountsTwoRegions(t *testing.T) {
	// Saturday 22:00 UTC; the window opens Sunday 02:00 Berlin (01:00 UTC).
	start := time.Date(2026, 3, 7, 22, 0, 0, 0, time.UTC)
	accounts := []sim.Account{
		{ID: acctA, AccessKeys: []string{"AKIAADMINACCOUNTA01"}, DeniedRegions: []string{"eu-west-1"},
			Roles: []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{account}}}},
		{ID: acctB, AccessKeys: []string{"AKIAADMINACCOUNTB01"},
			Roles: []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{account}, ExternalID: "deskpilot-7f3a"}}},
	}
	h := newHarnessWith(t, start, `
targets:
  - {account: "111111111111", role_arn: "arn:aws:iam::111111111111:role/deskpilot", regions: [eu-central-1, eu-west-1]}
  - {account: "222222222222", role_arn: "arn:aws:iam::222222222222:role/deskpilot", external_id: deskpilot-7f3a, session_name: deskpilot-e2e, regions: [us-east-1, eu-west-1]}
server: {addr: "127.0.0.1:0"}
rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  scan_interval: 5m
  poll_interval: 10s
  drain_poll_interval: 5s
  events: {queue: deskpilot-events, resync_interval: 1h}
`, sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}}, func(o *sim.Options) { o.Accounts = accounts })
	// The denied region's calls fail, as expected, throughout.
	h.expectErrors("explicit deny in a service control policy")

	worlds := []targetWorld{
		{account: acctA, region: "eu-central-1"},
		{account: acctA, region: "eu-west-1", denied: true},
		{account: acctB, region: "us-east-1"},
		{account: acctB, region: "eu-west-1"},
	}
	for i := range worlds {
		w := &worlds[i]
		if err := h.sim.World(w.account, w.region).ApplySeed(worldEstate); err != nil {
			t.Fatal(err)
		}
		key := "AKIAADMINACCOUNTA01"
		if w.account == acctB {
			key = "AKIAADMINACCOUNTB01"
		}
		cfg, err := awsconfig.LoadDefaultConfig(h.ctx, awsconfig.WithRegion(w.region), awsconfig.WithBaseEndpoint(h.url),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, "secret", "")))
		if err != nil {
			t.Fatal(err)
		}
		w.as, w.aas = appstream.NewFromConfig(cfg), applicationautoscaling.NewFromConfig(cfg)
	}
	// Each target's startup scan, and its first long poll of its own queue (the denied one's
	// queue cannot be opened), before the admin tags.
	h.run(time.Minute)
	// An admin tags img-2 in every world but the denied one (which refuses the admin too),
	// each for its own fleets.
	for _, w := range worlds {
		arn := "arn:aws:appstream:" + w.region + ":" + w.account + ":image/img-2"
		_, err := w.as.TagResource(h.ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn),
			Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True"}})
		if w.denied {
			if err == nil || !strings.Contains(err.Error(), "service control policy") {
				t.Fatalf("%s: tagging in the denied region: %v, want an SCP denial", w.key(), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", w.key(), err)
		}
	}

	// Through each target's own event queue: long before the next scan (5 min) or resync (1 h).
	h.run(time.Minute)
	// Each tagged image is pending in its own account and region, and said so.
	rs := h.rollouts()
	if len(rs) != 3 {
		t.Fatalf("%d rollouts, want 3 (one per reachable target): %+v", len(rs), rs)
	}
	for _, r := range rs {
		if r.State != rollout.Pending || !strings.HasPrefix(r.ImageARN, "arn:aws:appstream:"+r.Region+":"+r.Account+":image/") {
			t.Errorf("rollout %d: %s, image %s in %s/%s", r.ID, r.State, r.ImageARN, r.Account, r.Region)
		}
	}
	for _, w := range worlds {
		if w.denied {
			continue
		}
		if got := worldTags(t, h, w, "img-2")["Status"]; !strings.HasPrefix(got, "Pending/") {
			t.Errorf("%s: img-2 Status=%q, want Pending/…", w.key(), got)
		}
	}
	pending := 0
	for _, m := range h.sim.Messages() {
		if strings.HasPrefix(m.Subject, "Image img-2 scheduled for fleet-a, fleet-b (") {
			pending++
		}
		if strings.Contains(m.Subject, "img-2") && !(strings.Contains(m.Text, acctA) || strings.Contains(m.Text, acctB)) {
			t.Errorf("notice %q does not name its account:\n%s", m.Subject, m.Text)
		}
	}
	if pending != 3 {
		t.Errorf("%d pending notices, want 3: %q", pending, h.subjects())
	}

	for _, w := range worlds {
		want := 1.0
		if w.denied {
			want = -1 // no series: its queue was never opened
		}
		sample := `deskpilot_tag_events_total{account="` + w.account + `",outcome="handled",region="` + w.region + `"}`
		if got := h.metric(sample); got != want && !(w.denied && got == 0) {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	// The denied target is reported, as denied; the others are healthy.
	health := targetHealth(t, h)
	for _, w := range worlds {
		st, ok := health[w.key()]
		switch {
		case !ok:
			t.Errorf("%s: not in /api/v1/targets: %+v", w.key(), health)
		case w.denied && (st.Healthy || st.ErrorClass != "denied" || !strings.Contains(st.LastError, "service control policy")):
			t.Errorf("%s: %+v, want failing, denied by the SCP", w.key(), st)
		case !w.denied && !st.Healthy:
			t.Errorf("%s: %+v, want healthy", w.key(), st)
		}
	}

	// Every reachable target's fleets are listed, each with its account and region; the denied
	// one is a warning, not a failure of the listing.
	var fleets api.FleetList
	if err := json.Unmarshal([]byte(h.get("/api/v1/fleets")), &fleets); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range fleets.Fleets {
		listed[f.Account+"/"+f.Region+"/"+f.Name] = true
	}
	if len(fleets.Fleets) != 6 || !listed[acctB+"/eu-west-1/fleet-b"] || listed[acctA+"/eu-west-1/fleet-a"] ||
		len(fleets.Warnings) != 1 || !strings.Contains(fleets.Warnings[0], acctA+"/eu-west-1") {
		t.Errorf("fleets %v, warnings %q: want the 6 fleets of the 3 reachable targets and a warning naming the denied one", listed, fleets.Warnings)
	}

	// A plan names its target, and plans in the one asked for.
	var plan api.PlanResult
	body := `{"image": "img-1", "fleets": "fleet-a", "account": "` + acctB + `", "region": "eu-west-1"}`
	resp, err := http.Post("http://"+h.app.Addr()+"/api/v1/plan", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&plan)
	resp.Body.Close()
	if err != nil || plan.Account != acctB || plan.Region != "eu-west-1" || plan.Image.ARN != "arn:aws:appstream:eu-west-1:"+acctB+":image/img-1" {
		t.Errorf("plan in account B, eu-west-1: %v %+v", err, plan)
	}

	// An outage of one target (every call of account B in eu-west-1 fails for 20 minutes,
	// its queue's long polls included): that target is reported failing, as transient, the
	// others stay healthy, and it recovers by itself.
	outage := h.sim.World(acctB, "eu-west-1")
	if err := outage.AddFault(sim.Fault{ErrorCode: "ServiceUnavailableException"}); err != nil {
		t.Fatal(err)
	}
	h.expectErrors("ServiceUnavailableException")
	h.run(20 * time.Minute)
	health = targetHealth(t, h)
	if st := health[acctB+"/eu-west-1"]; st.Healthy || st.ErrorClass != "transient" {
		t.Errorf("during the outage: %+v, want failing, transient", st)
	}
	for _, k := range []string{acctA + "/eu-central-1", acctB + "/us-east-1"} {
		if st := health[k]; !st.Healthy {
			t.Errorf("%s during another target's outage: %+v, want healthy", k, st)
		}
	}
	outage.ClearFaults()
	h.run(10 * time.Minute)
	if st := targetHealth(t, h)[acctB+"/eu-west-1"]; !st.Healthy {
		t.Errorf("after the outage: %+v, want healthy again", st)
	}

	// Account B's sessions are revoked before their time: its next calls fail as expired, the
	// cache is dropped, the role is assumed again, and nothing else is lost.
	h.expectErrors("security token included in the request is expired")
	h.run(time.Hour)
	if n := h.sim.ExpireCredentials(acctB); n == 0 {
		t.Fatal("no credentials of account B to expire")
	}
	h.run(10 * time.Minute)
	expired := 0
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		for k, n := range h.sim.World(acctB, region).Calls().Counts {
			if strings.HasSuffix(k, "!ExpiredTokenException") || strings.HasSuffix(k, "!ExpiredToken") {
				expired += n
			}
		}
	}
	if expired == 0 {
		t.Error("no call of account B was refused as expired after its sessions were revoked")
	}
	if st := targetHealth(t, h)[acctB+"/us-east-1"]; !st.Healthy {
		t.Errorf("account B, us-east-1, after the revocation: %+v, want healthy again (the role assumed anew)", st)
	}

	// Through the window: every reachable fleet ends on img-2 with its own Min/Max, restored.
	h.runUntil("every reachable rollout finished", 6*time.Hour, func() bool {
		for _, r := range h.rollouts() {
			if r.State.Active() {
				return false
			}
		}
		return true
	})
	for _, r := range h.rollouts() {
		if r.State != rollout.Succeeded {
			t.Errorf("rollout %d in %s/%s: %s (%s)", r.ID, r.Account, r.Region, r.State, r.Reason)
		}
		if end := r.UpdatedAt; end.After(time.Date(2026, 3, 8, 4, 0, 0, 0, time.UTC)) {
			t.Errorf("rollout %d in %s/%s finished at %s, after the window", r.ID, r.Account, r.Region, end)
		}
	}
	want := map[string]rollout.Capacity{"fleet-a": {Min: 2, Max: 6}, "fleet-b": {Min: 1, Max: 3}}
	for _, w := range worlds {
		if w.denied {
			continue
		}
		for fleet, c := range want {
			if got := worldFleetImage(t, h, w, fleet); got != "img-2" {
				t.Errorf("%s %s: image %s, want img-2", w.key(), fleet, got)
			}
			if got := worldTarget(t, h, w, fleet); got != c {
				t.Errorf("%s %s: Min/Max %v, want %v", w.key(), fleet, got, c)
			}
		}
	}
	// The denied region was never changed.
	if n := h.sim.World(acctA, "eu-west-1").Calls().Counts["appstream.UpdateFleet"]; n != 0 {
		t.Errorf("denied region: %d UpdateFleet calls reached it", n)
	}
	// Credentials were renewed before they expired (hourly sessions over hours), and account B's
	// once more after the revocation.
	health = targetHealth(t, h)
	for _, w := range worlds {
		st := health[w.key()]
		if w.denied {
			if st.Healthy {
				t.Errorf("%s: healthy after hours denied", w.key())
			}
			continue
		}
		// One session lasts an hour and is renewed 5 minutes before its end.
		if least := int(h.clock.Now().Sub(start) / time.Hour); !st.Healthy || st.CredentialRefreshes < least {
			t.Errorf("%s: %+v, want healthy with its role assumed at least %d times", w.key(), st, least)
		}
	}
	// Metrics say the same, per account and region.
	body = h.get("/metrics")
	for _, line := range []string{
		`deskpilot_target_up{account="111111111111",region="eu-west-1"} 0`,
		`deskpilot_target_up{account="111111111111",region="eu-central-1"} 1`,
		`deskpilot_target_up{account="222222222222",region="us-east-1"} 1`,
		`deskpilot_rollout_steps_total{account="222222222222",region="eu-west-1",result="done"} 2`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

func targetHealth(t *testing.T, h *harness) map[string]api.TargetStatus {
	t.Helper()
	var list api.TargetList
	if err := json.Unmarshal([]byte(h.get("/api/v1/targets")), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.TargetStatus{}
	for _, s := range list.Targets {
		out[s.Account+"/"+s.Region] = s
	}
	return out
}

func worldTags(t *testing.T, h *harness, w targetWorld, image string) map[string]string {
	t.Helper()
	out, err := w.as.ListTagsForResource(h.ctx, &appstream.ListTagsForResourceInput{
		ResourceArn: aws.String("arn:aws:appstream:" + w.region + ":" + w.account + ":image/" + image)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Tags
}

func worldFleetImage(t *testing.T, h *harness, w targetWorld, fleet string) string {
	t.Helper()
	out, err := w.as.DescribeFleets(h.ctx, &appstream.DescribeFleetsInput{Names: []string{fleet}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.Fleets[0].ImageArn)
	return arn[strings.LastIndex(arn, "/")+1:]
}

func worldTarget(t *testing.T, h *harness, w targetWorld, fleet string) rollout.Capacity {
	t.Helper()
	out, err := w.aas.DescribeScalableTargets(h.ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + fleet},
	})
	if err != nil || len(out.ScalableTargets) == 0 {
		t.Fatalf("%s %s: %v", w.key(), fleet, err)
	}
	return rollout.Capacity{Min: aws.ToInt32(out.ScalableTargets[0].MinCapacity), Max: aws.ToInt32(out.ScalableTargets[0].MaxCapacity)}
}

// Two targets each have a WorkSpace with the same id: a logoff in one resets that one only,
// each record names its account and region, and each target's digest says which it is.
func TestTargets_ResetsPerAccount(t *testing.T) {
	accounts := []sim.Account{
		{ID: acctA, Roles: []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{account}}}},
		{ID: acctB, Roles: []sim.Role{{Name: "deskpilot", TrustedAccounts: []string{account}}}},
	}
	h := newHarnessWith(t, monday, resetConfig+`
targets:
  - {account: "111111111111", role_arn: "arn:aws:iam::111111111111:role/deskpilot", regions: [eu-central-1]}
  - {account: "222222222222", role_arn: "arn:aws:iam::222222222222:role/deskpilot", regions: [us-east-1]}
rollouts: {enabled: false}
`, sim.Seed{VerifiedEmailIdentities: []string{"deskpilot@example.com"}}, func(o *sim.Options) { o.Accounts = accounts })
	a, b := h.sim.World(acctA, "eu-central-1"), h.sim.World(acctB, "us-east-1")
	for _, w := range []*sim.Sim{a, b} {
		if err := w.ApplySeed(sim.Seed{Workspaces: []sim.WorkspaceSpec{{WorkspaceId: "ws-alice0001", DirectoryId: "d-1234567890",
			UserName: "alice", BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	rebuilds := func(w *sim.Sim) int {
		info, err := w.WorkspaceStatus("ws-alice0001")
		if err != nil {
			t.Fatal(err)
		}
		return len(info.Rebuilds)
	}
	h.run(time.Minute)
	for _, w := range []*sim.Sim{a, b} {
		if err := w.ConnectWorkspace("ws-alice0001"); err != nil {
			t.Fatal(err)
		}
	}
	h.run(30 * time.Minute)
	if err := a.DisconnectWorkspace("ws-alice0001"); err != nil {
		t.Fatal(err)
	}
	h.run(40 * time.Minute)
	if ra, rb := rebuilds(a), rebuilds(b); ra != 1 || rb != 0 {
		t.Fatalf("rebuilds: account A %d, account B %d; want 1 and 0 (only A's user logged off)", ra, rb)
	}
	if err := b.DisconnectWorkspace("ws-alice0001"); err != nil {
		t.Fatal(err)
	}
	h.run(40 * time.Minute)
	if ra, rb := rebuilds(a), rebuilds(b); ra != 1 || rb != 1 {
		t.Fatalf("rebuilds: account A %d, account B %d; want 1 and 1", ra, rb)
	}
	resets := map[string]int{}
	for _, r := range h.resetRecords("ws-alice0001") {
		if r.Account == "" || r.Region == "" {
			t.Errorf("record without its account and region: %+v", r)
		}
		if r.Outcome == "reset" {
			resets[r.Account+"/"+r.Region]++
		}
	}
	if resets[acctA+"/eu-central-1"] != 1 || resets[acctB+"/us-east-1"] != 1 {
		t.Errorf("reset records by target: %v, want one each", resets)
	}
	h.run(2 * time.Hour) // past the hourly digest
	digests := map[string]bool{}
	for _, s := range h.subjects() {
		if strings.HasPrefix(s, "WorkSpaces reset") {
			for _, k := range []string{"(account " + acctA + ", eu-central-1)", "(account " + acctB + ", us-east-1)"} {
				if strings.HasSuffix(s, k) {
					digests[k] = true
				}
			}
		}
	}
	if len(digests) != 2 {
		t.Errorf("digests %q: want one naming each target", h.subjects())
	}
}
