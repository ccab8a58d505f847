package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// postgresMigrations are the migrations of migrations/*.sql translated for PostgreSQL: the same
// versions, the same logical schema.
//
//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// OpenPostgres opens the PostgreSQL database at url (a postgres:// URL or a key=value
// connection string, as pgx reads them) and brings its schema up to date. It returns the same
// Store as Open, on PostgreSQL: writes go through one connection, reads through a pool of
// read-only ones. Unlike Open it takes no lock: several Stores (replicas) may share the
// database, and they coordinate with leases (AcquireLease, Fence). Replicas starting together
// migrate one at a time: the migration holds a session-level advisory lock.
func OpenPostgres(ctx context.Context, url string, opts Options) (*Store, error) {
	wcfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: parse PostgreSQL URL: %w", err)
	}
	rcfg := wcfg.Copy()
	// Readers cannot write even by mistake.
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	where := fmt.Sprintf("open store on PostgreSQL %s/%s", wcfg.Host, wcfg.Database)

	s := &Store{now: opts.Now, dialect: dialectPostgres}
	if s.now == nil {
		s.now = time.Now
	}
	w := stdlib.OpenDB(*wcfg)
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := migratePostgres(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	s.w = w
	r := stdlib.OpenDB(*rcfg)
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}

// migratePostgres applies the PostgreSQL migrations not yet applied, each in its own
// transaction, holding goose's advisory lock so that only one replica migrates at a time.
func migratePostgres(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Retry every second for up to five minutes while another replica migrates.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Not p.Close: it would close db.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
