package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/rollout"
)

// The hot reads are prepared once and shared: a query text that varies (the API's LIMIT) stops
// being prepared at maxPrepared and still answers, and more concurrent readers than the pool
// has connections neither deadlock nor see each other's results.
func TestPrepared(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		s := open(t, Options{Now: fixedClock(t0)})
		for i := range 5 {
			r := fullRollout(fmt.Sprint("img", i))
			if i%2 == 0 {
				r.State = rollout.Succeeded
			}
			create(t, s, r)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for limit := 1; limit <= maxPrepared+8; limit++ {
			rs, err := s.Rollouts(ctx, limit)
			if err != nil {
				t.Fatalf("Rollouts(limit %d): %v", limit, err)
			}
			if want := min(limit, 5); len(rs) != want {
				t.Fatalf("Rollouts(limit %d) = %d rollouts, want %d", limit, len(rs), want)
			}
		}
		s.stmtMu.Lock()
		n := len(s.stmts)
		s.stmtMu.Unlock()
		if n > maxPrepared {
			t.Errorf("%d statements prepared, want at most %d", n, maxPrepared)
		}
		readers := 4 * maxReaders
		errs := make(chan error, readers)
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				errs <- func() error {
					for range 20 {
						rs, err := s.ActiveRollouts(ctx)
						if err != nil {
							return err
						}
						if len(rs) != 2 {
							return fmt.Errorf("%d active rollouts, want 2", len(rs))
						}
						if _, err := s.Due(ctx, t0, 10); err != nil {
							return err
						}
					}
					return nil
				}()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
