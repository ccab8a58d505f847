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

var (
	_ reset.Store = (*Store)(nil)
	_ reset.Store = (*Resets)(nil)
)

const trackedCols = `id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
	handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
	attempts, tags_checked_at, maintenance, waiting, account, region`

// Resets is the WorkSpaces reset state of one target (AWS account and region), for the reset
// controller of that target: a reset.Store that reads, writes and removes the trackers and
// reads the records of the target alone. It is safe for concurrent use, as its Store is.
type Resets struct {
	s               *Store
	account, region string
}

// Resets returns the reset state of the target (account, region). A tracker or record written
// or removed through it with an empty Account and Region is the target's; one of another
// target is an error. With account and region both empty the view is the Store's own methods:
// every target's rows, each tracker written or removed where its Account and Region say (what
// a reset controller without a target needs).
func (s *Store) Resets(account, region string) *Resets {
	return &Resets{s: s, account: account, region: region}
}

// scoped says whether r is one target's view rather than every target's.
func (r *Resets) scoped() bool { return r.account != "" || r.region != "" }

// place returns where a tracker or record of account and region (as the caller set them) is
// written: the view's target, or an error if it names another one.
func (r *Resets) place(what, account, region string) (string, string, error) {
	if !r.scoped() || (account == r.account && region == r.region) {
		return account, region, nil
	}
	if account == "" && region == "" {
		return r.account, r.region, nil
	}
	return "", "", fmt.Errorf("%s is of account %q, region %q, not of this store's %q, %q", what, account, region, r.account, r.region)
}

// Trackers returns every tracked WorkSpace of every target, in one query, by WorkSpace ID.
// WorkSpace IDs are unique across AWS, but should one ID be tracked in several targets, the
// first target's tracker (by account, then region) is under the ID and each other one under
// "account/region/ID": none is left out. Times come back in UTC, to the millisecond.
func (s *Store) Trackers(ctx context.Context) (map[string]reset.Tracked, error) {
	return s.Resets("", "").Trackers(ctx)
}

// Trackers returns the target's tracked WorkSpaces by ID (every target's, as Store.Trackers
// keys them, for the unscoped view), in one query. Times come back in UTC, to the millisecond.
func (r *Resets) Trackers(ctx context.Context) (map[string]reset.Tracked, error) {
	q, args := `SELECT `+trackedCols+` FROM workspaces ORDER BY account, region, id`, []any(nil)
	if r.scoped() {
		q, args = `SELECT `+trackedCols+` FROM workspaces WHERE account = $1 AND region = $2`, []any{r.account, r.region}
	}
	rows, err := r.s.r.QueryContext(ctx, q, args...)
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
			&t.Attempts, msTime{&t.TagsCheckedAt}, &maintenance, &t.Waiting, &t.Account, &t.Region); err != nil {
			return nil, fmt.Errorf("read tracked workspaces: %w", err)
		}
		t.Maintenance = maintenance != 0
		key := t.ID
		if _, taken := out[key]; taken {
			key = t.Account + "/" + t.Region + "/" + t.ID
		}
		out[key] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tracked workspaces: %w", err)
	}
	return out, nil
}

// SaveResets is Resets.SaveResets on every target's rows (Store.Resets("", "")).
func (s *Store) SaveResets(ctx context.Context, save, remove []reset.Tracked, records []reset.Record, deliveries []reset.Delivery) error {
	return s.Resets("", "").SaveResets(ctx, save, remove, records, deliveries)
}

// SaveResets writes, in one transaction (all of it, or on any error none of it):
//  1. save, each tracker inserted or replaced in full by account, region and ID (a tracker
//     without an ID, or of another target than the view's, is an error);
//  2. remove, the trackers deleted by account, region and ID, the rest of each ignored (one of
//     another target than the view's is an error; one not tracked is ignored);
//  3. records, appended to the history, an At left zero being the store's clock (a record of
//     another target than the view's is an error);
//  4. deliveries, enqueued in the outbox as Apply enqueues a rollout's: once per
//     (Notice.ID, Sender) across both, due at once. A delivery without a notice ID or sender is
//     an error.
//
// Trackers and records with an empty Account and Region are the view's target's.
// Times are kept to the millisecond. The caller's slices are not modified.
func (r *Resets) SaveResets(ctx context.Context, save, remove []reset.Tracked, records []reset.Record, deliveries []reset.Delivery) error {
	if len(save) == 0 && len(remove) == 0 && len(records) == 0 && len(deliveries) == 0 {
		return nil
	}
	now := r.s.now()
	err := r.s.write(ctx, func(tx *sql.Tx) error {
		if err := r.upsertTrackers(ctx, tx, save); err != nil {
			return err
		}
		if err := r.deleteTrackers(ctx, tx, remove); err != nil {
			return err
		}
		if err := r.insertRecords(ctx, tx, records, now); err != nil {
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

func (r *Resets) upsertTrackers(ctx context.Context, tx *sql.Tx, save []reset.Tracked) error {
	if len(save) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO workspaces (`+trackedCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
		ON CONFLICT (account, region, id) DO UPDATE SET
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
		account, region, err := r.place(fmt.Sprintf("tracked workspace %q", t.ID), t.Account, t.Region)
		if err != nil {
			return fmt.Errorf("write tracked workspace: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, t.ID, string(t.Mode), t.DirectoryID, t.UserName, t.BundleID,
			t.LastState, millis(t.LastConnected), millis(t.HandledLogon), millis(t.PendingLogon),
			string(t.Phase), millis(t.DisconnectedAt), millis(t.DueAt), t.IPBefore,
			millis(t.ResetStartedAt), t.Attempts, millis(t.TagsCheckedAt), boolInt(t.Maintenance), t.Waiting,
			account, region); err != nil {
			return fmt.Errorf("write tracked workspace %q: %w", t.ID, err)
		}
	}
	return nil
}

func (r *Resets) deleteTrackers(ctx context.Context, tx *sql.Tx, remove []reset.Tracked) error {
	if len(remove) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM workspaces WHERE account = $1 AND region = $2 AND id = $3`)
	if err != nil {
		return fmt.Errorf("delete tracked workspaces: %w", err)
	}
	defer stmt.Close()
	for _, t := range remove {
		account, region, err := r.place(fmt.Sprintf("tracked workspace %q", t.ID), t.Account, t.Region)
		if err != nil {
			return fmt.Errorf("delete tracked workspace: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, account, region, t.ID); err != nil {
			return fmt.Errorf("delete tracked workspace %q: %w", t.ID, err)
		}
	}
	return nil
}

func (r *Resets) insertRecords(ctx context.Context, tx *sql.Tx, records []reset.Record, now time.Time) error {
	if len(records) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO resets (at, workspace_id, user_name, mode, outcome, reason, account, region)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`)
	if err != nil {
		return fmt.Errorf("record resets: %w", err)
	}
	defer stmt.Close()
	for _, rec := range records {
		at := rec.At
		if at.IsZero() {
			at = now
		}
		account, region, err := r.place(fmt.Sprintf("%s of workspace %q", rec.Outcome, rec.WorkspaceID), rec.Account, rec.Region)
		if err != nil {
			return fmt.Errorf("record resets: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, at.UnixMilli(), rec.WorkspaceID, rec.UserName, string(rec.Mode),
			rec.Outcome, rec.Reason, account, region); err != nil {
			return fmt.Errorf("record %s of workspace %q: %w", rec.Outcome, rec.WorkspaceID, err)
		}
	}
	return nil
}

// Records returns the reset history of every target from since on (inclusive; the zero time
// means all of it), oldest first (by At, then by order written), at most limit records; a limit
// of zero or less means all of them.
func (s *Store) Records(ctx context.Context, since time.Time, limit int) ([]reset.Record, error) {
	// The zero time's milliseconds are below any stored time's: all of it.
	return s.records(ctx, `WHERE at >= $1 ORDER BY at, id`+limitClause(limit), since.UnixMilli())
}

// RecordsBetween is Resets.RecordsBetween of every target (Store.Resets("", "")).
func (s *Store) RecordsBetween(ctx context.Context, since, until time.Time) ([]reset.Record, error) {
	return s.Resets("", "").RecordsBetween(ctx, since, until)
}

// RecordsBetween returns the target's reset history (every target's, for the unscoped view) of
// the period [since, until), oldest first (by At, then by order written). Both bounds are taken
// to the millisecond, as the records' times are stored (anything finer is dropped), so that
// periods sharing a bound, [a, b) and [b, c), share no record and together miss none: a record
// written at b's millisecond is in the second.
func (r *Resets) RecordsBetween(ctx context.Context, since, until time.Time) ([]reset.Record, error) {
	if r.scoped() {
		return r.s.records(ctx, `WHERE at >= $1 AND at < $2 AND account = $3 AND region = $4 ORDER BY at, id`,
			since.UnixMilli(), until.UnixMilli(), r.account, r.region)
	}
	return r.s.records(ctx, `WHERE at >= $1 AND at < $2 ORDER BY at, id`, since.UnixMilli(), until.UnixMilli())
}

func (s *Store) records(ctx context.Context, where string, args ...any) ([]reset.Record, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT at, account, region, workspace_id, user_name, mode, outcome, reason FROM resets `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read reset records: %w", err)
	}
	defer rows.Close()
	var out []reset.Record
	for rows.Next() {
		var r reset.Record
		if err := rows.Scan(msTime{&r.At}, &r.Account, &r.Region, &r.WorkspaceID, &r.UserName, &r.Mode, &r.Outcome, &r.Reason); err != nil {
			return nil, fmt.Errorf("read reset records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read reset records: %w", err)
	}
	return out, nil
}

// Meta is Store.Meta: small named values are not per target (the digest watermark's key is,
// see reset.DigestKey).
func (r *Resets) Meta(ctx context.Context, key string) (string, error) { return r.s.Meta(ctx, key) }

// SetMeta is Store.SetMeta.
func (r *Resets) SetMeta(ctx context.Context, key, value string) error {
	return r.s.SetMeta(ctx, key, value)
}

// SaveDigest is Store.SaveDigest.
func (r *Resets) SaveDigest(ctx context.Context, deliveries []reset.Delivery, key, watermark string) error {
	return r.s.SaveDigest(ctx, deliveries, key, watermark)
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

// adoptWatermark sets the digest watermark of the target (account, region) to the one kept
// before targets, if that one is set and later (or the target has none): the target's digest
// goes on where the daemon's last one ended, and no period is digested twice. The old value is
// kept, for a daemon whose reset controller has no target.
func adoptWatermark(ctx context.Context, tx *sql.Tx, account, region string) error {
	key, legacy := reset.DigestKey(account, region), reset.DigestKey("", "")
	if key == legacy {
		return nil
	}
	read := func(k string) (string, time.Time, error) {
		var v string
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, k).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return "", time.Time{}, nil
		}
		t, _ := time.Parse(time.RFC3339Nano, v) // unreadable counts as none
		return v, t, err
	}
	old, oldAt, err := read(legacy)
	if err != nil || oldAt.IsZero() {
		return err
	}
	_, at, err := read(key)
	if err != nil || (!at.IsZero() && !oldAt.After(at)) {
		return err
	}
	return setMeta(ctx, tx, key, old)
}
