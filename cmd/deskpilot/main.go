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

	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/app"
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
	root.AddCommand(newSimCommand(), newVersionCommand())
	return root
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
