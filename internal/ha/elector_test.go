package ha

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// table is a lease table with the store's semantics, on the test's clock (the "database's").
type table struct {
	mu    sync.Mutex
	now   func() time.Time
	l     Lease
	has   bool
	fail  bool
	calls int
}

func (t *table) AcquireLease(_ context.Context, _, holder string, ttl time.Duration) (Lease, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	if t.fail {
		return Lease{}, false, errors.New("database down")
	}
	now := t.now()
	switch {
	case t.has && t.l.Holder == holder && now.Before(t.l.Expires):
		t.l.Expires = now.Add(ttl)
	case !t.has || !now.Before(t.l.Expires):
		t.l = Lease{Holder: holder, Epoch: t.l.Epoch + 1, Expires: now.Add(ttl)}
		t.has = true
	default:
		return t.l, false, nil
	}
	return t.l, true, nil
}

func (t *table) RenewLease(_ context.Context, _, holder string, epoch int64, ttl time.Duration) (Lease, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	if t.fail {
		return Lease{}, false, errors.New("database down")
	}
	if !t.has || t.l.Holder != holder || t.l.Epoch != epoch || !t.now().Before(t.l.Expires) {
		return t.l, false, nil
	}
	t.l.Expires = t.now().Add(ttl)
	return t.l, true, nil
}

func (t *table) ReleaseLease(_ context.Context, _, holder string, epoch int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.has && t.l.Holder == holder && t.l.Epoch == epoch {
		t.l.Expires = t.now()
	}
	return nil
}

func (t *table) Leader(context.Context, string) (Lease, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail {
		return Lease{}, false, errors.New("database down")
	}
	return t.l, t.has && t.now().Before(t.l.Expires), nil
}

// world is a table and replicas on one manual clock.
type world struct {
	now time.Time
	tab *table
}

func newWorld() *world {
	w := &world{now: time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)}
	w.tab = &table{now: w.clock}
	return w
}

func (w *world) clock() time.Time { return w.now }

func (w *world) replica(name string) *Elector {
	return New(w.tab, "leader", name, TimingFor(15*time.Second), w.clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// run ticks the replicas, each when it asked to be, for d of the clock, in steps of 100 ms;
// paused replicas do not tick.
func (w *world) run(d time.Duration, replicas []*Elector, paused map[*Elector]bool) {
	next := make([]time.Time, len(replicas))
	end := w.now.Add(d)
	for ; w.now.Before(end); w.now = w.now.Add(100 * time.Millisecond) {
		for i, r := range replicas {
			if paused[r] || w.now.Before(next[i]) {
				continue
			}
			next[i], _ = r.Tick(context.Background())
		}
	}
}

func leaders(rs ...*Elector) (n int, who *Elector) {
	for _, r := range rs {
		if r.Leading() {
			n++
			who = r
		}
	}
	return n, who
}

func TestElector_oneLeaderAndTakeoverWithinTheTakeoverTime(t *testing.T) {
	w := newWorld()
	a, b := w.replica("a"), w.replica("b")
	all := []*Elector{a, b}
	w.run(time.Second, all, nil)
	n, first := leaders(a, b)
	if n != 1 {
		t.Fatalf("%d leaders after a second, want 1", n)
	}
	w.run(time.Minute, all, nil)
	if n, who := leaders(a, b); n != 1 || who != first {
		t.Fatalf("leadership moved or doubled without a failure: %d leaders", n)
	}
	other := b
	if first == b {
		other = a
	}
	// The leader dies: it never ticks again. Its view ends, and the other takes over.
	died := w.now
	dead := map[*Elector]bool{first: true}
	var took time.Duration
	for took = 0; took < time.Minute && !other.Leading(); took += 100 * time.Millisecond {
		w.run(100*time.Millisecond, all, dead)
	}
	if !other.Leading() {
		t.Fatal("no takeover within a minute of the leader's death")
	}
	if took > 15*time.Second {
		t.Errorf("takeover took %s after the leader died, want at most ha.takeover (15s)", took)
	}
	if other.Epoch() != first.Epoch()+1 {
		t.Errorf("epoch %d after takeover, want %d", other.Epoch(), first.Epoch()+1)
	}
	// A dead leader's own view ran out before the other took over.
	if first.Leading() {
		t.Errorf("the dead leader still thinks it leads at %s after its death", w.now.Sub(died))
	}
}

func TestElector_pausedLeaderStopsBeforeTheTakeover(t *testing.T) {
	w := newWorld()
	a, b := w.replica("a"), w.replica("b")
	w.run(time.Second, []*Elector{a}, nil)
	w.run(time.Second, []*Elector{a, b}, nil)
	if !a.Leading() || b.Leading() {
		t.Fatal("a should lead")
	}
	// a is paused (SIGSTOP). At every instant, at most one replica believes it leads, and b
	// takes over.
	paused := map[*Elector]bool{a: true}
	for i := 0; i < 300; i++ {
		w.run(100*time.Millisecond, []*Elector{a, b}, paused)
		if a.Leading() && b.Leading() {
			t.Fatalf("both lead %s into the pause", time.Duration(i)*100*time.Millisecond)
		}
	}
	if !b.Leading() {
		t.Fatal("b did not take over from the paused a")
	}
	// a resumes: without a tick it already knows it does not lead; its first tick sees the
	// lease taken and it stays a follower.
	if a.Leading() {
		t.Fatal("a resumed believing it leads")
	}
	w.run(10*time.Second, []*Elector{a, b}, nil)
	if a.Leading() || !b.Leading() {
		t.Errorf("after a's return: a leads %v, b leads %v; want b only", a.Leading(), b.Leading())
	}
	if st := a.Status(); st.Leader != "b" || st.Self != "a" || st.Leading {
		t.Errorf("a's status %+v, want leader b", st)
	}
}

func TestElector_leaderRidesOutShortDatabaseTrouble(t *testing.T) {
	w := newWorld()
	a := w.replica("a")
	demoted := 0
	a.OnDemoted = func() { demoted++ }
	w.run(time.Second, []*Elector{a}, nil)
	w.tab.fail = true
	w.run(5*time.Second, []*Elector{a}, nil)
	if !a.Leading() {
		t.Fatal("a lost leadership after 5 s of failed renewals; its lease lasts 12 s")
	}
	w.run(10*time.Second, []*Elector{a}, nil)
	if a.Leading() || demoted != 1 {
		t.Fatalf("after 15 s of failed renewals: leading %v, demoted %d times; want a follower, demoted once", a.Leading(), demoted)
	}
	w.tab.fail = false
	w.run(time.Second, []*Elector{a}, nil)
	if !a.Leading() || a.Epoch() != 2 {
		t.Errorf("after the database came back: leading %v epoch %d, want leader again with epoch 2", a.Leading(), a.Epoch())
	}
}

func TestElector_releaseHandsOverAtOnce(t *testing.T) {
	w := newWorld()
	a, b := w.replica("a"), w.replica("b")
	w.run(time.Second, []*Elector{a}, nil)
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Leading() {
		t.Fatal("a leads after its release")
	}
	w.run(4*time.Second, []*Elector{b}, nil)
	if !b.Leading() {
		t.Error("b did not take the released lease within one retry interval")
	}
}

func TestElector_electedRunsBeforeLeading(t *testing.T) {
	w := newWorld()
	a := w.replica("a")
	var fenced int64
	a.OnElected = func(epoch int64) {
		if a.Leading() {
			t.Error("Leading is true before OnElected returned: the fence would be set too late")
		}
		fenced = epoch
	}
	w.run(time.Second, []*Elector{a}, nil)
	if fenced != 1 || !a.Leading() {
		t.Errorf("fenced with epoch %d, leading %v; want 1, true", fenced, a.Leading())
	}
}
