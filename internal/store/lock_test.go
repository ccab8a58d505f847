//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wantSelf checks that h is this process holding the database file at path, since a time in
// [before, after].
func wantSelf(t *testing.T, h Holder, path string, before, after time.Time) {
	t.Helper()
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(path)
	want := Holder{PID: os.Getpid(), Program: filepath.Base(os.Args[0]), Host: host, Path: abs, Since: h.Since}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("holder (-want +got):\n%s", diff)
	}
	if h.Since.Before(before.Truncate(time.Second)) || h.Since.After(after) || h.Since.Location() != time.UTC {
		t.Errorf("holder since %v; want in UTC between %v and %v", h.Since, before, after)
	}
}

// TestOpen_inUse checks that a second Open of one database in the same process fails at once
// with ErrInUse naming the first, however the path is spelt, and leaves the first working.
func TestOpen_inUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db", "deskpilot.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "db"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	first := openAt(t, path)
	after := time.Now()
	for _, tc := range []struct{ name, path string }{
		{"same path", path},
		{"with dot-dot", filepath.Join(dir, "db", "..", "db", "deskpilot.db")},
		{"through a symlink", filepath.Join(dir, "link", "deskpilot.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("the second Open succeeded; want ErrInUse")
			}
			if !errors.Is(err, ErrInUse) {
				t.Fatalf("Open: %v; want ErrInUse", err)
			}
			var inUse *InUseError
			if !errors.As(err, &inUse) {
				t.Fatalf("Open: %T %v; want an *InUseError", err, err)
			}
			if inUse.Path != tc.path {
				t.Errorf("InUseError.Path = %q; want %q", inUse.Path, tc.path)
			}
			wantSelf(t, inUse.Holder, path, before, after)
			want := fmt.Sprintf("store %s is in use by %s pid %d on host %s (since %s); stop it first, or give this one another store.path",
				tc.path, filepath.Base(os.Args[0]), os.Getpid(), inUse.Holder.Host, inUse.Holder.Since.Format(time.RFC3339))
			if err.Error() != want {
				t.Errorf("Open error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
	if err := first.SetMeta(context.Background(), "k", "v"); err != nil {
		t.Errorf("the first store after the refused Opens: SetMeta: %v", err)
	}
}

// TestOpen_concurrent checks that of several Opens of one new database at once, exactly one
// succeeds.
func TestOpen_concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deskpilot.db")
	const n = 6
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		opened []*Store
		errs   []error
	)
	for range n {
		wg.Go(func() {
			s, err := Open(context.Background(), path, Options{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			opened = append(opened, s)
		})
	}
	wg.Wait()
	for _, s := range opened {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
	if len(opened) != 1 {
		t.Errorf("%d of %d concurrent Opens succeeded; want 1", len(opened), n)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrInUse) {
			t.Errorf("a refused Open: %v; want ErrInUse", err)
		}
	}
}

// TestStore_Close_releases checks that Close releases the lock (the next Open succeeds at
// once), leaves an empty lock file behind, and that closing twice is harmless.
func TestStore_Close_releases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deskpilot.db")
	for i := range 3 {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("Open #%d after Close: %v", i+1, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close #%d: %v", i+1, err)
		}
		if b, err := os.ReadFile(lockPath(path)); err != nil || len(b) != 0 {
			t.Errorf("after Close, the lock file holds %q, %v; want it empty", b, err)
		}
	}
}

// TestOpen_staleLockFile checks that what a lock file holds does not matter when nobody holds
// its lock (a daemon that crashed leaves it behind): Open succeeds and writes itself in.
func TestOpen_staleLockFile(t *testing.T) {
	dead := `{"pid":4242,"program":"deskpilot","host":"euc-1","since":"2026-12-02T10:00:00Z","path":"/var/lib/deskpilot/deskpilot.db"}` + "\n"
	for _, tc := range []struct{ name, content string }{
		{"a dead holder", dead},
		{"a dead holder, longer than ours", strings.Repeat(" ", 4096) + dead},
		{"empty", ""},
		{"garbage", "\x00\xffnot json\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deskpilot.db")
			if err := os.WriteFile(lockPath(path), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			s := openAt(t, path)
			after := time.Now()
			f, err := os.Open(lockPath(path))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			wantSelf(t, readHolder(f), path, before, after)
			if err := s.SetMeta(context.Background(), "k", "v"); err != nil {
				t.Errorf("SetMeta: %v", err)
			}
		})
	}
}

// TestOpen_locksBeforeTouchingTheDatabase checks that an Open that cannot have the lock
// creates no database file: not when the store is in use, not when the lock file cannot be
// made.
func TestOpen_locksBeforeTouchingTheDatabase(t *testing.T) {
	t.Run("held by a holder that wrote nothing yet", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "deskpilot.db")
		f, err := os.OpenFile(lockPath(path), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := tryLock(f); err != nil {
			t.Fatal(err)
		}
		_, err = Open(context.Background(), path, Options{})
		want := fmt.Sprintf("store %s is in use by another process (%s does not say which); stop it first, or give this one another store.path", path, lockPath(path))
		if !errors.Is(err, ErrInUse) || err.Error() != want {
			t.Errorf("Open: %v; want ErrInUse:\n%s", err, want)
		}
		wantNoDatabase(t, path)
	})
	t.Run("lock file cannot be opened", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "deskpilot.db")
		if err := os.Mkdir(lockPath(path), 0o755); err != nil { // a directory where the lock file goes
			t.Fatal(err)
		}
		_, err := Open(context.Background(), path, Options{})
		if err == nil || errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "open store "+path+": lock: ") {
			t.Errorf("Open: %v; want the lock file's error", err)
		}
		wantNoDatabase(t, path)
	})
}

func wantNoDatabase(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after the refused Open, %s: %v; want it not to exist", filepath.Base(p), err)
		}
	}
}

// TestOpen_otherProcess checks the lock between processes: while another process has the
// store open, Open fails naming that process; once it exits, cleanly or killed, Open succeeds.
func TestOpen_otherProcess(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*exec.Cmd, io.Closer) error
	}{
		{"clean exit", func(_ *exec.Cmd, stdin io.Closer) error { return stdin.Close() }},
		{"SIGKILL", func(c *exec.Cmd, _ io.Closer) error { return c.Process.Kill() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deskpilot.db")
			child, stdin := startHolder(t, path)
			_, err := Open(context.Background(), path, Options{})
			var inUse *InUseError
			if !errors.As(err, &inUse) || !errors.Is(err, ErrInUse) {
				t.Fatalf("Open while another process holds the store: %v; want an *InUseError", err)
			}
			if inUse.Holder.PID != child.Process.Pid || inUse.Holder.Program != filepath.Base(os.Args[0]) {
				t.Errorf("holder %+v; want pid %d", inUse.Holder, child.Process.Pid)
			}
			if err := tc.end(child, stdin); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			s, err := Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatalf("Open after the holder ended: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// holderEnv names the store TestLockHolderProcess opens when the test binary runs it as a
// child process.
const holderEnv = "DESKPILOT_STORE_LOCK_HOLDER"

// startHolder runs this test binary as a child process that opens the store at path, and
// returns once it has; the child closes the store and exits when stdin is closed.
func startHolder(t *testing.T, path string) (*exec.Cmd, io.Closer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), holderEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "opened\n" {
			t.Fatalf("the holder process said %q; want opened", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the holder process did not open the store within 30s")
	}
	return cmd, stdin
}

// TestLockHolderProcess is the child process of startHolder; run as a test, it does nothing.
func TestLockHolderProcess(t *testing.T) {
	path := os.Getenv(holderEnv)
	if path == "" {
		t.Skip("the child process of TestOpen_otherProcess")
	}
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Println("opened")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until stdin is closed
	s.Close()
	os.Exit(0)
}
