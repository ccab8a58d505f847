package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// leaseEnv is a store to test leases on, with a way to let time pass: on SQLite the store's
// clock is a manualClock; on PostgreSQL leases follow the database's clock, so time really
// passes (ttl is short there).
type leaseEnv struct {
	s     *Store
	clock *manualClock
	ttl   time.Duration
}

func openLeaseEnv(t *testing.T, open func(t *testing.T, opts Options) *Store) *leaseEnv {
	t.Helper()
	clk := newManualClock(t0)
	e := &leaseEnv{s: open(t, Options{Now: clk.Now}), clock: clk, ttl: time.Minute}
	if e.s.Dialect() == dialectPostgres {
		e.ttl = 300 * time.Millisecond
	}
	return e
}

// pass lets d pass.
func (e *leaseEnv) pass(d time.Duration) {
	if e.s.Dialect() == dialectPostgres {
		time.Sleep(d)
		return
	}
	e.clock.Add(d)
}

// exact reports whether lease times are the test's clock (SQLite), so can be compared exactly.
func (e *leaseEnv) exact() bool { return e.s.Dialect() == dialectSQLite }

func (e *leaseEnv) acquire(t *testing.T, name, holder string) (Lease, bool) {
	t.Helper()
	l, won, err := e.s.AcquireLease(context.Background(), name, holder, e.ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%q, %q): %v", name, holder, err)
	}
	return l, won
}

func (e *leaseEnv) renew(t *testing.T, name, holder string, epoch int64) (Lease, bool) {
	t.Helper()
	l, ok, err := e.s.RenewLease(context.Background(), name, holder, epoch, e.ttl)
	if err != nil {
		t.Fatalf("RenewLease(%q, %q, %d): %v", name, holder, epoch, err)
	}
	return l, ok
}

func (e *leaseEnv) leader(t *testing.T, name string) (Lease, bool) {
	t.Helper()
	l, ok, err := e.s.Leader(context.Background(), name)
	if err != nil {
		t.Fatalf("Leader(%q): %v", name, err)
	}
	return l, ok
}

func wantLease(t *testing.T, what string, got Lease, holder string, epoch int64) {
	t.Helper()
	if got.Holder != holder || got.Epoch != epoch {
		t.Errorf("%s: lease held by %q in epoch %d, want %q in epoch %d", what, got.Holder, got.Epoch, holder, epoch)
	}
}

func TestLease_acquireRenewRelease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		e := openLeaseEnv(t, open)
		ctx := context.Background()
		if _, ok := e.leader(t, "ctl"); ok {
			t.Fatal("Leader of a lease never taken: ok")
		}
		l, won := e.acquire(t, "ctl", "a")
		if !won {
			t.Fatal("AcquireLease of a free lease: not won")
		}
		wantLease(t, "first acquire", l, "a", 1)
		if l.Name != "ctl" {
			t.Errorf("Name = %q", l.Name)
		}
		if e.exact() && (!l.Expires.Equal(t0.Add(e.ttl)) || !l.Acquired.Equal(t0) || !l.Renewed.Equal(t0)) {
			t.Errorf("lease times = %v, %v, %v; want expiry %v, acquired and renewed %v", l.Expires, l.Acquired, l.Renewed, t0.Add(e.ttl), t0)
		}
		if got, ok := e.leader(t, "ctl"); !ok || got != l {
			t.Errorf("Leader = %+v, %v; want %+v", got, ok, l)
		}

		// Another holder is refused and told who holds it.
		got, won := e.acquire(t, "ctl", "b")
		if won {
			t.Fatal("b acquired a's unexpired lease")
		}
		if got != l {
			t.Errorf("refused acquire returned %+v, want %+v", got, l)
		}

		// Re-acquiring one's own lease keeps the epoch and extends it.
		e.pass(e.ttl / 3)
		again, won := e.acquire(t, "ctl", "a")
		if !won {
			t.Fatal("a could not re-acquire its own lease")
		}
		wantLease(t, "re-acquire", again, "a", 1)
		if !again.Expires.After(l.Expires) || !again.Acquired.Equal(l.Acquired) {
			t.Errorf("re-acquire: expires %v (was %v), acquired %v (was %v)", again.Expires, l.Expires, again.Acquired, l.Acquired)
		}
		if e.exact() && !again.Expires.Equal(t0.Add(e.ttl/3+e.ttl)) {
			t.Errorf("re-acquire: expires %v, want %v", again.Expires, t0.Add(e.ttl/3+e.ttl))
		}

		// Renew: only by the holder, in its epoch.
		e.pass(e.ttl / 3)
		r, ok := e.renew(t, "ctl", "a", 1)
		if !ok {
			t.Fatal("RenewLease by the holder: not renewed")
		}
		wantLease(t, "renew", r, "a", 1)
		if !r.Expires.After(again.Expires) || !r.Renewed.After(again.Renewed) {
			t.Errorf("renew: expires %v (was %v), renewed %v (was %v)", r.Expires, again.Expires, r.Renewed, again.Renewed)
		}
		if _, ok := e.renew(t, "ctl", "a", 2); ok {
			t.Error("RenewLease in the wrong epoch: renewed")
		}
		if cur, ok := e.renew(t, "ctl", "b", 1); ok {
			t.Error("RenewLease by another holder: renewed")
		} else {
			wantLease(t, "refused renew", cur, "a", 1)
		}
		if cur, ok := e.renew(t, "other", "a", 1); ok || cur != (Lease{}) {
			t.Errorf("RenewLease of a lease never taken = %+v, %v", cur, ok)
		}

		// Release: only by the holder, in its epoch; then anyone may take it, in a new epoch.
		must(t, e.s.ReleaseLease(ctx, "ctl", "b", 1))
		must(t, e.s.ReleaseLease(ctx, "ctl", "a", 2))
		if _, ok := e.leader(t, "ctl"); !ok {
			t.Fatal("a release by another holder or epoch ended the lease")
		}
		must(t, e.s.ReleaseLease(ctx, "ctl", "a", 1))
		if got, ok := e.leader(t, "ctl"); ok {
			t.Fatalf("Leader after release = %+v", got)
		}
		if _, ok := e.renew(t, "ctl", "a", 1); ok {
			t.Error("RenewLease of a released lease: renewed")
		}
		b, won := e.acquire(t, "ctl", "b")
		if !won {
			t.Fatal("b could not take a released lease")
		}
		wantLease(t, "after release", b, "b", 2)
		// a taking its own released lease back would also start a new epoch.
		must(t, e.s.ReleaseLease(ctx, "ctl", "b", 2))
		a, _ := e.acquire(t, "ctl", "a")
		wantLease(t, "a after b released", a, "a", 3)
	})
}

func TestLease_expiryTakeover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		e := openLeaseEnv(t, open)
		a, _ := e.acquire(t, "ctl", "a")
		wantLease(t, "a", a, "a", 1)
		e.pass(e.ttl + e.ttl/10)
		if got, ok := e.leader(t, "ctl"); ok {
			t.Fatalf("Leader of an expired lease = %+v", got)
		}
		if _, ok := e.renew(t, "ctl", "a", 1); ok {
			t.Fatal("RenewLease of an expired lease: renewed")
		}
		b, won := e.acquire(t, "ctl", "b")
		if !won {
			t.Fatal("b could not take an expired lease")
		}
		wantLease(t, "takeover", b, "b", 2)
		if !b.Acquired.After(a.Acquired) {
			t.Errorf("takeover: acquired %v, not after %v", b.Acquired, a.Acquired)
		}
		if cur, ok := e.renew(t, "ctl", "a", 1); ok {
			t.Error("old holder renewed after takeover")
		} else {
			wantLease(t, "old holder's renew", cur, "b", 2)
		}
		if cur, won := e.acquire(t, "ctl", "a"); won {
			t.Error("old holder re-acquired after takeover")
		} else {
			wantLease(t, "old holder's acquire", cur, "b", 2)
		}
		if got, ok := e.leader(t, "ctl"); !ok {
			t.Error("no leader after takeover")
		} else {
			wantLease(t, "Leader", got, "b", 2)
		}
		// Its own expired lease, re-taken, is a new epoch too.
		e.pass(e.ttl + e.ttl/10)
		b2, won := e.acquire(t, "ctl", "b")
		if !won {
			t.Fatal("b could not re-take its expired lease")
		}
		wantLease(t, "re-take after expiry", b2, "b", 3)
	})
}

func TestLease_fence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		e := openLeaseEnv(t, open)
		ctx := context.Background()
		s := e.s

		// Fenced with a lease that does not exist: refused.
		s.Fence("ctl", "a", 1)
		if err := s.SetMeta(ctx, "k", "v0"); !errors.Is(err, ErrFenced) {
			t.Fatalf("SetMeta fenced by a lease never taken = %v, want ErrFenced", err)
		}
		a, _ := e.acquire(t, "ctl", "a")
		s.Fence(a.Name, a.Holder, a.Epoch)
		must(t, s.SetMeta(ctx, "k", "v1"))

		e.pass(e.ttl + e.ttl/10)
		// Expired but not taken over: still refused.
		if err := s.SetMeta(ctx, "k", "v2"); !errors.Is(err, ErrFenced) {
			t.Fatalf("SetMeta fenced by an expired lease = %v, want ErrFenced", err)
		}
		// Taken over (the lease methods are not fenced themselves).
		b, won := e.acquire(t, "ctl", "b")
		if !won || b.Epoch != 2 {
			t.Fatalf("takeover = %+v, %v", b, won)
		}
		if err := s.SetMeta(ctx, "k", "v3"); !errors.Is(err, ErrFenced) {
			t.Fatalf("SetMeta fenced after takeover = %v, want ErrFenced", err)
		}
		if _, err := s.MarkSNSMessage(ctx, "m1", time.Time{}); !errors.Is(err, ErrFenced) {
			t.Fatalf("MarkSNSMessage fenced after takeover = %v, want ErrFenced", err)
		}
		if v, err := s.Meta(ctx, "k"); err != nil || v != "v1" {
			t.Fatalf("Meta after refused writes = %q, %v; want v1", v, err)
		}
		if seen, err := s.MarkSNSMessage(ctx, "m1", time.Time{}); err == nil || seen {
			t.Fatalf("refused MarkSNSMessage wrote: %v, %v", seen, err)
		}

		// Fenced with the new holder's lease: writes again.
		s.Fence(b.Name, b.Holder, b.Epoch)
		must(t, s.SetMeta(ctx, "k", "v4"))
		s.Unfence()
		must(t, s.SetMeta(ctx, "k", "v5"))
		if v, err := s.Meta(ctx, "k"); err != nil || v != "v5" {
			t.Fatalf("Meta = %q, %v; want v5", v, err)
		}
		if seen, err := s.MarkSNSMessage(ctx, "m1", time.Time{}); err != nil || seen {
			t.Fatalf("MarkSNSMessage after unfence = %v, %v; want unseen", seen, err)
		}
	})
}

func TestLease_race(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T, opts Options) *Store) {
		e := openLeaseEnv(t, open)
		raceRounds(t, e.s, e.s, 50)
	})
}

// raceRounds runs rounds rounds in which two goroutines, holders "a" (on sa) and "b" (on sb),
// acquire the same new lease at once, and checks each round has exactly one winner.
func raceRounds(t *testing.T, sa, sb *Store, rounds int) {
	t.Helper()
	stores := []*Store{sa, sb}
	for round := range rounds {
		name := fmt.Sprintf("round-%d", round)
		start := make(chan struct{})
		var wg sync.WaitGroup
		won := make([]bool, 2)
		got := make([]Lease, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				<-start
				got[i], won[i], errs[i] = stores[i].AcquireLease(context.Background(), name, string(rune('a'+i)), time.Hour)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, holder %d: %v", round, i, err)
			}
		}
		if won[0] == won[1] {
			t.Fatalf("round %d: won = %v", round, won)
		}
		if got[0] != got[1] || got[0].Epoch != 1 {
			t.Fatalf("round %d: leases %+v and %+v, want the same, epoch 1", round, got[0], got[1])
		}
	}
}
