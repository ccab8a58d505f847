package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrFenced is the error (wrapped) of a write by a fenced Store whose lease is no longer held
// with the holder and epoch it was fenced with: it expired, was released, or was taken over.
// Such a write writes nothing.
var ErrFenced = errors.New("store is fenced: its lease is no longer held")

// Lease is one named lease as the leases table holds it. Times are in UTC, to the millisecond.
type Lease struct {
	Name, Holder string
	// Epoch grows by one each time the lease is taken fresh or from another holder; it stays
	// the same while one holder keeps renewing (or re-acquiring) it.
	Epoch int64
	// Expires is when the lease ends unless renewed; Acquired when this epoch began; Renewed
	// when it was last extended.
	Expires, Acquired, Renewed time.Time
}

// fence is what Fence set: the lease every write checks.
type fence struct {
	name, holder string
	epoch        int64
}

// Dialects, as Dialect returns them.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// Dialect returns the database the Store is on: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// pgNow is PostgreSQL's clock in unix milliseconds. It is the wall clock (clock_timestamp), not
// the transaction's start (now()), so that a transaction that waited for a lock sees the time it
// got it.
const pgNow = `(extract(epoch from clock_timestamp())*1000)::bigint`

// withNow returns query with every ":now" replaced by the current time in unix milliseconds:
// on SQLite a parameter holding the Store's clock, appended to args; on PostgreSQL the
// database's clock, so that every replica measures leases by one clock.
func (s *Store) withNow(query string, args ...any) (string, []any) {
	if s.dialect == dialectPostgres {
		return strings.ReplaceAll(query, ":now", pgNow), args
	}
	args = append(args, s.now().UnixMilli())
	return strings.ReplaceAll(query, ":now", fmt.Sprintf("$%d", len(args))), args
}

const leaseCols = `name, holder, epoch, expires_at, acquired_at, renewed_at`

func scanLease(row interface{ Scan(...any) error }) (Lease, error) {
	var l Lease
	err := row.Scan(&l.Name, &l.Holder, &l.Epoch, msTime{&l.Expires}, msTime{&l.Acquired}, msTime{&l.Renewed})
	return l, err
}

// AcquireLease takes lease name for holder for ttl, in one statement, if it is free (never
// taken, expired or released) or holder holds it already. Taking it fresh or from another holder
// starts a new epoch (the old one plus one; 1 for a lease never taken); re-acquiring one's own
// unexpired lease keeps the epoch and extends it by ttl from now. won reports whether holder
// holds the lease now; if not, the lease returned is the current holder's.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (l Lease, won bool, err error) {
	if name == "" || holder == "" {
		return Lease{}, false, errors.New("acquire lease: name and holder are required")
	}
	// The clock is read once (n), and stands in the conflict arm as excluded.renewed_at.
	q, args := s.withNow(`
		INSERT INTO leases (`+leaseCols+`)
		SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), 1, c.n + $3, c.n, c.n FROM (SELECT :now AS n) AS c WHERE true
		ON CONFLICT (name) DO UPDATE SET
			holder = excluded.holder,
			epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.renewed_at
				THEN leases.epoch ELSE leases.epoch + 1 END,
			acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.renewed_at
				THEN leases.acquired_at ELSE excluded.acquired_at END,
			expires_at = excluded.expires_at,
			renewed_at = excluded.renewed_at
		WHERE leases.expires_at <= excluded.renewed_at OR leases.holder = excluded.holder
		RETURNING `+leaseCols, name, holder, ttl.Milliseconds())
	err = s.writeTx(ctx, false, func(tx *sql.Tx) error {
		var err error
		l, err = scanLease(tx.QueryRowContext(ctx, q, args...))
		switch {
		case err == nil:
			won = true
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// Not won: the row is someone else's (and locked by the statement on PostgreSQL).
		l, err = scanLease(tx.QueryRowContext(ctx, `SELECT `+leaseCols+` FROM leases WHERE name = $1`, name))
		return err
	})
	if err != nil {
		return Lease{}, false, fmt.Errorf("acquire lease %q for %q: %w", name, holder, err)
	}
	return l, won, nil
}

// RenewLease extends lease name by ttl from now if holder holds it in epoch and it has not
// expired. If it does not, renewed is false and the lease returned is the current one (the zero
// Lease if there is none).
func (s *Store) RenewLease(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) (l Lease, renewed bool, err error) {
	q, args := s.withNow(`
		UPDATE leases SET expires_at = :now + $4, renewed_at = :now
		WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > :now
		RETURNING `+leaseCols, name, holder, epoch, ttl.Milliseconds())
	err = s.writeTx(ctx, false, func(tx *sql.Tx) error {
		var err error
		l, err = scanLease(tx.QueryRowContext(ctx, q, args...))
		switch {
		case err == nil:
			renewed = true
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		l, err = scanLease(tx.QueryRowContext(ctx, `SELECT `+leaseCols+` FROM leases WHERE name = $1`, name))
		if errors.Is(err, sql.ErrNoRows) {
			l, err = Lease{}, nil
		}
		return err
	})
	if err != nil {
		return Lease{}, false, fmt.Errorf("renew lease %q for %q: %w", name, holder, err)
	}
	return l, renewed, nil
}

// ReleaseLease ends lease name now if holder holds it in epoch (and it has not expired), so
// that another holder may take it at once. Releasing a lease not held does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string, epoch int64) error {
	q, args := s.withNow(`
		UPDATE leases SET expires_at = :now
		WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > :now`, name, holder, epoch)
	err := s.writeTx(ctx, false, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %q for %q: %w", name, holder, err)
	}
	return nil
}

// Leader returns lease name if it is held (not expired); ok is false if it is not.
func (s *Store) Leader(ctx context.Context, name string) (l Lease, ok bool, err error) {
	q, args := s.withNow(`SELECT `+leaseCols+` FROM leases WHERE name = $1 AND expires_at > :now`, name)
	l, err = scanLease(s.r.QueryRowContext(ctx, q, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Lease{}, false, nil
	case err != nil:
		return Lease{}, false, fmt.Errorf("read lease %q: %w", name, err)
	}
	return l, true, nil
}

// Fence makes every later write of the Store (every method that writes, but the lease methods)
// check first, in its own transaction, that lease name is held by holder in epoch and has not
// expired; if not, the write returns an error wrapping ErrFenced and writes nothing. On
// PostgreSQL the check locks the lease row FOR SHARE until the write commits, so a takeover
// waits for a write in flight: a write the old holder committed came before the new epoch.
func (s *Store) Fence(name, holder string, epoch int64) {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	s.fence = &fence{name: name, holder: holder, epoch: epoch}
}

// Unfence undoes Fence: writes no longer check a lease.
func (s *Store) Unfence() {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	s.fence = nil
}

func (s *Store) currentFence() *fence {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	return s.fence
}

// checkFence verifies, in tx, that f's lease is held as f says.
func (s *Store) checkFence(ctx context.Context, tx *sql.Tx, f fence) error {
	query := `SELECT holder, epoch, expires_at, :now FROM leases WHERE name = $1`
	if s.dialect == dialectPostgres {
		query += ` FOR SHARE`
	}
	q, args := s.withNow(query, f.name)
	var holder string
	var epoch, expires, now int64
	err := tx.QueryRowContext(ctx, q, args...).Scan(&holder, &epoch, &expires, &now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: lease %q (held by %q in epoch %d) does not exist", ErrFenced, f.name, f.holder, f.epoch)
	case err != nil:
		return fmt.Errorf("check lease %q: %w", f.name, err)
	case holder != f.holder || epoch != f.epoch:
		return fmt.Errorf("%w: lease %q is held by %q in epoch %d, not by %q in epoch %d",
			ErrFenced, f.name, holder, epoch, f.holder, f.epoch)
	case expires <= now:
		return fmt.Errorf("%w: lease %q of %q in epoch %d expired at %s", ErrFenced, f.name, holder, epoch,
			time.UnixMilli(expires).UTC().Format(time.RFC3339Nano))
	}
	return nil
}
