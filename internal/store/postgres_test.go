package store

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/internal/store/storetest"
)

// openPostgresAt opens a Store on the PostgreSQL database at url, closed when the test ends.
func openPostgresAt(t *testing.T, url string) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), url, testOptions())
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	closeAtEnd(t, s)
	return s
}

// Replicas starting together on a new database: one migrates while the others wait.
func TestOpenPostgres_concurrentMigrations(t *testing.T) {
	url := storetest.PostgresURL(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(context.Background(), url, testOptions()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("OpenPostgres %d: %v", i, err)
		}
		closeAtEnd(t, stores[i])
	}
	if got := stores[0].Dialect(); got != "postgres" {
		t.Errorf("Dialect = %q", got)
	}
	var v int64
	if err := stores[0].r.QueryRowContext(context.Background(),
		`SELECT MAX(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if want := latestVersion(t); v != want {
		t.Errorf("schema version %d, want %d", v, want)
	}
	// Every replica writes and reads the one database.
	for i, s := range stores {
		r := create(t, s, rollout.Rollout{ImageARN: "arn:x", State: rollout.Pending})
		if r.ID != int64(i+1) {
			t.Errorf("replica %d created rollout %d, want %d", i, r.ID, i+1)
		}
	}
	if rs, err := stores[0].Rollouts(context.Background(), 0); err != nil || len(rs) != n {
		t.Errorf("Rollouts = %d rollouts, %v; want %d", len(rs), err, n)
	}
}

// Two replicas racing for leases: exactly one wins each round.
func TestLease_racePostgresReplicas(t *testing.T) {
	url := storetest.PostgresURL(t)
	raceRounds(t, openPostgresAt(t, url), openPostgresAt(t, url), 100)
}

// A replica fenced with a lease taken over by another cannot write.
func TestLease_fencePostgresReplicas(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := openPostgresAt(t, url), openPostgresAt(t, url)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	la, won, err := a.AcquireLease(ctx, "ctl", "a", ttl)
	if err != nil || !won {
		t.Fatalf("AcquireLease = %v, %v", won, err)
	}
	a.Fence(la.Name, la.Holder, la.Epoch)
	must(t, a.SetMeta(ctx, "k", "a"))
	time.Sleep(ttl + 100*time.Millisecond)
	lb, won, err := b.AcquireLease(ctx, "ctl", "b", time.Minute)
	if err != nil || !won || lb.Epoch != 2 {
		t.Fatalf("takeover = %+v, %v, %v", lb, won, err)
	}
	b.Fence(lb.Name, lb.Holder, lb.Epoch)
	if err := a.SetMeta(ctx, "k", "a again"); !errors.Is(err, ErrFenced) {
		t.Fatalf("old leader's SetMeta = %v, want ErrFenced", err)
	}
	must(t, b.SetMeta(ctx, "k", "b"))
	if v, err := a.Meta(ctx, "k"); err != nil || v != "b" {
		t.Fatalf("Meta = %q, %v; want b", v, err)
	}
}

// A fenced write in flight (past its fence check, not committed) holds the lease row FOR
// SHARE: a takeover of the expired lease waits until the write commits, so the old leader's
// last write comes before the new epoch.
func TestLease_fencedWriteDelaysTakeoverPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := openPostgresAt(t, url), openPostgresAt(t, url)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	la, won, err := a.AcquireLease(ctx, "ctl", "a", ttl)
	if err != nil || !won {
		t.Fatalf("AcquireLease = %v, %v", won, err)
	}
	a.Fence(la.Name, la.Holder, la.Epoch)

	entered, release := make(chan struct{}), make(chan struct{})
	a.testHookFenced = func() {
		close(entered)
		<-release
	}
	writeErr := make(chan error, 1)
	go func() { writeErr <- a.SetMeta(ctx, "k", "last write of a") }()
	<-entered
	time.Sleep(ttl + 100*time.Millisecond) // the lease has expired

	type result struct {
		l   Lease
		won bool
		err error
	}
	takeover := make(chan result, 1)
	go func() {
		l, won, err := b.AcquireLease(ctx, "ctl", "b", time.Minute)
		takeover <- result{l, won, err}
	}()
	select {
	case r := <-takeover:
		t.Fatalf("takeover returned while a fenced write was in flight: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	if err := <-writeErr; err != nil {
		t.Fatalf("in-flight fenced write: %v", err)
	}
	var r result
	select {
	case r = <-takeover:
	case <-time.After(10 * time.Second):
		t.Fatal("takeover still waiting after the fenced write committed")
	}
	if r.err != nil || !r.won || r.l.Holder != "b" || r.l.Epoch != 2 {
		t.Fatalf("takeover = %+v", r)
	}
	a.testHookFenced = nil
	if err := a.SetMeta(ctx, "k", "too late"); !errors.Is(err, ErrFenced) {
		t.Fatalf("SetMeta after takeover = %v, want ErrFenced", err)
	}
	if v, err := b.Meta(ctx, "k"); err != nil || v != "last write of a" {
		t.Fatalf("Meta = %q, %v", v, err)
	}
}

// pgColumns returns the names of table's columns on PostgreSQL, in order.
func pgColumns(t *testing.T, s *Store, table string) []string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// The PostgreSQL migrations have SQLite's versions and build the same tables and columns; their
// Down migrations undo them all, and Up applies them again.
func TestOpenPostgres_schemaMatchesSQLite(t *testing.T) {
	lite := openTest(t)
	pg := openPostgresAt(t, storetest.PostgresURL(t))
	ctx := context.Background()

	pgFiles, err := fs.Glob(postgresMigrations, "migrations/postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	liteFiles, _ := fs.Glob(migrations, "migrations/*.sql")
	for i := range pgFiles {
		pgFiles[i] = path.Base(pgFiles[i])
	}
	for i := range liteFiles {
		liteFiles[i] = path.Base(liteFiles[i])
	}
	if diff := cmp.Diff(liteFiles, pgFiles); diff != "" {
		t.Fatalf("migration files (-sqlite +postgres):\n%s", diff)
	}

	rows, err := lite.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		must(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	must(t, rows.Err())
	rows.Close()
	if len(tables) < 9 {
		t.Fatalf("SQLite tables = %v", tables)
	}
	for _, table := range tables {
		want := columns(t, lite.r, table)
		got := pgColumns(t, pg, table)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("columns of %s (-sqlite +postgres):\n%s", table, diff)
		}
	}

	fsys, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, pg.w, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if got := pgColumns(t, pg, "rollouts"); len(got) != 0 {
		t.Errorf("after down to 0, rollouts has columns %v", got)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if diff := cmp.Diff(columns(t, lite.r, "steps"), pgColumns(t, pg, "steps")); diff != "" {
		t.Errorf("columns of steps after down and up (-sqlite +postgres):\n%s", diff)
	}
}
