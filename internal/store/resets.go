package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

var _ reset.Store = (*Store)(nil)

const trackedCols = `id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
	handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
	attempts, tags_checked_at, maintenance, waiting`

// Trackers returns every tracked WorkSpace by ID, in one query. Times come back in UTC, to the
// millisecond.
func (s *Store) Trackers(ctx context.Context) (map[string]reset.Tracked, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+trackedCols+` FROM workspaces`)
	if err != nil {
		return nil, fmt.Errorf("read tracked workspaces: %w", err)
	}
	defer rows.Close()
	out := make(map[string]reset.Tracked)
	for rows.Next() {
		var t reset.Tracked
		var maintenance int
		if err := rows.Scan(&t.ID, &t.Mode, &t.DirectoryID, &t.UserName, &t.BundleID, &t.LastState,
			msTime{&t.LastConnected}, msTime{&t.HandledLogon}, msTime{&t.PendingLogon}, &t.Phase,
			msTime{&t.DisconnectedAt}, msTime{&t.DueAt}, &t.IPBefore, msTime{&t.ResetStartedAt},
			&t.Attempts, msTime{&t.TagsCheckedAt}, &maintenance, &t.Waiting); err != nil {
			return nil, fmt.Errorf("read tracked workspaces: %w", err)
		}
		t.Maintenance = maintenance != 0
		out[t.ID] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tracked workspaces: %w", err)
	}
	return out, nil
}

// SaveResets writes, in one transaction (all of it, or on any error none of it):
//  1. save, each tracker inserted or replaced in full by ID (a tracker without an ID is an error);
//  2. remove, the trackers deleted by ID (IDs not tracked are ignored);
//  3. records, appended to the history, an At left zero being the store's clock;
//  4. deliveries, enqueued in the outbox as Apply enqueues a rollout's: once per
//     (Notice.ID, Sender) across both, due at once. A delivery without a notice ID or sender is
//     an error.
//
// Times are kept to the millisecond. The caller's slices are not modified.
func (s *Store) SaveResets(ctx context.Context, save []reset.Tracked, remove []string, records []reset.Record, deliveries []reset.Delivery) error {
	if len(save) == 0 && len(remove) == 0 && len(records) == 0 && len(deliveries) == 0 {
		return nil
	}
	now := s.now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := upsertTrackers(ctx, tx, save); err != nil {
			return err
		}
		if err := deleteTrackers(ctx, tx, remove); err != nil {
			return err
		}
		if err := insertRecords(ctx, tx, records, now); err != nil {
			return err
		}
		for _, d := range deliveries {
			if err := enqueue(ctx, tx, rollout.Delivery(d), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save resets: %w", err)
	}
	return nil
}

// boolInt is b as the INTEGER 1 or 0 both databases store.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func upsertTrackers(ctx context.Context, tx *sql.Tx, save []reset.Tracked) error {
	if len(save) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO workspaces (`+trackedCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (id) DO UPDATE SET
			mode = excluded.mode, directory_id = excluded.directory_id,
			user_name = excluded.user_name, bundle_id = excluded.bundle_id,
			last_state = excluded.last_state, last_connected = excluded.last_connected,
			handled_logon = excluded.handled_logon, pending_logon = excluded.pending_logon,
			phase = excluded.phase, disconnected_at = excluded.disconnected_at,
			due_at = excluded.due_at, ip_before = excluded.ip_before,
			reset_started_at = excluded.reset_started_at, attempts = excluded.attempts,
			tags_checked_at = excluded.tags_checked_at, maintenance = excluded.maintenance,
			waiting = excluded.waiting`)
	if err != nil {
		return fmt.Errorf("write tracked workspaces: %w", err)
	}
	defer stmt.Close()
	for _, t := range save {
		if t.ID == "" {
			return errors.New("write tracked workspace: no ID")
		}
		if _, err := stmt.ExecContext(ctx, t.ID, string(t.Mode), t.DirectoryID, t.UserName, t.BundleID,
			t.LastState, millis(t.LastConnected), millis(t.HandledLogon), millis(t.PendingLogon),
			string(t.Phase), millis(t.DisconnectedAt), millis(t.DueAt), t.IPBefore,
			millis(t.ResetStartedAt), t.Attempts, millis(t.TagsCheckedAt), boolInt(t.Maintenance), t.Waiting); err != nil {
			return fmt.Errorf("write tracked workspace %q: %w", t.ID, err)
		}
	}
	return nil
}

func deleteTrackers(ctx context.Context, tx *sql.Tx, remove []string) error {
	if len(remove) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM workspaces WHERE id = $1`)
	if err != nil {
		return fmt.Errorf("delete tracked workspaces: %w", err)
	}
	defer stmt.Close()
	for _, id := range remove {
		if _, err := stmt.ExecContext(ctx, id); err != nil {
			return fmt.Errorf("delete tracked workspace %q: %w", id, err)
		}
	}
	return nil
}

func insertRecords(ctx context.Context, tx *sql.Tx, records []reset.Record, now time.Time) error {
	if len(records) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO resets (at, workspace_id, user_name, mode, outcome, reason)
		VALUES ($1, $2, $3, $4, $5, $6)`)
	if err != nil {
		return fmt.Errorf("record resets: %w", err)
	}
	defer stmt.Close()
	for _, r := range records {
		at := r.At
		if at.IsZero() {
			at = now
		}
		if _, err := stmt.ExecContext(ctx, at.UnixMilli(), r.WorkspaceID, r.UserName, string(r.Mode),
			r.Outcome, r.Reason); err != nil {
			return fmt.Errorf("record %s of workspace %q: %w", r.Outcome, r.WorkspaceID, err)
		}
	}
	return nil
}

// Records returns the reset history from since on (inclusive; the zero time means all of it),
// oldest first (by At, then by order written), at most limit records; a limit of zero or less
// means all of them.
func (s *Store) Records(ctx context.Context, since time.Time, limit int) ([]reset.Record, error) {
	// The zero time's milliseconds are below any stored time's: all of it.
	return s.records(ctx, `WHERE at >= $1 ORDER BY at, id`+limitClause(limit), since.UnixMilli())
}

// RecordsBetween returns the reset history of the period [since, until), oldest first (by At,
// then by order written). Both bounds are taken to the millisecond, as the records' times are
// stored (anything finer is dropped), so that periods sharing a bound, [a, b) and [b, c), share
// no record and together miss none: a record written at b's millisecond is in the second.
func (s *Store) RecordsBetween(ctx context.Context, since, until time.Time) ([]reset.Record, error) {
	return s.records(ctx, `WHERE at >= $1 AND at < $2 ORDER BY at, id`, since.UnixMilli(), until.UnixMilli())
}

func (s *Store) records(ctx context.Context, where string, args ...any) ([]reset.Record, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT at, workspace_id, user_name, mode, outcome, reason FROM resets `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read reset records: %w", err)
	}
	defer rows.Close()
	var out []reset.Record
	for rows.Next() {
		var r reset.Record
		if err := rows.Scan(msTime{&r.At}, &r.WorkspaceID, &r.UserName, &r.Mode, &r.Outcome, &r.Reason); err != nil {
			return nil, fmt.Errorf("read reset records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read reset records: %w", err)
	}
	return out, nil
}

// Meta returns the value named key, or "" if none was set.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read meta %q: %w", key, err)
	}
	return v, nil
}

// SetMeta sets the value named key, replacing any.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if err := s.write(ctx, func(tx *sql.Tx) error { return setMeta(ctx, tx, key, value) }); err != nil {
		return fmt.Errorf("set meta %q: %w", key, err)
	}
	return nil
}

// SaveDigest enqueues a digest's deliveries and moves its watermark (meta key) in one
// transaction: a crash between the two would name the next digest after the same period start,
// which the outbox drops as already sent, and lose its items.
func (s *Store) SaveDigest(ctx context.Context, deliveries []reset.Delivery, key, watermark string) error {
	now := s.now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, d := range deliveries {
			if err := enqueue(ctx, tx, rollout.Delivery(d), now); err != nil {
				return err
			}
		}
		return setMeta(ctx, tx, key, watermark)
	})
	if err != nil {
		return fmt.Errorf("save digest: %w", err)
	}
	return nil
}

func setMeta(ctx context.Context, tx *sql.Tx, key, value string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// PendingResets counts the tracked WorkSpaces not idle: in their grace, being reset, or
// waiting to be usable again.
func (s *Store) PendingResets(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE phase <> $1`, string(reset.Idle)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending resets: %w", err)
	}
	return n, nil
}
