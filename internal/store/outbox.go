package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/deskpilot/deskpilot/internal/notify"
)

// Due returns up to limit deliveries not yet sent, not failed for good, and due at or before
// now, oldest (lowest ID) first; a limit of zero or less means all of them.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]notify.Delivery, error) {
	query := `
		SELECT id, sender, notice, attempts FROM outbox
		WHERE sent_at IS NULL AND permanent = 0 AND next_at <= $1
		ORDER BY id` + limitClause(limit)
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read due deliveries: %w", err)
	}
	rows, err := queryIn(ctx, s.r, st, query, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read due deliveries: %w", err)
	}
	defer rows.Close()
	var out []notify.Delivery
	for rows.Next() {
		var d notify.Delivery
		var body string
		if err := rows.Scan(&d.ID, &d.Sender, &body, &d.Attempt); err != nil {
			return nil, fmt.Errorf("read due deliveries: %w", err)
		}
		if err := json.Unmarshal([]byte(body), &d.Notice); err != nil {
			return nil, fmt.Errorf("read due delivery %d: decode notice: %w", d.ID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read due deliveries: %w", err)
	}
	return out, nil
}

// MarkSent records that delivery id was sent at at, counting the attempt; it is never due
// again. Marking a delivery sent twice keeps the first time.
func (s *Store) MarkSent(ctx context.Context, id int64, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return updateDelivery(ctx, tx, id, `
			UPDATE outbox SET sent_at = $1, attempts = attempts + 1
			WHERE id = $2 AND sent_at IS NULL`, at.UnixMilli(), id)
	})
	if err != nil {
		return fmt.Errorf("mark delivery %d sent: %w", id, err)
	}
	return nil
}

// MarkFailed records failed attempt number attempt of delivery id: unless permanent, it is due
// again at next; if permanent, never. A delivery already sent stays sent.
func (s *Store) MarkFailed(ctx context.Context, id int64, attempt int, next time.Time, lastErr string, permanent bool) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return updateDelivery(ctx, tx, id, `
			UPDATE outbox SET attempts = $1, next_at = $2, last_error = $3, permanent = $4
			WHERE id = $5 AND sent_at IS NULL`, attempt, next.UnixMilli(), lastErr, bit(permanent), id)
	})
	if err != nil {
		return fmt.Errorf("mark delivery %d failed: %w", id, err)
	}
	return nil
}

// updateDelivery runs an update of delivery id guarded by "sent_at IS NULL", and reports an
// error only if the delivery does not exist (one already sent is left as it is).
func updateDelivery(ctx context.Context, tx *sql.Tx, id int64, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM outbox WHERE id = $1`, id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return errors.New("no such delivery")
	case err != nil:
		return err
	}
	return nil
}

// OutboxStats counts the deliveries in the outbox by outcome.
type OutboxStats struct {
	// Pending deliveries are still to be sent, including those waiting to retry.
	Pending int
	// Sent deliveries were sent.
	Sent int
	// Failed deliveries failed for good and will not be retried.
	Failed int
}

// OutboxStats counts the deliveries in the outbox by outcome.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	err := s.r.QueryRowContext(ctx, `
		SELECT
			COALESCE(SUM(CASE WHEN sent_at IS NULL AND permanent = 0 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN sent_at IS NULL AND permanent <> 0 THEN 1 ELSE 0 END), 0)
		FROM outbox`).Scan(&st.Pending, &st.Sent, &st.Failed)
	if err != nil {
		return OutboxStats{}, fmt.Errorf("count deliveries: %w", err)
	}
	return st, nil
}

// DeliveryRecord is one outbox row as the API and CLI show it.
type DeliveryRecord struct {
	ID       int64
	NoticeID string
	Kind     string
	Sender   string
	// Attempt is the number of attempts made, the successful one included.
	Attempt int
	// NextAt is when the delivery is (or was last) due.
	NextAt time.Time
	// SentAt is when it was sent; zero until then.
	SentAt time.Time
	// LastError is the error of the latest failed attempt, if any.
	LastError string
	// Permanent is set when the delivery failed for good.
	Permanent bool
}

// Deliveries returns up to limit outbox rows, newest first; a limit of zero or less means all.
func (s *Store) Deliveries(ctx context.Context, limit int) ([]DeliveryRecord, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT id, notice_id, kind, sender, attempts, next_at, sent_at, last_error, permanent
		FROM outbox ORDER BY id DESC`+limitClause(limit))
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	var out []DeliveryRecord
	for rows.Next() {
		var d DeliveryRecord
		if err := rows.Scan(&d.ID, &d.NoticeID, &d.Kind, &d.Sender, &d.Attempt, msTime{&d.NextAt},
			msTime{&d.SentAt}, &d.LastError, &d.Permanent); err != nil {
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	return out, nil
}
