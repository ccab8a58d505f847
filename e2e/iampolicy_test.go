package e2e

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/iampolicy"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// callTap stands between the daemon and the emulator and counts the calls the daemon makes,
// by "service.Operation" as the emulator's call log names them. The test's own SDK clients
// and its helpers go to the emulator directly, so they are not counted. Requests through the
// tap are served one at a time, and the emulator's counts are read before and after each, so
// what changed is that request's call; nothing else calls the emulator while the daemon
// does, because the test drives the daemon from its own goroutine (Tick) and its SNS
// deliveries are handled while the test waits for them.
type callTap struct {
	sim *sim.Sim

	mu     sync.Mutex
	counts map[string]int
}

func (c *callTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.sim.Calls().Counts
	c.sim.ServeHTTP(w, r)
	for k, n := range c.sim.Calls().Counts {
		// Keys with "!" count the failed calls of an operation a second time, by error code.
		if d := n - before[k]; d > 0 && !strings.Contains(k, "!") {
			c.counts[k] += d
		}
	}
}

func (c *callTap) calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// notExercised lists the IAM actions of the policy that no scenario of the test makes the
// daemon use, each with the reason it is in the policy all the same. Empty: every action is
// used below. An entry that a scenario does use fails the test, so the list cannot go stale.
var notExercised = map[string]string{}

// iamConfig runs everything at once: rollouts (the base config's window and mail through
// SES) with tag events from a queue, WorkSpaces resets with a short grace, and the SNS endpoint for logoff alarms.
const iamConfig = `
server: {addr: "127.0.0.1:0"}
rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  scan_interval: 5m
  poll_interval: 10s
  drain_poll_interval: 5s
  drain: {session_deadline: 40m, warning: 10m}
  events: {queue: deskpilot-events}
workspaces:
  reset: {enabled: true, grace: 5m, poll_interval: 2m}
  sns:
    topics: [` + snsTopic + `]
`

// iamSeed is the AppStream estate with two tagged WorkSpaces, one reset by rebuild and one by
// restore, and a multi-session fleet in deadline mode (its old instance is drained, and its
// session ended at the deadline).
func iamSeed() sim.Seed {
	s := estate
	s.Fleets = append(slices.Clone(s.Fleets), sim.SeedFleet{Name: "fleet-ms", ImageName: "img-1", MaxSessionsPerInstance: 4, DesiredSessions: 8,
		Tags: map[string]string{"Drain": "deadline"}, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 8, MaxCapacity: 16}})
	s.Stacks = append(slices.Clone(s.Stacks), sim.SeedStack{Name: "stack-ms", Fleets: []string{"fleet-ms"}})
	s.Sessions = append(slices.Clone(s.Sessions), sim.SessionSpec{FleetName: "fleet-ms", StackName: "stack-ms", UserId: "erin"})
	s.EventQueues = []string{"deskpilot-events"}
	s.Workspaces = []sim.WorkspaceSpec{
		{WorkspaceId: "ws-alice0001", DirectoryId: "d-1234567890", UserName: "alice", BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"}},
		{WorkspaceId: "ws-dave0001", DirectoryId: "d-1234567890", UserName: "dave", BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "restore"}},
	}
	return s
}

// TestIAMPolicy_AllowsExactlyWhatTheDaemonCalls runs deskpilot with every feature through a
// ScaleImmediately rollout to its end, a rebuild and a restore after logoffs reported by SNS
// alarms, and its notices by SES, then checks the calls it made against internal/iampolicy:
// every call is in the table (and so allowed by the policy of all features, unless AWS
// authorizes it without IAM), and every action the policy allows was used, or is in
// notExercised with a reason.
func TestIAMPolicy_AllowsExactlyWhatTheDaemonCalls(t *testing.T) {
	h := newHarnessWith(t, saturday, iamConfig, iamSeed())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Put the tap between the daemon and the emulator, SNS links and certificate included,
	// and start the daemon again behind it, so that its startup call (STS) is counted too.
	tap := &callTap{sim: h.sim, counts: map[string]int{}}
	srv := httptest.NewServer(tap)
	t.Cleanup(srv.Close)
	h.sim.SetBaseURL(srv.URL)
	h.cfg.AWS.Endpoint = srv.URL
	h.cfg.WorkSpaces.SNS.TrustedCertURLs = []string{srv.URL + "/_sim/sns/SimpleNotificationService-deskpilot-sim.pem"}
	h.restart()

	// SNS: deskpilot confirms its subscription.
	endpoint := "http://" + h.app.Addr() + "/sns"
	if _, err := h.sim.SubscribeSNS(sim.SNSSubscriptionSpec{TopicArn: snsTopic, Endpoint: endpoint}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.WaitDeliveries(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if subs := h.sim.SNSSubscriptions(); len(subs) != 1 || subs[0].Status != "confirmed" {
		t.Fatalf("subscriptions %+v: deskpilot did not confirm its own", subs)
	}

	// Resets: both users log off; the alarms prompt the checks; after the grace one WorkSpace
	// is rebuilt and the other restored.
	h.tagImage("img-2", map[string]string{"FleetName": "fleet-a/fleet-b/fleet-ms", "ScaleImmediately": "True"})
	h.run(time.Minute)
	h.connect("ws-alice0001")
	h.connect("ws-dave0001")
	h.run(3 * time.Minute)
	h.disconnect("ws-alice0001")
	h.disconnect("ws-dave0001")
	if err := h.sim.WaitDeliveries(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for _, d := range h.sim.SNSDeliveries() {
		if d.StatusCode != http.StatusOK {
			t.Fatalf("deskpilot answered an SNS %s with %d (%s)", d.Type, d.StatusCode, d.Error)
		}
	}
	h.run(10 * time.Minute)
	if n := h.rebuilds("ws-alice0001"); n != 1 {
		t.Errorf("alice's WorkSpace rebuilt %d times, want 1", n)
	}
	if info, err := h.sim.WorkspaceStatus("ws-dave0001"); err != nil || len(info.Restores) != 1 {
		t.Errorf("dave's WorkSpace restored %d times (%v), want 1", len(info.Restores), err)
	}

	// Rollout: img-2 reaches both fleets in the window, each drained and restored.
	h.runUntil("the rollout finished", 8*time.Hour, func() bool { return h.latestState() == rollout.Succeeded })
	for _, fleet := range []string{"fleet-a", "fleet-b"} {
		if h.fleetImage(fleet) != "img-2" || !h.wasDrained(fleet) {
			t.Errorf("%s: image %s, drained %v; want img-2 after a drain", fleet, h.fleetImage(fleet), h.wasDrained(fleet))
		}
	}
	if ins, _ := h.sim.Instances("fleet-ms"); slices.ContainsFunc(ins, func(i sim.Instance) bool { return i.State != sim.InstanceTerminating && i.ImageName != "img-2" }) {
		t.Errorf("fleet-ms keeps old-image instances after its deadline: %+v", ins)
	}
	if h.mailCount("Image img-2 rolled out") != 1 {
		t.Errorf("no final rollout mail: %q", h.subjects())
	}

	// The calls.
	calls := tap.calls()
	ops, err := iampolicy.Operations(iampolicy.Features())
	if err != nil {
		t.Fatal(err)
	}
	actions, err := iampolicy.Actions(iampolicy.Features())
	if err != nil {
		t.Fatal(err)
	}
	actionOf := map[string]string{}
	for _, o := range ops {
		actionOf[o.Service+"."+o.Name] = o.Action
	}
	used := map[string]bool{}
	for _, call := range slices.Sorted(maps.Keys(calls)) {
		action, listed := actionOf[call]
		switch {
		case !listed:
			t.Errorf("the daemon called %s (%d times), which internal/iampolicy's table does not list: the policy would not allow it", call, calls[call])
		case action == "":
			t.Logf("%s: %d calls, authorized without IAM", call, calls[call])
		case !slices.Contains(actions, action):
			t.Errorf("the daemon called %s, whose action %s is not in Actions(all features)", call, action)
		default:
			used[action] = true
			t.Logf("%s: %d calls, allowed by %s", call, calls[call], action)
		}
	}
	for _, a := range actions {
		reason, excused := notExercised[a]
		switch {
		case !used[a] && !excused:
			t.Errorf("the policy allows %s, which no scenario made the daemon use: drop it from internal/iampolicy, or list it in notExercised with the reason it is needed", a)
		case used[a] && excused:
			t.Errorf("%s is in notExercised (%q) but the daemon used it: drop it from the list", a, reason)
		}
	}
	for a := range notExercised {
		if !slices.Contains(actions, a) {
			t.Errorf("notExercised lists %s, which the policy does not allow", a)
		}
	}
}
