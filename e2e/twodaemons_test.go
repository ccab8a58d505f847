package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/sim"
)

// countedEndpoint is one daemon's way into the shared emulator: it counts the requests that came
// through it, so a test knows which daemon acted.
type countedEndpoint struct {
	srv   *httptest.Server
	calls atomic.Int64
	hit   chan struct{} // a token after each request, dropped when one is already waiting
}

func newCountedEndpoint(t *testing.T, s *sim.Sim) *countedEndpoint {
	t.Helper()
	e := &countedEndpoint{hit: make(chan struct{}, 1)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		s.ServeHTTP(rw, r)
		select {
		case e.hit <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// waitCalls waits until more than n requests came through e: the daemon behind it is up and
// acting (its first AWS call follows the store's Open).
func (e *countedEndpoint) waitCalls(t *testing.T, n int64, d *daemon, what string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for e.calls.Load() <= n {
		select {
		case <-e.hit:
		case err := <-d.done:
			d.done <- err // leave it for whoever stops d
			t.Fatalf("%s: the daemon exited (%v) before making an AWS call; its output:\n%s", what, err, d.logs)
		case <-deadline:
			t.Fatalf("%s: no AWS call within 30s; daemon output:\n%s", what, d.logs)
		}
	}
}

// twoDaemonsConfig writes a daemon configuration on store db talking to the emulator at url.
func twoDaemonsConfig(t *testing.T, name, url, db string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(db), name+".yaml")
	cfg := fmt.Sprintf(`aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: ""}
rollouts: {window: %q, scan_interval: 1s}
notify:
  email: {from: deskpilot@example.com, to: [euc-admins@example.com], via: ses}
`, url, db, openNow())
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTwoDaemons_SecondRefusesToStart starts `deskpilot serve` on a store and then a second on
// the same store: the second must exit at once, non-zero, with one line naming the first
// (its pid), and without an AWS call; the first keeps running. Then the first is SIGKILLed
// and a new daemon on the store starts at once: the lock left behind does not block.
func TestTwoDaemons_SecondRefusesToStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deskpilot binary")
	}
	bin := deskpilotBinary(t)
	s := sim.New(sim.Options{Speed: 600, RandSeed: 1})
	if err := s.ApplySeed(estate); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "deskpilot.db")
	firstEnd, secondEnd := newCountedEndpoint(t, s), newCountedEndpoint(t, s)
	firstCfg := twoDaemonsConfig(t, "first", firstEnd.srv.URL, db)

	first := startDaemon(t, bin, firstCfg)
	firstStopped := false
	t.Cleanup(func() {
		if !firstStopped {
			first.stop()
		}
	})
	firstEnd.waitCalls(t, 0, first, "first daemon")

	second := startDaemon(t, bin, twoDaemonsConfig(t, "second", secondEnd.srv.URL, db))
	var exitErr error
	select {
	case exitErr = <-second.done:
	case <-time.After(20 * time.Second):
		second.stop()
		t.Fatalf("the second daemon on the same store is still running 20s after it started; its output:\n%s", second.logs)
	}
	out := strings.TrimSpace(second.logs.String())
	var ee *exec.ExitError
	if !errors.As(exitErr, &ee) || ee.ExitCode() <= 0 {
		t.Errorf("the second daemon ended with %v; want a non-zero exit status", exitErr)
	}
	if strings.Contains(out, "\n") {
		t.Errorf("the second daemon printed %d lines; want one:\n%s", strings.Count(out, "\n")+1, out)
	}
	for _, want := range []string{
		"deskpilot: store " + db + " is in use by deskpilot pid " + fmt.Sprint(first.cmd.Process.Pid) + " on host ",
		"; stop it first, or give this one another store.path",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the second daemon's output does not contain %q:\n%s", want, out)
		}
	}
	if n := secondEnd.calls.Load(); n != 0 {
		t.Errorf("the second daemon made %d AWS calls; want none", n)
	}

	// The first is still running, and still acting.
	select {
	case err := <-first.done:
		first.done <- err
		t.Fatalf("the first daemon exited (%v) when the second started; its output:\n%s", err, first.logs)
	default:
	}
	firstEnd.waitCalls(t, firstEnd.calls.Load(), first, "first daemon, after the second gave up")

	// SIGKILL leaves the lock file behind, with the dead daemon's pid in it; the kernel has
	// dropped the lock, so a new daemon starts at once.
	firstStopped = true
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if b, err := os.ReadFile(db + ".lock"); err != nil || !strings.Contains(string(b), fmt.Sprint(first.cmd.Process.Pid)) {
		t.Errorf("after SIGKILL the lock file holds %q, %v; want the killed daemon's pid", b, err)
	}
	thirdEnd := newCountedEndpoint(t, s)
	third := startDaemon(t, bin, twoDaemonsConfig(t, "third", thirdEnd.srv.URL, db))
	defer third.stop()
	thirdEnd.waitCalls(t, 0, third, "daemon started after the first was killed")
}
