package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MarkSNSMessage records that SNS message id was received at at (the store's clock if at is
// zero), and reports whether it had been already (seen is true, and the row is left as it was). Check and insert are one
// statement, so of two concurrent calls with the same id exactly one reports it unseen.
func (s *Store) MarkSNSMessage(ctx context.Context, id string, at time.Time) (seen bool, err error) {
	if id == "" {
		return false, errors.New("mark SNS message: no message ID")
	}
	if at.IsZero() {
		at = s.now()
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO sns_messages (message_id, seen_at) VALUES ($1, $2)
			ON CONFLICT (message_id) DO NOTHING`, id, at.UnixMilli())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		seen = n == 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("mark SNS message %q: %w", id, err)
	}
	return seen, nil
}

// ForgetSNSMessage deletes the mark of SNS message id, so that a redelivery is handled again
// (after its handling failed). Forgetting an unmarked message does nothing.
func (s *Store) ForgetSNSMessage(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sns_messages WHERE message_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget SNS message %q: %w", id, err)
	}
	return nil
}

// PruneSNSMessages deletes the marks made before before (strictly) and returns how many.
func (s *Store) PruneSNSMessages(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sns_messages WHERE seen_at < $1`, before.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune SNS messages: %w", err)
	}
	return n, nil
}
