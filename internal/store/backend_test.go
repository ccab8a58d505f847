package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/store/storetest"
)

// forEachBackend runs f as a subtest on each database the store supports: "sqlite" (a new file)
// and "postgres" (a new database, see storetest.PostgresURL; skipped when none is configured).
// open opens a new, empty store, closed when the test ends.
func forEachBackend(t *testing.T, f func(t *testing.T, open func(t *testing.T, opts Options) *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, func(t *testing.T, opts Options) *Store {
			t.Helper()
			s, err := Open(context.Background(), filepath.Join(t.TempDir(), "deskpilot.db"), opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			closeAtEnd(t, s)
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, func(t *testing.T, opts Options) *Store {
			t.Helper()
			s, err := OpenPostgres(context.Background(), storetest.PostgresURL(t), opts)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			closeAtEnd(t, s)
			return s
		})
	})
}

func closeAtEnd(t testing.TB, s *Store) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// manualClock is a clock that moves only when told.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock(t time.Time) *manualClock { return &manualClock{t: t} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testOptions are openTest's options: the clock stopped at t0 + 1h.
func testOptions() Options { return Options{Now: fixedClock(t0.Add(time.Hour))} }
