package app

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A part whose passes keep failing backs off alone, more each time; another part keeps its own
// pace, and a poke runs it at once.
func TestComponents_failIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		var failing, healthy []time.Duration
		var healthyRuns atomic.Int64
		bad := newComponent("resets", false, func(context.Context) (time.Time, error) {
			failing = append(failing, time.Since(start))
			return time.Now(), errors.New("AccessDeniedException: not allowed")
		})
		good := newComponent("rollouts", true, func(context.Context) (time.Time, error) {
			healthy = append(healthy, time.Since(start))
			healthyRuns.Add(1)
			return time.Now().Add(time.Second), nil
		})
		done := make(chan struct{})
		go func() {
			runAll(ctx, []*component{bad, good}, time.Now, slog.New(slog.DiscardHandler))
			close(done)
		}()
		time.Sleep(20*time.Second + time.Millisecond)
		synctest.Wait()
		before := healthyRuns.Load()
		good.poke()
		synctest.Wait()
		if healthyRuns.Load() != before+1 {
			t.Errorf("a poke did not run the part at once")
		}
		cancel()
		<-done

		// The failing part: passes at 0, 1, 3, 7, 15 s (1 s doubling).
		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second}
		if len(failing) != len(want) {
			t.Fatalf("failing part ran at %v, want %v", failing, want)
		}
		for i := range want {
			if failing[i] != want[i] {
				t.Errorf("failing part's pass %d at %s, want %s", i, failing[i], want[i])
			}
		}
		// The healthy part: every second, whatever the other does.
		if len(healthy) < 21 {
			t.Fatalf("healthy part ran %d times in 20 s, want 21", len(healthy))
		}
		for i := 0; i <= 20; i++ {
			if healthy[i] != time.Duration(i)*time.Second {
				t.Errorf("healthy part's pass %d at %s, want %ds", i, healthy[i], i)
			}
		}
	})
}

// A paced part (it backs off its own failing pieces) adds no backoff of its own after a failed
// pass: it runs again when it says.
func TestComponents_pacedPartRunsWhenItSays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var runs int
		c := newComponent("rollouts", true, func(context.Context) (time.Time, error) {
			runs++
			return time.Now().Add(100 * time.Millisecond), errors.New("one fleet failed")
		})
		go c.run(ctx, time.Now, slog.New(slog.DiscardHandler))
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		cancel()
		if runs != 11 {
			t.Errorf("ran %d times in 1 s, want 11 (every 100 ms)", runs)
		}
	})
}
