// Command deskpilot runs the lifecycle chores of AWS virtual desktops: image rollouts to
// AppStream 2.0 fleets in maintenance windows, non-persistent WorkSpaces, and an AWS emulator to
// try it all offline; and it is the operator's command line to the daemon's API. This package
// only parses the command line and hands off to internal/app (the daemon) and internal/api (the
// client).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/api"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the
// module's build information.
var version = ""

// Exit codes (docs/api.md, "Exit codes").
const (
	exitOK          = 0
	exitError       = 1 // anything else: a refused plan, a daemon not ready, an invalid config
	exitUsage       = 2 // bad flags or arguments, or a request the daemon found malformed (400)
	exitUnreachable = 3 // the daemon could not be reached
	exitNotFound    = 4 // no such rollout or image (404)
	exitConflict    = 5 // the request does not apply to the rollout now (409)
	exitAuth        = 6 // the token is missing or wrong (401), or the daemon has none (403)
)

// Environment variables the command line reads.
const (
	// ServerEnv is the daemon's API address when --server is not given.
	ServerEnv = "DESKPILOT_SERVER"
	// TokenEnv is the API token when --token is not given (the daemon reads the same).
	TokenEnv = "DESKPILOT_TOKEN"
	// defaultServer is the daemon's address without --server or ServerEnv: server.addr's
	// default.
	defaultServer = "http://127.0.0.1:8080"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code. An error goes to stderr as one
// "deskpilot: …" line (a config's problems one per line).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: getenv}
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintln(stderr, "deskpilot:", err)
	if ue, ok := errors.AsType[*usageError](err); ok && ue.cmd != "" {
		fmt.Fprintf(stderr, "run '%s --help' for usage\n", ue.cmd)
	} else if code == exitUsage && strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(stderr, "run 'deskpilot --help' for usage")
	}
	return code
}

// exitCode sorts an error into the documented exit codes.
func exitCode(err error) int {
	if _, ok := errors.AsType[*usageError](err); ok {
		return exitUsage
	}
	if _, ok := errors.AsType[*api.UnreachableError](err); ok {
		return exitUnreachable
	}
	if e, ok := api.AsError(err); ok {
		switch e.Status {
		case 400:
			return exitUsage
		case 401, 403:
			return exitAuth
		case 404:
			return exitNotFound
		case 409:
			return exitConflict
		}
		return exitError
	}
	// cobra's own, before any command ran.
	if strings.HasPrefix(err.Error(), "unknown command ") {
		return exitUsage
	}
	return exitError
}

// usageError is a mistake on the command line: exit code 2, with a pointer to the help of
// cmd (the command's path).
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd.CommandPath(), msg: fmt.Sprintf(format, args...)}
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
