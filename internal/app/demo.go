package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/window"
	"github.com/deskpilot/deskpilot/sim"
)

// DemoOptions configure `deskpilot serve --sim`.
type DemoOptions struct {
	// ConfigPath is an optional config file; its AWS endpoint, store path and rollout window
	// are replaced by the demo's.
	ConfigPath string
	// SimAddr is where the emulator listens (AWS clients can use it too).
	SimAddr string
	// Speed runs the emulator's durations faster (60: a ten-minute provisioning takes ten
	// seconds).
	Speed float64
	// WindowIn is how long after start the demo's maintenance window opens.
	WindowIn time.Duration
	// Out receives the banner and the story (nil: standard output); the daemon's own logs go
	// to the logger.
	Out io.Writer
	// ExitWhenDone ends the demo once the story is complete (RunDemo returns nil), or after
	// Limit with an error naming what did not happen.
	ExitWhenDone bool
	Limit        time.Duration
}

// DefaultDemoLimit bounds `demo --exit-when-done`.
const DefaultDemoLimit = 5 * time.Minute

// DemoEstate is the example estate `serve --sim` starts with: two fleets with scalable targets
// and users streaming, one without a target, and a new image an admin has just tagged for two
// of them, asking for a drain.
var DemoEstate = sim.Seed{
	Images: []sim.ImageSpec{
		{Name: "desktop-2026-11", DisplayName: "Desktop November"},
		{Name: "desktop-2026-12", DisplayName: "Desktop December",
			Tags: map[string]string{"FleetName": "finance/engineering", "Canary": "engineering", "ScaleImmediately": "True"}},
	},
	Fleets: []sim.SeedFleet{
		{Name: "finance", ImageName: "desktop-2026-11", DesiredInstances: 4, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 4, MaxCapacity: 10}},
		{Name: "engineering", ImageName: "desktop-2026-11", DesiredInstances: 3, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 6}},
		{Name: "kiosk", ImageName: "desktop-2026-11", DesiredInstances: 1},
	},
	Stacks: []sim.SeedStack{{Name: "finance-desktop", Fleets: []string{"finance"}}, {Name: "engineering-desktop", Fleets: []string{"engineering"}}},
	Sessions: []sim.SessionSpec{
		{FleetName: "finance", StackName: "finance-desktop", UserId: "alice"},
		{FleetName: "engineering", StackName: "engineering-desktop", UserId: "bob"},
	},
	Workspaces: []sim.WorkspaceSpec{
		{WorkspaceId: "ws-kiosk0001", DirectoryId: "d-1234567890", UserName: "kiosk-01", BundleId: "wsb-1234567890",
			Tags: map[string]string{"deskpilot:reset": "rebuild"}},
		{WorkspaceId: "ws-kiosk0002", DirectoryId: "d-1234567890", UserName: "kiosk-02", BundleId: "wsb-1234567890",
			Tags: map[string]string{"deskpilot:reset": "rebuild"}},
		{WorkspaceId: "ws-dana00001", DirectoryId: "d-1234567890", UserName: "dana", BundleId: "wsb-1234567890"},
	},
	VerifiedEmailIdentities: []string{"deskpilot@example.com"},
}

// RunDemo runs the daemon against an in-process emulator seeded with DemoEstate, with its
// store in a temporary directory and a maintenance window that opens shortly, so that a
// newcomer sees a rollout scheduled, run and reported within minutes and without an AWS
// account.
func RunDemo(ctx context.Context, opts DemoOptions, logger *slog.Logger) error {
	if opts.Speed < 1 {
		opts.Speed = 60
	}
	if opts.WindowIn <= 0 {
		opts.WindowIn = time.Minute
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultDemoLimit
	}
	srv, err := StartSim(SimConfig{Addr: opts.SimAddr, Speed: opts.Speed, Region: "us-east-1", AccountID: "123456789012"}, logger.With("component", "sim"))
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Sim.ApplySeed(DemoEstate); err != nil {
		return fmt.Errorf("seed the demo estate: %w", err)
	}
	dir, err := os.MkdirTemp("", "deskpilot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cfg := config.Default()
	if opts.ConfigPath != "" {
		if cfg, err = config.Load(opts.ConfigPath); err != nil {
			return err
		}
	} else {
		// Load reads the token from the environment; without a file, so does the demo.
		cfg.Server.Token = os.Getenv(config.TokenEnv)
	}
	start := time.Now().UTC().Add(opts.WindowIn).Truncate(time.Minute).Add(time.Minute)
	w, err := window.Parse(demoWindow(start, time.Hour))
	if err != nil {
		return err
	}
	cfg.AWS.Endpoint, cfg.AWS.Region = srv.URL, srv.Sim.Region()
	cfg.Store.Path = filepath.Join(dir, "deskpilot.db")
	cfg.Rollouts.Window = config.Window{Window: w}
	cfg.Rollouts.FleetWindows = nil
	cfg.Rollouts.ScanInterval = config.Duration{Duration: 10 * time.Second}
	cfg.Rollouts.DrainPollInterval = config.Duration{Duration: 2 * time.Second}
	cfg.Rollouts.PollInterval = config.Duration{Duration: 2 * time.Second}
	// The canary (engineering) must stay healthy 20 s before finance follows.
	cfg.Rollouts.Waves.CanaryBake = config.Duration{Duration: 20 * time.Second}
	if cfg.Server.Addr == config.DefaultServerAddr && !free(cfg.Server.Addr) {
		cfg.Server.Addr = "127.0.0.1:0" // 8080 is taken: any free port
	}
	// Non-persistent WorkSpaces: the two kiosks are tagged deskpilot:reset=rebuild.
	cfg.WorkSpaces.Reset.Enabled = true
	cfg.WorkSpaces.Reset.Grace = config.Duration{Duration: time.Minute}
	cfg.WorkSpaces.Reset.PollInterval = config.Duration{Duration: 10 * time.Second}
	cfg.WorkSpaces.Reset.DigestInterval = config.Duration{Duration: 3 * time.Minute}
	if len(cfg.Notify.Email.To) == 0 {
		cfg.Notify.Email.From, cfg.Notify.Email.To, cfg.Notify.Email.Via = "deskpilot@example.com", []string{"euc-admins@example.com"}, config.ViaSES
	}
	if cfg.Server.Token == "" {
		// The demo protects nothing, but its API works as the real one: with a token, here one
		// made up for this run and shown in the banner (the dashboard embeds it).
		cfg.Server.Token = "demo-" + rand.Text()[:16]
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: logger, DemoToken: cfg.Server.Token, AWSOptions: []func(*awsconfig.LoadOptions) error{
		// The emulator checks no signature; any keys do, so the demo needs no AWS account.
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("DEMO", "DEMO", "")),
	}}
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close()
	base := "http://" + m.Addr()
	fmt.Fprintf(opts.Out, `deskpilot demo: an emulated AWS estate, no account needed.

  dashboard   %s/
  API         %s/api/v1/rollouts
  emulator    %s   (aws --endpoint-url %s appstream describe-fleets)
  mail        %s/_sim/ses/messages
  API token   %s   (export DESKPILOT_TOKEN=%s, then deskpilot rollout list --server %s)

Image desktop-2026-12 is tagged FleetName=finance/engineering, Canary=engineering,
ScaleImmediately=True. The maintenance window opens at %s (in %s).

`, base, base, srv.URL, srv.URL, srv.URL, cfg.Server.Token, cfg.Server.Token, base, start.Format("15:04 MST"), time.Until(start).Round(time.Second))
	st := newStory(opts.Out, m, srv.Sim, []string{"engineering", "finance"}, "desktop-2026-12", "ws-kiosk0001")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go st.watch(ctx)
	go kioskUser(ctx, srv.Sim, opts.Out)
	if !opts.ExitWhenDone {
		return m.Run(ctx)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()
	limit := time.NewTimer(opts.Limit)
	defer limit.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !st.done() {
		select {
		case err := <-runErr:
			return fmt.Errorf("the daemon stopped before the story ended: %v", err)
		case <-limit.C:
			text, _ := st.summary()
			fmt.Fprint(opts.Out, text)
			cancel()
			<-runErr
			return fmt.Errorf("the demo did not finish within %s", opts.Limit)
		case <-tick.C:
			st.poll(ctx)
		}
	}
	text, _ := st.summary()
	fmt.Fprint(opts.Out, text)
	cancel()
	return <-runErr
}

// free reports whether addr can be listened on now.
func free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// kioskUser plays a user of the kiosk WorkSpace: connects, works for half a minute, logs off.
// deskpilot rebuilds the kiosk once the grace period (one minute in the demo) has passed.
func kioskUser(ctx context.Context, s *sim.Sim, out io.Writer) {
	steps := []struct {
		after time.Duration
		act   func(string) error
		what  string
	}{
		{20 * time.Second, s.ConnectWorkspace, "kiosk-01 connects to ws-kiosk0001"},
		{30 * time.Second, s.DisconnectWorkspace, "kiosk-01 logs off ws-kiosk0001; deskpilot rebuilds it after the 1 min grace"},
	}
	for _, st := range steps {
		t := time.NewTimer(st.after)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := st.act("ws-kiosk0001"); err != nil {
			fmt.Fprintf(out, "%s  %-10s %v\n", time.Now().Format("15:04:05"), "user", err)
			return
		}
		fmt.Fprintf(out, "%s  %-10s %s\n", time.Now().Format("15:04:05"), "user", st.what)
	}
}

// demoWindow writes a window of length d starting at start, in UTC, in the AWS form.
func demoWindow(start time.Time, d time.Duration) string {
	end := start.Add(d)
	day := func(t time.Time) string { return strings.ToLower(t.Weekday().String()[:3]) }
	return fmt.Sprintf("%s:%s-%s:%s", day(start), start.Format("15:04"), day(end), end.Format("15:04"))
}
