// Command deskpilot runs the lifecycle chores of AWS virtual desktops: image rollouts to
// AppStream 2.0 fleets in maintenance windows, non-persistent WorkSpaces, and an AWS emulator to
// try it all offline. This file only parses the command line and hands off to internal/app.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the
// module's build information.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "deskpilot:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "deskpilot",
		Short:         "Lifecycle chores for AppStream 2.0 fleets and WorkSpaces, done safely",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newSimCommand(), newVersionCommand())
	return root
}

func newServeCommand() *cobra.Command {
	var (
		configPath, logFormat string
		demo                  bool
		demoOpts              app.DemoOptions
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: image rollouts in maintenance windows (and its HTTP API)",
		Long: `Run deskpilot's daemon with the configuration in --config (see docs/configuration.md).

With --sim it runs against an in-process AWS emulator seeded with an example estate, its store
in a temporary directory and a maintenance window opening in two minutes: a rollout is
scheduled, run and reported while you watch, with no AWS account.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logFormat)
			if err != nil {
				return err
			}
			if demo {
				if cmd.Flags().Changed("config") {
					demoOpts.ConfigPath = configPath
				}
				return app.RunDemo(cmd.Context(), demoOpts, logger)
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			m := &app.Main{Config: cfg, Logger: logger}
			if err := m.Open(cmd.Context()); err != nil {
				return err
			}
			defer m.Close()
			return m.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "deskpilot.yaml", "configuration file")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&demo, "sim", false, "run against an in-process emulator with an example estate (no AWS account needed)")
	f.StringVar(&demoOpts.SimAddr, "sim-addr", "127.0.0.1:0", "with --sim: the emulator's listen address")
	f.Float64Var(&demoOpts.Speed, "sim-speed", 60, "with --sim: how many times faster the emulator's durations run")
	f.DurationVar(&demoOpts.WindowIn, "sim-window-in", 2*time.Minute, "with --sim: how soon the maintenance window opens")
	return cmd
}

func newLogger(format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

func newSimCommand() *cobra.Command {
	var cfg app.SimConfig
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the AWS emulator (AppStream 2.0, Application Auto Scaling, SES, STS) on one port",
		Long: `Run deskpilot's AWS emulator. Point any AWS client at it:

  aws --endpoint-url http://127.0.0.1:4566 appstream describe-fleets
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 your-script

The control API under /_sim/ seeds images and sessions, injects faults and lists calls and
sent mail; see docs/emulator.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
			srv, err := app.StartSim(cfg, logger)
			if err != nil {
				return err
			}
			return srv.Wait(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:4566", "listen address")
	f.Float64Var(&cfg.Speed, "speed", 1, "run every simulated duration this many times faster")
	f.StringVar(&cfg.SeedFile, "seed", "", "YAML scenario to load at start (images, fleets, stacks, targets, tags, sessions)")
	f.StringVar(&cfg.Region, "region", "us-east-1", "region in every ARN")
	f.StringVar(&cfg.AccountID, "account", "123456789012", "account id in every ARN")
	return cmd
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print deskpilot's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "deskpilot", buildVersion())
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
