package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// waveEstate is five running fleets on img-1 with scalable targets (one canary, four more),
// a good new image and a defective one.
var waveEstate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-good"}, {Name: "img-bad", Defect: sim.ImageDefectInstancesFail}},
	Fleets: []sim.SeedFleet{
		{Name: "cny-a", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 4}},
		{Name: "web-1", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 5}},
		{Name: "web-2", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 3}},
		{Name: "web-3", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 6}},
		{Name: "web-4", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}},
	},
	VerifiedEmailIdentities: []string{"deskpilot@example.com"},
}

var waveOriginal = map[string]rollout.Capacity{
	"cny-a": {Min: 2, Max: 4}, "web-1": {Min: 2, Max: 5}, "web-2": {Min: 1, Max: 3}, "web-3": {Min: 2, Max: 6}, "web-4": {Min: 1, Max: 2},
}

// sundayInWindow is Sunday 02:10 Berlin (01:10 UTC): the test window is open for 2 h 50 min.
var sundayInWindow = time.Date(2026, 11, 29, 1, 10, 0, 0, time.UTC)

const waveToken = "test-token-123"

// waveConfig is the config of the wave tests, with extra rollouts keys.
func waveConfig(rollouts string) string {
	return `rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  scan_interval: 1m
  poll_interval: 10s
  drain_poll_interval: 5s
  start_margin: 15m
  waves: {canary_bake: 10m, bake: 5m}
  health: {timeout: 20m}
` + rollouts + `server: {addr: "127.0.0.1:0", token: ` + waveToken + `}
`
}

func newWaveHarness(t *testing.T, start time.Time, rollouts string) *harness {
	t.Helper()
	return newHarnessWith(t, start, waveConfig(rollouts), waveEstate)
}

// updates returns the successful UpdateFleet calls in order, as "fleet→image".
func (h *harness) updates() []string {
	var out []string
	for _, c := range h.sim.Calls().Calls {
		if c.Operation == "UpdateFleet" && c.ErrorCode == "" && c.ImageName != "" {
			out = append(out, c.Resource+"→"+c.ImageName)
		}
	}
	return out
}

// updateTimes returns when each fleet was first updated to image.
func (h *harness) updateTimes(image string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range h.sim.Calls().Calls {
		if c.Operation == "UpdateFleet" && c.ErrorCode == "" && c.ImageName == image {
			if _, ok := out[c.Resource]; !ok {
				out[c.Resource] = c.Time
			}
		}
	}
	return out
}

// api calls the daemon's API with the test token and decodes the JSON answer.
func (h *harness) api(method, path string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://"+h.app.Addr()+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+waveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		h.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

func (h *harness) latest() rollout.Rollout {
	h.t.Helper()
	rs := h.rollouts()
	if len(rs) == 0 {
		return rollout.Rollout{State: rollout.Pending} // none yet: as good as pending
	}
	return rs[0]
}

// checkCapacities asserts every fleet is back at exactly its original Min/Max.
func (h *harness) checkCapacities() {
	h.t.Helper()
	for fleet, want := range waveOriginal {
		if got := h.target(fleet); got != want {
			h.t.Errorf("%s Min/Max = %v, want exactly the original %v", fleet, got, want)
		}
	}
	if saved, _ := h.app.Store.SavedCapacities(h.ctx); len(saved) != 0 {
		h.t.Errorf("saved capacity left in the store: %+v", saved)
	}
}

var allWaveFleets = "cny-a/web-1/web-2/web-3/web-4"

func TestWaves_HealthyCanaryThenWavesAfterTheBake(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a", "Waves": "2", "ScaleImmediately": "True"})
	h.run(2 * time.Minute)
	r := h.latest()
	if r.Waves != 3 || !r.Progressive() {
		t.Fatalf("rollout has %d waves (progressive %v), want 3: canary, web-1/web-2, web-3/web-4", r.Waves, r.Progressive())
	}
	if got := h.tags(imageARN("img-good"))["Status"]; !strings.HasPrefix(got, "Canary/") {
		t.Errorf("image Status = %q while the canary runs, want Canary/<time>", got)
	}
	h.runUntil("wave 2 started", 2*time.Hour, func() bool { return h.latest().Wave >= 2 })
	if got := h.tags(imageARN("img-good"))["Status"]; got != "Wave/2/3" {
		t.Errorf("image Status = %q in wave 2, want Wave/2/3", got)
	}
	h.runUntil("the rollout finished", 3*time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.Succeeded {
		t.Fatalf("rollout ended %s (%s), want succeeded", r.State, r.Reason)
	}
	at := h.updateTimes("img-good")
	if len(at) != 5 {
		t.Fatalf("fleets updated to img-good: %v, want all five", at)
	}
	// Canary first; each later wave after the one before was updated and baked.
	for _, w := range []struct {
		before, after string
		bake          time.Duration
	}{{"cny-a", "web-1", 10 * time.Minute}, {"cny-a", "web-2", 10 * time.Minute}, {"web-2", "web-3", 5 * time.Minute}, {"web-1", "web-4", 5 * time.Minute}} {
		if gap := at[w.after].Sub(at[w.before]); gap < w.bake {
			t.Errorf("%s was updated %s after %s, want at least the %s bake after it", w.after, gap, w.before, w.bake)
		}
	}
	for fleet := range waveOriginal {
		if got := h.fleetImage(fleet); got != "img-good" {
			t.Errorf("%s runs %s, want img-good", fleet, got)
		}
	}
	h.checkCapacities()
	if tags := h.tags(imageARN("img-good")); len(tags) != 0 {
		t.Errorf("image keeps tags %v after success", tags)
	}
	if n := h.mailCount("Image img-good rolled out"); n != 1 {
		t.Errorf("final mail sent %d times; mail: %q", n, h.subjects())
	}
}

func TestWaves_DefectiveCanaryIsRolledBack(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-bad", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a", "ScaleImmediately": "True"})
	h.runUntil("the rollout ended", 3*time.Hour, func() bool { rs := h.rollouts(); return len(rs) > 0 && !rs[0].State.Active() })
	r := h.latest()
	if r.State != rollout.RolledBack {
		t.Fatalf("rollout ended %s (%s), want rolled-back", r.State, r.Reason)
	}
	if diff := slices.Compare(h.updates(), []string{"cny-a→img-bad", "cny-a→img-1"}); diff != 0 {
		t.Errorf("fleet updates %q, want only the canary, to img-bad and back to img-1", h.updates())
	}
	for fleet := range waveOriginal {
		if got := h.fleetImage(fleet); got != "img-1" {
			t.Errorf("%s runs %s, want img-1", fleet, got)
		}
	}
	if !h.wasDrained("cny-a") {
		t.Error("the canary was not drained")
	}
	h.checkCapacities()
	if got := h.tags(imageARN("img-bad"))["Status"]; !strings.HasPrefix(got, "RolledBack/") {
		t.Errorf("image Status = %q, want RolledBack/<time>", got)
	}
	var found bool
	for _, m := range h.sim.Messages() {
		if strings.HasPrefix(m.Subject, "Image img-bad rolled back") {
			found = true
			for _, want := range []string{"img-bad", "cny-a", "INTERNAL_SERVICE_ERROR", "desired instances are running"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("rollback mail lacks %q:\n%s", want, m.Text)
				}
			}
		}
	}
	if !found {
		t.Errorf("no rollback mail; mail: %q", h.subjects())
	}
	// The tag stays, so the request is not planned again until the admin re-tags.
	h.run(30 * time.Minute)
	if n := len(h.rollouts()); n != 1 {
		t.Errorf("%d rollouts after the rollback, want 1 (not planned again)", n)
	}
}

func TestWaves_ApprovalWaitsThenTheAPIApproves(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a", "Approval": "Manual"})
	h.runUntil("awaiting approval", 2*time.Hour, func() bool {
		return h.latest().Gate == rollout.GateApproval
	})
	if got := h.tags(imageARN("img-good"))["Status"]; !strings.HasPrefix(got, "AwaitingApproval/") {
		t.Errorf("image Status = %q, want AwaitingApproval/<time>", got)
	}
	if n := h.mailCount("Approve image img-good"); n != 1 {
		t.Errorf("approval mail sent %d times; mail: %q", n, h.subjects())
	}
	h.run(40 * time.Minute)
	if got := h.updates(); len(got) != 1 {
		t.Fatalf("updates while awaiting approval: %q, want only the canary", got)
	}
	id := h.latest().ID
	code, body := h.api("POST", "/api/v1/rollouts/"+itoa(id)+"/approve")
	if code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, body)
	}
	h.runUntil("the rollout finished", 2*time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.Succeeded || r.ApprovedBy == "" {
		t.Fatalf("rollout ended %s (%s), approved by %q; want succeeded, approved", r.State, r.Reason, r.ApprovedBy)
	}
	if got := len(h.updateTimes("img-good")); got != 5 {
		t.Errorf("%d fleets updated, want 5", got)
	}
	// Approving an ended rollout is a conflict, in JSON.
	if code, body := h.api("POST", "/api/v1/rollouts/"+itoa(id)+"/approve"); code != http.StatusConflict || body["error"] == nil {
		t.Errorf("approve after the end: %d %v, want 409 with an error", code, body)
	}
}

func TestWaves_ApproveTag(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a", "Approval": "Manual"})
	h.runUntil("awaiting approval", 2*time.Hour, func() bool { return h.latest().Gate == rollout.GateApproval })
	h.tagImage("img-good", map[string]string{"Approve": "True"})
	h.runUntil("the rollout finished", 2*time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.Succeeded {
		t.Fatalf("rollout ended %s (%s), want succeeded", r.State, r.Reason)
	}
	if _, ok := h.tags(imageARN("img-good"))["Approve"]; ok {
		t.Error("the Approve tag was not consumed")
	}
}

func TestWaves_RollbackOnRequestMidway(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": allWaveFleets, "Waves": "2", "ScaleImmediately": "True"})
	h.runUntil("wave 2 started", 2*time.Hour, func() bool { return len(h.updateTimes("img-good")) >= 3 })
	code, body := h.api("POST", "/api/v1/rollouts/"+itoa(h.latest().ID)+"/rollback")
	if code != http.StatusOK {
		t.Fatalf("rollback: %d %v", code, body)
	}
	h.runUntil("the rollback finished", 2*time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.RolledBack {
		t.Fatalf("rollout ended %s (%s), want rolled-back", r.State, r.Reason)
	}
	changed := h.updateTimes("img-good")
	if _, ok := changed["web-4"]; ok {
		t.Error("web-4 (wave 3) was updated although the rollout was rolled back in wave 2")
	}
	for fleet := range waveOriginal {
		if got := h.fleetImage(fleet); got != "img-1" {
			t.Errorf("%s runs %s after the rollback, want img-1", fleet, got)
		}
	}
	h.checkCapacities()
	if got := h.tags(imageARN("img-good"))["Status"]; !strings.HasPrefix(got, "RolledBack/") {
		t.Errorf("image Status = %q, want RolledBack/<time>", got)
	}
}

func TestWaves_WindowClosingBetweenWavesWaitsForTheNextOpening(t *testing.T) {
	// 03:30 Berlin: 1 h 30 min of the window left; the canary and its 1 h 20 min bake leave
	// less than start_margin (15 min) for wave 2, which goes the next Sunday.
	start := time.Date(2026, 11, 29, 2, 30, 0, 0, time.UTC)
	h := newWaveHarness(t, start, "  rollback: failed-wave\n")
	h.cfg.Rollouts.Waves.CanaryBake.Duration = 80 * time.Minute
	h.restart()
	h.tagImage("img-good", map[string]string{"FleetName": "cny-a/web-1", "Canary": "cny-a"})
	h.runUntil("wave 2 released", 3*time.Hour, func() bool { return h.latest().Wave == 2 })
	if n := h.mailCount("Image img-good: wave 2 of 2 waits for the window"); n != 1 {
		t.Errorf("wave-waits mail sent %d times; mail: %q", n, h.subjects())
	}
	if _, ok := h.updateTimes("img-good")["web-1"]; ok {
		t.Fatal("web-1 was updated outside the window")
	}
	// Skip the quiet week in one jump (a pass a minute for a week is slow under -race), then
	// pass through the opening.
	h.run(time.Hour)
	h.clock.Advance(time.Date(2026, 12, 6, 0, 30, 0, 0, time.UTC).Sub(h.clock.Now()))
	if _, ok := h.updateTimes("img-good")["web-1"]; ok {
		t.Fatal("web-1 was updated before the next opening")
	}
	h.runUntil("the rollout finished", 4*time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.Succeeded {
		t.Fatalf("rollout ended %s (%s), want succeeded", r.State, r.Reason)
	}
	at := h.updateTimes("img-good")["web-1"]
	if want := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC); at.Before(want) || at.After(want.Add(time.Hour)) {
		t.Errorf("web-1 updated at %s, want in the next opening from %s", at, want)
	}
}

func TestWaves_FailedWaveWithRollbackOffHalts(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "  rollback: \"off\"\n")
	h.tagImage("img-bad", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a"})
	h.runUntil("the rollout halted", 3*time.Hour, func() bool { return h.latest().Gate == rollout.GateHalted })
	if got := h.tags(imageARN("img-bad"))["Status"]; !strings.HasPrefix(got, "Failed/") {
		t.Errorf("image Status = %q, want Failed/<time>", got)
	}
	if n := h.mailCount("Rollout of image img-bad stopped: wave 1 failed its health gate"); n != 1 {
		t.Errorf("halt mail sent %d times; mail: %q", n, h.subjects())
	}
	h.run(time.Hour)
	if got := h.updates(); slices.Compare(got, []string{"cny-a→img-bad"}) != 0 {
		t.Fatalf("updates while halted: %q, want only the canary", got)
	}
	if h.fleetImage("cny-a") != "img-bad" {
		t.Error("the canary was rolled back although rollback is off")
	}
	code, body := h.api("POST", "/api/v1/rollouts/"+itoa(h.latest().ID)+"/rollback")
	if code != http.StatusOK {
		t.Fatalf("rollback: %d %v", code, body)
	}
	h.runUntil("the rollback finished", time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.RolledBack {
		t.Fatalf("rollout ended %s (%s), want rolled-back", r.State, r.Reason)
	}
	h.checkCapacities()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWaves_CheckURLFailingRollsTheCanaryBack(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Query().Get("fleet")+"@"+r.URL.Query().Get("image"))
		mu.Unlock()
		if r.URL.Query().Get("fleet") == "cny-a" {
			http.Error(w, "login page broken", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(check.Close)
	h := newWaveHarness(t, sundayInWindow, "")
	h.cfg.Rollouts.Health.CheckURL = check.URL + "/health"
	h.restart()
	h.tagImage("img-good", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a"})
	h.runUntil("the rollout ended", 3*time.Hour, func() bool { return !h.latest().State.Active() })
	r := h.latest()
	if r.State != rollout.RolledBack || !strings.Contains(r.Checks, "503") {
		t.Fatalf("rollout ended %s with checks %q, want rolled-back naming the 503", r.State, r.Checks)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 || asked[0] != "cny-a@img-good" {
		t.Errorf("check_url asked %q, want cny-a@img-good first", asked)
	}
	if got := h.updates(); slices.Compare(got, []string{"cny-a→img-good", "cny-a→img-1"}) != 0 {
		t.Errorf("fleet updates %q, want only the canary, there and back", got)
	}
}

func TestWaves_RemovingFleetNameStopsAfterTheWaveInProgress(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": allWaveFleets, "Canary": "cny-a", "ScaleImmediately": "True"})
	h.runUntil("the canary drained", time.Hour, func() bool { return h.wasDrained("cny-a") })
	h.untagImage("img-good", "FleetName")
	h.runUntil("the rollout ended", 2*time.Hour, func() bool { return !h.latest().State.Active() })
	if r := h.latest(); r.State != rollout.Cancelled {
		t.Fatalf("rollout ended %s (%s), want cancelled", r.State, r.Reason)
	}
	if got := h.updates(); slices.Compare(got, []string{"cny-a→img-good"}) != 0 {
		t.Errorf("fleet updates %q, want only the canary (finished, not rolled back)", got)
	}
	h.checkCapacities()
}

// TestWaves_RollbackAfterTheEndLeavesAFleetChangedSince rolls back a rollout that succeeded:
// its fleets go back to their previous image, except one a person has put on a third image
// since, which is left alone and reported.
func TestWaves_RollbackAfterTheEndLeavesAFleetChangedSince(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": "web-1/web-2", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", 2*time.Hour, func() bool { return h.latest().State == rollout.Succeeded })
	// Someone moves web-2 on to img-bad by hand.
	if _, err := h.as.UpdateFleet(h.ctx, &appstream.UpdateFleetInput{Name: aws.String("web-2"), ImageName: aws.String("img-bad")}); err != nil {
		t.Fatal(err)
	}
	id := h.latest().ID
	code, body := h.api("POST", "/api/v1/rollouts/"+itoa(id)+"/rollback")
	if code != http.StatusOK {
		t.Fatalf("rollback of the ended rollout: %d %v", code, body)
	}
	h.runUntil("the rollback finished", 2*time.Hour, func() bool { return !h.latest().State.Active() })
	r := h.latest()
	if r.State != rollout.RolledBack {
		t.Fatalf("rollout ended %s (%s), want rolled-back", r.State, r.Reason)
	}
	if got := h.fleetImage("web-1"); got != "img-1" {
		t.Errorf("web-1 runs %s after the rollback, want its previous img-1", got)
	}
	if got := h.fleetImage("web-2"); got != "img-bad" {
		t.Errorf("web-2 runs %s, want img-bad, which a person put there after the rollout", got)
	}
	for _, s := range r.Steps {
		if s.Fleet == "web-2" && (s.State != rollout.StepFailed || !strings.Contains(s.Message, "runs another image now")) {
			t.Errorf("web-2's step is %s (%q), want failed saying it runs another image now", s.State, s.Message)
		}
	}
	for fleet, want := range map[string]rollout.Capacity{"web-1": {Min: 2, Max: 5}, "web-2": {Min: 1, Max: 3}} {
		if got := h.target(fleet); got != want {
			t.Errorf("%s Min/Max = %v, want exactly %v", fleet, got, want)
		}
	}
	if n := h.mailCount("Image img-good rolled back"); n != 1 {
		t.Errorf("rollback mail sent %d times; mail: %q", n, h.subjects())
	}
}
