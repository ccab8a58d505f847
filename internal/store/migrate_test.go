package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/deskpilot/deskpilot/internal/rollout"
)

// migrationProvider returns a goose provider of the embedded migrations on db, for tests that build
// a database of an earlier version or migrate one down.
func migrationProvider(t testing.TB, db *sql.DB) *goose.Provider {
	t.Helper()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dbVersion is the schema version of db.
func dbVersion(t testing.TB, db *sql.DB) int64 {
	t.Helper()
	v, err := migrationProvider(t, db).GetDBVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// openVersion opens the database file at path as the writer does and migrates it up (from
// nothing) or down to version: the database an earlier deskpilot left. The caller closes it.
func openVersion(t testing.TB, path string, version int64) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		t.Fatal(err)
	}
	p := migrationProvider(t, db)
	if dbVersion(t, db) > version {
		_, err = p.DownTo(ctx, version)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		db.Close()
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	if v := dbVersion(t, db); v != version {
		db.Close()
		t.Fatalf("database at version %d; want %d", v, version)
	}
	return db
}

// columns returns the names of table's columns, in order.
func columns(t testing.TB, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT name FROM pragma_table_info($1) ORDER BY cid`, table)
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

// TestOpen_migratesVersion3 opens a database written before progressive rollouts (00003
// applied, with a rollout and its steps in it): Open brings it to the latest version and the
// rows read back as one-wave rollouts, the rest of them unchanged; 00004's Down migration
// removes exactly its columns, and Open applies it again.
func TestOpen_migratesVersion3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deskpilot.db")

	db := openVersion(t, path, 3)
	rolloutCols3, stepCols3 := columns(t, db, "rollouts"), columns(t, db, "steps")
	for _, q := range []string{
		`INSERT INTO rollouts (image_name, image_arn, fleet_tag, scale_immediately, state, start_at,
			tag_cleared, reason, created_at, updated_at, account, region)
		VALUES ('img', 'arn:img', 'a / b', 1, 'running', 1741658400123, 0, 'window opened', 1, 2,
			'123456789012', 'eu-west-1')`,
		`INSERT INTO steps (rollout_id, fleet, state, window_start, window_end, next_at, attempts,
			drain, saved_min, saved_max, drain_started_at, started_at, finished_at, message,
			escalated_at, reminded_at)
		VALUES (1, 'a', 'done', 3, 4, NULL, 2, 1, 2, 5, 5, 3, 6, 'restored', NULL, NULL),
			(1, 'b', 'waiting', 3, 4, 7, 0, 0, 0, 0, NULL, NULL, NULL, '', NULL, NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ms := func(n int64) time.Time { return time.UnixMilli(n).UTC() }
	want := rollout.Rollout{
		ID: 1, Account: "123456789012", Region: "eu-west-1",
		ImageName: "img", ImageARN: "arn:img", FleetTag: "a / b", ScaleImmediately: true,
		State: rollout.Running, Start: ms(1741658400123), Reason: "window opened",
		CreatedAt: ms(1), UpdatedAt: ms(2),
		Waves: 1, Wave: 1,
		Steps: []rollout.Step{
			{RolloutID: 1, Fleet: "a", State: rollout.StepDone, WindowStart: ms(3), WindowEnd: ms(4),
				Attempts: 2, Drain: true, SavedMin: 2, SavedMax: 5, DrainStartedAt: ms(5), StartedAt: ms(3),
				FinishedAt: ms(6), Message: "restored", Wave: 1},
			{RolloutID: 1, Fleet: "b", State: rollout.StepWaiting, WindowStart: ms(3), WindowEnd: ms(4),
				NextAt: ms(7), Wave: 1},
		},
	}
	check := func(what string) {
		t.Helper()
		s := openAt(t, path)
		if v := dbVersion(t, s.w); v != latestVersion(t) {
			t.Errorf("%s: version %d; want %d", what, v, latestVersion(t))
		}
		got, ok, err := s.Rollout(ctx, 1)
		if err != nil || !ok {
			t.Fatalf("%s: Rollout(1) = _, %v, %v", what, ok, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Rollout(1) (-want +got):\n%s", what, diff)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	check("after Open")
	check("after the second Open") // nothing to apply

	// Down to version 3 removes exactly the new columns, and keeps the rows.
	db = openVersion(t, path, 3)
	if diff := cmp.Diff(rolloutCols3, columns(t, db, "rollouts")); diff != "" {
		t.Errorf("rollouts columns after Down to 3 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(stepCols3, columns(t, db, "steps")); diff != "" {
		t.Errorf("steps columns after Down to 3 (-want +got):\n%s", diff)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Down and Open")
}
