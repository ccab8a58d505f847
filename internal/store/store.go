// Package store is deskpilot's durable state in SQLite: rollouts and their steps, the capacity
// saved before a drain, the audit history and the notification outbox, the WorkSpaces tracked for
// reset and their history, and the SNS messages already handled. It implements rollout.Store for
// the controller, reset.Store for the reset controller (one target's, through Store.Resets),
// notify.Outbox for the dispatcher, and read methods for the HTTP API and the CLI.
//
// Every write is one transaction on one connection, committed with synchronous=FULL before the
// method returns: whatever a method reported as written survives a crash or a power cut. Reads
// run on a separate pool of read-only connections, so the API and the dashboard never wait for
// the controller, nor it for them (SQLite's WAL mode lets readers and one writer run together).
//
// The SQL sticks to what SQLite and PostgreSQL both accept ($n placeholders, ON CONFLICT,
// RETURNING, times as BIGINT unix milliseconds UTC, booleans as 0/1) so that a PostgreSQL
// store can share it; only the schema's identity columns differ.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/deskpilot/deskpilot/internal/notify"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

var (
	_ rollout.Store = (*Store)(nil)
	_ notify.Outbox = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Connection settings. The writer takes SQLite's write lock when a transaction begins
// (_txlock=immediate), so a transaction never fails half-way for want of the lock; busy_timeout
// covers another process holding it (an operator's sqlite3 shell, a backup). synchronous=FULL
// syncs the WAL at every commit: NORMAL would be faster but may lose the last commits on a power
// cut, and a lost commit can be a saved Min/Max the fleet's restore depends on.
const (
	writerParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	readerParams = "_pragma=busy_timeout(5000)&_pragma=query_only(1)"
	// maxReaders bounds the read-only connections (API requests, dashboard, dispatcher).
	maxReaders = 4
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Now is the clock used to stamp rows whose time the caller left zero (a rollout's
	// CreatedAt and UpdatedAt, an event's At, a capacity's SavedAt, a reset record's At, an SNS
	// message's time) and to make new outbox deliveries due. Nil means time.Now.
	Now func() time.Time
}

// Store is deskpilot's SQLite database. It is safe for concurrent use.
type Store struct {
	w       *sql.DB   // the one writer connection
	r       *sql.DB   // read-only connections
	lock    *fileLock // held from Open to Close; nil on PostgreSQL
	now     func() time.Time
	dialect string // dialectSQLite or dialectPostgres

	fenceMu sync.Mutex
	fence   *fence // set by Fence: every write checks this lease first

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // the reads every pass makes, prepared on r (prepared)

	// testHookFenced, if set, runs inside a fenced write's transaction right after the fence
	// check passed (tests hold the transaction open with it).
	testHookFenced func()

	closeOnce sync.Once
	closeErr  error
}

// Open opens the database file at path, creating it if needed, and brings its schema up to date.
//
// One Store at a time may have a file open, because the daemon must be its only writer: two
// daemons on one store would both act on every rollout and reset. Before it touches the
// database, Open takes an exclusive lock on the file path+".lock" beside it, without
// waiting, and holds it until Close or until the process ends. If another Store holds it (in
// another process, or in this one), Open returns an *InUseError, which is ErrInUse and names
// the holder as the lock file records it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: no path")
	}
	l, err := takeLock(path)
	if err != nil {
		return nil, err
	}
	s := &Store{lock: l, now: opts.Now, dialect: dialectSQLite}
	if s.now == nil {
		s.now = time.Now
	}
	w, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		l.unlock()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection: writes are serialised here rather than by SQLite's busy loop, and the
	// connection (with its pragmas) lives as long as the Store.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	s.w = w
	if err := checkWriter(ctx, w); err != nil {
		w.Close()
		l.unlock()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		l.unlock()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// The readers open the file only once it exists and is migrated.
	r, err := sql.Open("sqlite", dsn(path, readerParams))
	if err != nil {
		w.Close()
		l.unlock()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database, then releases its lock: the last connection to close checkpoints
// the WAL into the file, and only then may another Open have it. A second Close does nothing more.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var unlockErr error
		if s.lock != nil {
			unlockErr = s.lock.unlock()
		}
		var errs []error
		s.stmtMu.Lock()
		for _, st := range s.stmts {
			errs = append(errs, st.Close())
		}
		s.stmts = nil
		s.stmtMu.Unlock()
		s.closeErr = errors.Join(append(errs, s.r.Close(), s.w.Close(), unlockErr)...)
	})
	return s.closeErr
}

// dsn returns the modernc.org/sqlite data source name of the file at path. The path is escaped
// because SQLite reads "file:" names as URIs, where '?', '#' and '%' are special.
func dsn(path, params string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + params
}

// checkWriter verifies that the pragmas the durability guarantees rest on took effect: SQLite
// ignores some silently (WAL is unavailable on some network file systems).
func checkWriter(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	var fk, sync int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if !strings.EqualFold(mode, "wal") || fk != 1 || sync != 2 {
		return fmt.Errorf("database settings are journal_mode=%s foreign_keys=%d synchronous=%d, want wal, 1, 2 (FULL)", mode, fk, sync)
	}
	return nil
}

// migrate applies the embedded migrations not yet applied; each runs in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Not p.Close: it would close db.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// write runs fn in a transaction on the writer connection and commits it; on any error nothing
// fn did is kept. A fenced Store (Fence) first checks its lease in the same transaction, and
// fails with ErrFenced, writing nothing, if the lease is no longer held as fenced.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeTx(ctx, true, fn)
}

// writeTx is write, fenced or not: the lease methods are not.
func (s *Store) writeTx(ctx context.Context, fenced bool, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	if s.dialect == dialectPostgres {
		// Whatever the server's default: under REPEATABLE READ or SERIALIZABLE a lost lease
		// race would be a serialization failure rather than "not won".
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := s.w.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if f := s.currentFence(); fenced && f != nil {
		if err := s.checkFence(ctx, tx, *f); err != nil {
			return errors.Join(err, rollback(tx))
		}
		if s.testHookFenced != nil {
			s.testHookFenced()
		}
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction, so that its queries see one snapshot. On
// PostgreSQL that takes REPEATABLE READ: under READ COMMITTED each statement has its own.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == dialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose
	return fn(tx)
}

// maxPrepared bounds the statements prepared (prepared): a query whose text varies with its
// arguments (a LIMIT the API was asked for) must not grow the cache without end.
const maxPrepared = 32

// prepared returns query prepared on the read connections, preparing it the first time, or nil
// once maxPrepared others are: database/sql keeps a prepared statement prepared on each
// connection it ran on, so that the reads every pass makes (the active rollouts, the due
// notices) are parsed once per connection rather than at every pass. Parsing was most of a
// daemon pass's CPU in SQLite, which is C compiled to Go.
//
// Never call it while holding a read connection (inside read): preparing may need one of
// its own, and the pool may have no other.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok || len(s.stmts) >= maxPrepared {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// queryer is what reads run on: a read transaction, or the read connections themselves.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryIn runs query on q (a read transaction or s.r), through st (query prepared by
// prepared) when there is one.
func queryIn(ctx context.Context, q queryer, st *sql.Stmt, query string, args ...any) (*sql.Rows, error) {
	if st == nil {
		return q.QueryContext(ctx, query, args...)
	}
	if tx, ok := q.(*sql.Tx); ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return st.QueryContext(ctx, args...)
}

// rollback rolls tx back, reporting only errors other than the transaction being over already
// (database/sql ends it itself when the context is cancelled).
func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// millis is how a time is stored: unix milliseconds, or NULL for the zero time.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// msTime reads back what millis stored, in UTC.
type msTime struct{ t *time.Time }

// Scan implements sql.Scanner.
func (m msTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m.t = time.Time{}
	case int64:
		*m.t = time.UnixMilli(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want integer milliseconds", src)
	}
	return nil
}

// bit is how a bool is stored: INTEGER 0 or 1, which PostgreSQL accepts too.
func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// limitClause returns " LIMIT n", or nothing when limit is zero or less (no limit).
func limitClause(limit int) string {
	if limit <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", limit)
}

// Ping checks that the store can be written: it takes the write lock (an immediate
// transaction) and commits nothing.
func (s *Store) Ping(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		return tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
	})
}
