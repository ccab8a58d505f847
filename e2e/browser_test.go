package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/dashboard"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// The browser test drives the dashboard in headless Chromium against a real daemon and the
// emulator: it loads every page, approves one rollout and cancels another through their
// buttons, and checks the store saw it.
//
// Screenshot: the overview is always captured into the test's temporary directory (so the
// capture itself is tested); with DESKPILOT_WRITE_SCREENSHOT=1 it is also copied to
// docs/img/dashboard.png, the README's picture. CI does not set it, so CI never changes the
// work tree.

// screenshotEnv asks the browser test to write docs/img/dashboard.png.
const screenshotEnv = "DESKPILOT_WRITE_SCREENSHOT"

// chromiumEnv names a Chromium or Chrome binary to use instead of the ones looked for on PATH.
const chromiumEnv = "DESKPILOT_CHROMIUM"

const browserToken = "browser-token-123"

// browserEstate is five fleets with scalable targets, a kiosk fleet without one, and two
// kiosk WorkSpaces that are rebuilt when their user logs off.
var browserEstate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}, {Name: "img-3"}, {Name: "img-4"}},
	Fleets: []sim.SeedFleet{
		{Name: "cny-a", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 4}},
		{Name: "web-1", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 5}},
		{Name: "web-2", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 3}},
		{Name: "web-3", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 6}},
		{Name: "web-4", ImageName: "img-1", DesiredInstances: 1, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 1, MaxCapacity: 2}},
		{Name: "kiosk", ImageName: "img-1", DesiredInstances: 1},
	},
	Workspaces: []sim.WorkspaceSpec{
		{WorkspaceId: "ws-kiosk0001", DirectoryId: "d-1234567890", UserName: "kiosk-01", BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"}},
		{WorkspaceId: "ws-kiosk0002", DirectoryId: "d-1234567890", UserName: "kiosk-02", BundleId: "wsb-1234567890", Tags: map[string]string{"deskpilot:reset": "rebuild"}},
	},
	VerifiedEmailIdentities: []string{"deskpilot@example.com"},
}

const browserConfig = `rollouts:
  window: "sun:02:00-sun:05:00 Europe/Berlin"
  fleet_windows: {kiosk: "sun:06:00-sun:08:00 Europe/Berlin"}
  scan_interval: 1m
  poll_interval: 10s
  drain_poll_interval: 5s
  start_margin: 15m
  waves: {canary_bake: 10m, bake: 5m}
  health: {timeout: 20m}
workspaces:
  reset: {enabled: true, grace: 15m, poll_interval: 60s}
server: {addr: "127.0.0.1:0", token: ` + browserToken + `}
`

// chromium returns the browser binary to drive, or "" when there is none.
func chromium() string {
	if p := os.Getenv(chromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium tab and the test it reports to.
type browser struct {
	t   *testing.T
	ctx context.Context
	url string
	// dialogs receives the message of every confirm() the page opens; each is accepted.
	dialogs chan string
}

// newBrowser starts the browser at path with a tab on the dashboard at base.
func newBrowser(t *testing.T, path, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first call starts the browser; it lives as long as ctx, not a call's timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	b := &browser{t: t, ctx: ctx, url: base, dialogs: make(chan string, 10)}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.dialogs <- ev.Message
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	return b
}

// do runs actions, failing the test after 30 s.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open loads a page of the dashboard and waits for its script to have run.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.url+path), chromedp.WaitVisible(chromedp.ID("token-form")))
}

// text is what a person reads in the element sel, spaces collapsed.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).innerText`))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// waitText waits until the element sel shows want, without reloading the page: the live
// refresh brings it.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	expr := `(function(){ var e = document.querySelector(` + jsString(sel) + `); return !!e && e.innerText.replace(/\s+/g, " ").includes(` + jsString(want) + `); })()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.t.Fatalf("%s never showed %q (%v); it shows: %s", sel, want, err, b.text(sel))
	}
}

// present reports whether an element matches sel now.
func (b *browser) present(sel string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
	if err != nil {
		b.t.Fatal(err)
	}
	return ok
}

// useToken types the API token into the page's field, as a person does once per tab.
func (b *browser) useToken(token string) {
	b.t.Helper()
	// The field is empty: the page empties it once the token is kept.
	b.do("enter the token", chromedp.SendKeys(chromedp.ID("token-input"), token),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
	b.waitText("#token-state", "Token set for this tab.")
}

// press clicks a rollout's button and returns the confirm() question it asked (accepted).
func (b *browser) press(kind string) string {
	b.t.Helper()
	b.do("press "+kind, chromedp.Click(chromedp.ID("action-"+kind)))
	select {
	case msg := <-b.dialogs:
		return msg
	case <-time.After(10 * time.Second):
		b.t.Fatalf("pressing %s asked nothing: want a confirmation", kind)
		return ""
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (h *harness) rollout(id int64) rollout.Rollout {
	h.t.Helper()
	r, ok, err := h.app.Store.Rollout(h.ctx, id)
	if err != nil || !ok {
		h.t.Fatalf("rollout %d: %v (found %v)", id, err, ok)
	}
	return r
}

func (h *harness) rolloutOf(image string) rollout.Rollout {
	h.t.Helper()
	for _, r := range h.rollouts() {
		if r.ImageName == image {
			return r
		}
	}
	h.t.Fatalf("no rollout of %s; rollouts: %+v", image, h.rollouts())
	return rollout.Rollout{}
}

func TestBrowser_Dashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	path := chromium()
	if path == "" && os.Getenv("DESKPILOT_REQUIRE_BROWSER") != "" {
		t.Fatalf("no Chromium found, and DESKPILOT_REQUIRE_BROWSER is set (CI installs chromium); set %s to a Chromium binary", chromiumEnv)
	}
	if path == "" {
		t.Skipf("no Chromium found: install it (apt-get install -y chromium) or set %s to a Chromium or Chrome binary to run the browser test", chromiumEnv)
	}
	h := newHarnessWith(t, sundayInWindow, browserConfig, browserEstate)

	// The daemon's own server: its dashboard and its API. Refresh often and never reuse
	// fleets: the clock jumps between the browser's looks.
	h.configure = func(m *app.Main) {
		m.Dashboard = dashboard.Options{Refresh: 250 * time.Millisecond, FleetsMaxAge: -1}
	}
	h.restart()
	base := "http://" + h.app.Addr()
	b := newBrowser(t, path, base)

	// 1. Two progressive rollouts with a canary and manual approval, and one whose window
	// opens later; the kiosk users are at work.
	h.connect("ws-kiosk0001")
	h.connect("ws-kiosk0002")
	h.tagImage("img-2", map[string]string{"FleetName": "cny-a/web-1/web-2", "Canary": "cny-a", "Approval": "Manual", "ScaleImmediately": "True"})
	h.tagImage("img-3", map[string]string{"FleetName": "web-3/web-4", "Canary": "web-3", "Approval": "Manual"})
	h.tagImage("img-4", map[string]string{"FleetName": "kiosk"})
	h.run(time.Minute)
	a, bee, c := h.rolloutOf("img-2"), h.rolloutOf("img-3"), h.rolloutOf("img-4")

	// 2. The overview while the first canary is drained.
	h.runUntil("the canary cny-a drained", 30*time.Minute, func() bool {
		saved, err := h.app.Store.SavedCapacities(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(saved) > 0 && saved[0].Fleet == "cny-a" && h.target("cny-a") == (rollout.Capacity{})
	})
	b.open("/")
	overview := b.text("#live")
	for _, want := range []string{"cny-a", "web-1", "web-2", "web-3", "web-4", "kiosk", "img-1",
		"Rollouts in progress", "#" + itoa(a.ID) + " img-2", "Wave 1 (canary)", "Wave 2",
		"#" + itoa(c.ID) + " img-4 pending", "Starts in 3 h"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q; it shows: %s", want, overview)
		}
	}
	drained := b.text("#drained-heading + p + ul")
	if !strings.Contains(drained, "cny-a: target 0–0, saved 2–4, held by rollout #"+itoa(a.ID)) {
		t.Errorf("drained fleets: %q, want cny-a with its saved 2–4", drained)
	}
	if !b.present("tr.drained") {
		t.Error("no drained row in the fleets table")
	}
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	writeScreenshot(t, shot)

	// 3. Both canaries pass and wait for approval; one kiosk user has logged off long ago,
	// the other just now.
	h.disconnect("ws-kiosk0001")
	h.runUntil("both rollouts awaiting approval", 2*time.Hour, func() bool {
		return h.rollout(a.ID).Gate == rollout.GateApproval && h.rollout(bee.ID).Gate == rollout.GateApproval
	})
	h.disconnect("ws-kiosk0002")
	h.run(2 * time.Minute)

	b.open("/resets")
	pending := b.text("#live section:first-of-type")
	if !strings.Contains(pending, "ws-kiosk0002 kiosk-02 rebuild grace") || !strings.Contains(pending, "Due in 1") {
		t.Errorf("pending resets: %s; want ws-kiosk0002 due in about 13 min", pending)
	}
	records := b.text("#live section:last-of-type")
	for _, want := range []string{"ws-kiosk0001 kiosk-01 rebuild logoff the user logged off or disconnected", "ws-kiosk0001 kiosk-01 rebuild reset rebuild after the user logged off",
		"ws-kiosk0002 kiosk-02 rebuild logoff"} {
		if !strings.Contains(records, want) {
			t.Errorf("reset decisions lack %q: %s", want, records)
		}
	}

	b.open("/")
	b.waitText("#rollout-"+itoa(a.ID), "awaiting approval")
	b.waitText("#live", "Waiting for a person to approve the next wave.")

	// 4. Rollout A's page: its waves and gates, its timeline, its buttons.
	b.open("/rollouts/" + itoa(a.ID))
	plan := b.text("#waves-heading + div")
	for _, want := range []string{"Wave 1 (canary) cny-a awaiting-approval", "then a person's approval", "Wave 2 web-1, web-2 waiting"} {
		if !strings.Contains(plan, want) {
			t.Errorf("waves of rollout %d lack %q: %s", a.ID, want, plan)
		}
	}
	timeline := b.text("ol.timeline")
	for _, want := range []string{"planned", "started", "UpdateFleet ok", "gate"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q: %s", want, timeline)
		}
	}
	for _, kind := range []string{"approve", "cancel", "rollback"} {
		if !b.present("#action-" + kind) {
			t.Errorf("no %s button on rollout %d awaiting approval", kind, a.ID)
		}
	}

	// A wrong token: the API's refusal is shown and nothing changes.
	b.useToken("not-the-token")
	if q := b.press("approve"); !strings.Contains(q, "Approve rollout #"+itoa(a.ID)+" of image img-2?") {
		t.Errorf("approve asked %q", q)
	}
	b.waitText("#flash-error", "Could not approve rollout #"+itoa(a.ID)+": wrong bearer token")
	if r := h.rollout(a.ID); r.Approved {
		t.Fatal("approved with a wrong token")
	}

	// The right token approves.
	b.do("forget the token", chromedp.Click(chromedp.ID("token-forget")))
	b.useToken(browserToken)
	b.press("approve")
	b.waitText("#flash", "Rollout #"+itoa(a.ID)+": approved.")
	if r := h.rollout(a.ID); !r.Approved || r.ApprovedBy != "api:dashboard" {
		t.Fatalf("after the approve button: approved %v by %q, want approved by api:dashboard", r.Approved, r.ApprovedBy)
	}
	b.waitText("#live", "approved by api:dashboard")
	if b.present("#action-approve") {
		t.Error("the approve button is still there after the approval")
	}

	// Live: the next wave shows up without a reload.
	h.runUntil("wave 2 released", time.Hour, func() bool { return h.rollout(a.ID).Wave >= 2 })
	b.waitText("#live", "wave 2 of 2")

	// 5. Rollout B: cancel, in the same tab, with the token already there.
	b.open("/rollouts/" + itoa(bee.ID))
	b.waitText("#token-state", "Token set for this tab.")
	if q := b.press("cancel"); !strings.Contains(q, "Cancel rollout #"+itoa(bee.ID)+" of image img-3?") {
		t.Errorf("cancel asked %q", q)
	}
	b.waitText("#flash", "Rollout #"+itoa(bee.ID)+": cancel accepted")
	if r := h.rollout(bee.ID); r.State != rollout.Cancelled && r.Gate != rollout.GateCancelling {
		t.Fatalf("after the cancel button: rollout %d is %s (gate %q), want cancelling or cancelled", bee.ID, r.State, r.Gate)
	}
	h.runUntil("rollout B cancelled", time.Hour, func() bool { return h.rollout(bee.ID).State == rollout.Cancelled })
	b.waitText(".summary .state", "cancelled")
	if b.present("#action-cancel") || b.present("#action-approve") {
		t.Error("cancel or approve buttons remain on a cancelled rollout")
	}
	if got := h.fleetImage("web-4"); got != "img-1" {
		t.Errorf("web-4 runs %s after rollout B was cancelled before its wave, want img-1", got)
	}
}

// writeScreenshot keeps the overview's picture in the test's directory and, when asked with
// DESKPILOT_WRITE_SCREENSHOT=1, as the README's docs/img/dashboard.png.
func writeScreenshot(t *testing.T, png []byte) {
	t.Helper()
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(png))
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(screenshotEnv) != "1" {
		return
	}
	out := filepath.Join("..", "docs", "img", "dashboard.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}
