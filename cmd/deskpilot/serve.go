package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/config"
)

func newServeCommand(c *cli) *cobra.Command {
	var (
		configPath, logFormat, logLevel, addr string
		demo, waitForAWS                      bool
		demoOpts                              app.DemoOptions
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: image rollouts in maintenance windows, WorkSpaces resets, the HTTP API",
		Long: `Run deskpilot's daemon with the configuration in --config (see docs/configuration.md).

With --sim it runs against an in-process AWS emulator seeded with an example estate, its store
in a temporary directory and a maintenance window opening in two minutes: a rollout is
scheduled, run and reported while you watch, with no AWS account.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(c.stderr, logFormat, logLevel)
			if err != nil {
				return usageErrorf(cmd, "%v", err)
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
			if cmd.Flags().Changed("addr") {
				cfg.Server.Addr = addr
				if err := cfg.Validate(); err != nil {
					return fmt.Errorf("with --addr %q: %w", addr, err)
				}
			}
			m := &app.Main{Config: cfg, Logger: logger, Version: buildVersion(), WaitForAWS: waitForAWS}
			if err := m.Open(cmd.Context()); err != nil {
				return err
			}
			defer m.Close()
			return m.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "deskpilot.yaml", "configuration file")
	f.StringVar(&addr, "addr", "", `listen on this host:port instead of server.addr ("" turns the HTTP server off)`)
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&waitForAWS, "wait-for-aws", false, "at start, wait (retrying) until AWS accepts the credentials instead of failing")
	f.BoolVar(&demo, "sim", false, "run against an in-process emulator with an example estate (no AWS account needed)")
	f.StringVar(&demoOpts.SimAddr, "sim-addr", "127.0.0.1:0", "with --sim: the emulator's listen address")
	f.Float64Var(&demoOpts.Speed, "sim-speed", 60, "with --sim: how many times faster the emulator's durations run")
	f.DurationVar(&demoOpts.WindowIn, "sim-window-in", 2*time.Minute, "with --sim: how soon the maintenance window opens")
	return cmd
}

// newLogger is the daemon's logger on w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(uniqueMessage{Handler: slog.NewTextHandler(w, opts)}), nil
	case "json":
		return slog.New(uniqueMessage{Handler: slog.NewJSONHandler(w, opts)}), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// uniqueMessage keeps the record's message the only "msg" of a line: an attribute named msg at
// the top level (outside any group) becomes "detail". Without it a line would carry two msg
// keys, which JSON readers resolve differently.
type uniqueMessage struct {
	slog.Handler
	// grouped: attributes now go into a group, where msg clashes with nothing.
	grouped bool
}

// detailKey is what a top-level msg attribute is renamed to.
const detailKey = "detail"

func (h uniqueMessage) Handle(ctx context.Context, r slog.Record) error {
	if h.grouped || !clashes(r) {
		return h.Handler.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(renameMessage(a))
		return true
	})
	return h.Handler.Handle(ctx, nr)
}

func (h uniqueMessage) WithAttrs(as []slog.Attr) slog.Handler {
	if !h.grouped {
		renamed := make([]slog.Attr, len(as))
		for i, a := range as {
			renamed[i] = renameMessage(a)
		}
		as = renamed
	}
	return uniqueMessage{Handler: h.Handler.WithAttrs(as), grouped: h.grouped}
}

func (h uniqueMessage) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return uniqueMessage{Handler: h.Handler.WithGroup(name), grouped: true}
}

// clashes reports whether r has a top-level msg attribute.
func clashes(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = topLevelMessage(a)
		return !found
	})
	return found
}

func topLevelMessage(a slog.Attr) bool {
	if a.Key == slog.MessageKey {
		return true
	}
	if a.Key == "" && a.Value.Kind() == slog.KindGroup { // inlined into the top level
		for _, g := range a.Value.Group() {
			if topLevelMessage(g) {
				return true
			}
		}
	}
	return false
}

func renameMessage(a slog.Attr) slog.Attr {
	switch {
	case a.Key == slog.MessageKey:
		a.Key = detailKey
	case a.Key == "" && a.Value.Kind() == slog.KindGroup:
		g := a.Value.Group()
		out := make([]any, len(g))
		for i, m := range g {
			out[i] = renameMessage(m)
		}
		a = slog.Group("", out...)
	}
	return a
}

func newSimCommand() *cobra.Command {
	var cfg app.SimConfig
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the AWS emulator (AppStream 2.0, Application Auto Scaling, WorkSpaces, SES, SNS, SQS, STS, CloudFormation) on one port",
		Long: `Run deskpilot's AWS emulator. Point any AWS client at it:

  aws --endpoint-url http://127.0.0.1:4566 appstream describe-fleets
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 your-script

The control API under /_sim/ seeds images and sessions, injects faults and lists calls and
sent mail; see docs/emulator.md.`,
		Args: exactArgs(),
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
	f.StringVar(&cfg.Region, "region", "us-east-1", "the default world's region: for unsigned requests and those signed for no region (other regions are served as they are asked for)")
	f.StringVar(&cfg.AccountID, "account", "123456789012", "the default account: the one unknown access keys act in (other accounts come from --seed or POST /_sim/accounts)")
	return cmd
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print deskpilot's version",
		Args:  exactArgs(),
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "deskpilot", buildVersion())
		},
	}
}

// newDemoCommand is `deskpilot demo`: the daemon against an in-process emulator, telling its
// story on standard output (the daemon's own logs go to standard error, warnings only unless
// --log-level says otherwise).
func newDemoCommand(c *cli) *cobra.Command {
	var (
		logFormat, logLevel string
		opts                app.DemoOptions
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch deskpilot at work on an emulated AWS estate, no account needed",
		Long: `Run deskpilot against an in-process AWS emulator seeded with an example estate: an image
tagged for a canary rollout to two fleets, users streaming, kiosks that are rebuilt when their
user logs off. It prints the dashboard, API and emulator addresses, then the story as it
happens, and a summary. With --exit-when-done it exits once the story is complete (0), or
with an error naming what did not happen after --limit. "serve --sim" runs the same without
the story's end.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(c.stderr, logFormat, logLevel)
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			opts.Out = c.stdout
			return app.RunDemo(cmd.Context(), opts, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&logFormat, "log-format", "text", "the daemon's log format (on standard error): text or json")
	f.StringVar(&logLevel, "log-level", "warn", "the daemon's log level: debug, info, warn or error")
	f.BoolVar(&opts.ExitWhenDone, "exit-when-done", false, "exit once the story is complete (non-zero if a step did not happen within --limit)")
	f.DurationVar(&opts.Limit, "limit", app.DefaultDemoLimit, "with --exit-when-done: how long the story may take")
	f.StringVar(&opts.SimAddr, "sim-addr", "127.0.0.1:0", "the emulator's listen address")
	f.Float64Var(&opts.Speed, "sim-speed", 60, "how many times faster the emulator's durations run")
	f.DurationVar(&opts.WindowIn, "window-in", time.Minute, "how soon the maintenance window opens")
	return cmd
}
