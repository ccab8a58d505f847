package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/deskpilot/deskpilot/internal/rollout"
)

// Apply writes c in one transaction: all of it, or on any error none of it. The parts are
// written in this order:
//  1. Create: the rollout and its steps. The store assigns the ID.
//  2. Update: the rollout's State, Start, TagCleared, Reason, UpdatedAt and its waves' fields
//     (Canary, WaveSize, Approval, Waves, Wave, Gate, GateSince, WaveAt, NextAt, Approved,
//     ApprovedBy, Checks); it must exist. What the request was (image, FleetTag,
//     ScaleImmediately, account, region) and CreatedAt never change.
//  3. Steps, each inserted or replaced in full.
//  4. Forget, then Save and Saves: a Change that forgets a fleet's capacity and saves it anew
//     replaces it; a save alone never overwrites capacity already saved (a second drain of a
//     drained fleet must not save 0/0 as the fleet's capacity). Fleets are keyed by account,
//     region and name.
//  5. Events, each of a kind of package history (others are refused).
//  6. Deliveries, each enqueued once per (Notice.ID, Sender) and due at once.
//
// Times are kept to the millisecond. A rollout's Waves and Wave, and a step's Wave, are at least
// 1 (every rollout has a wave): zero is written as 1. After a successful Apply, c shows what was
// written: the created rollout's ID and its steps' RolloutID; an event with no RolloutID in a
// Change that creates a rollout belongs to that rollout; record times left zero (a rollout's
// CreatedAt and UpdatedAt, an event's At, a capacity's SavedAt) are the store's clock; and waves
// left zero are 1. After an error, c is as it was.
func (s *Store) Apply(ctx context.Context, c *rollout.Change) error {
	if c == nil {
		return nil
	}
	now := s.now()
	var created int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if c.Create != nil {
			r := *c.Create
			stampRollout(&r, now, true)
			id, err := insertRollout(ctx, tx, r)
			if err != nil {
				return err
			}
			created = id
			for _, st := range r.Steps {
				st.RolloutID = id
				if err := upsertStep(ctx, tx, st); err != nil {
					return err
				}
			}
		}
		if c.Update != nil {
			r := *c.Update
			stampRollout(&r, now, false)
			if err := updateRollout(ctx, tx, r); err != nil {
				return err
			}
		}
		for _, st := range c.Steps {
			if err := upsertStep(ctx, tx, st); err != nil {
				return err
			}
		}
		for _, f := range c.Forget {
			if _, err := tx.ExecContext(ctx, `DELETE FROM saved_capacity WHERE account = $1 AND region = $2 AND fleet = $3`,
				f.Account, f.Region, f.Name); err != nil {
				return fmt.Errorf("forget saved capacity of fleet %s: %w", f, err)
			}
		}
		saves := c.Saves
		if c.Save != nil {
			saves = append([]rollout.SavedCapacity{*c.Save}, saves...)
		}
		for _, sc := range saves {
			if sc.SavedAt.IsZero() {
				sc.SavedAt = now
			}
			if err := saveCapacity(ctx, tx, sc); err != nil {
				return err
			}
		}
		for _, e := range c.Events {
			stampEvent(&e, created, now)
			if err := insertEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		for _, d := range c.Deliveries {
			if err := enqueue(ctx, tx, d, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply change: %w", err)
	}

	// Committed: show the caller what was written.
	if c.Create != nil {
		c.Create.ID = created
		stampRollout(c.Create, now, true)
		for i := range c.Create.Steps {
			c.Create.Steps[i].RolloutID = created
			c.Create.Steps[i].Wave = atLeastOne(c.Create.Steps[i].Wave)
		}
	}
	if c.Update != nil {
		stampRollout(c.Update, now, false)
	}
	for i := range c.Steps {
		c.Steps[i].Wave = atLeastOne(c.Steps[i].Wave)
	}
	if c.Save != nil && c.Save.SavedAt.IsZero() {
		c.Save.SavedAt = now
	}
	for i := range c.Events {
		stampEvent(&c.Events[i], created, now)
	}
	return nil
}

// stampRollout fills in the record times of r left zero, and its waves as they are written.
func stampRollout(r *rollout.Rollout, now time.Time, create bool) {
	r.Waves, r.Wave = atLeastOne(r.Waves), atLeastOne(r.Wave)
	if create && r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now
	}
}

// stampEvent fills in e's time and, in a Change that created a rollout, its rollout.
func stampEvent(e *rollout.Event, created int64, now time.Time) {
	if e.At.IsZero() {
		e.At = now
	}
	if e.RolloutID == 0 {
		e.RolloutID = created
	}
}

func insertRollout(ctx context.Context, tx *sql.Tx, r rollout.Rollout) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `
		INSERT INTO rollouts (image_name, image_arn, fleet_tag, scale_immediately, state, start_at,
			tag_cleared, reason, created_at, updated_at, account, region,
			canary, wave_size, approval, waves, wave, gate, gate_since, wave_at, next_at,
			approved, approved_by, checks, drain)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
			$13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
		RETURNING id`,
		r.ImageName, r.ImageARN, r.FleetTag, bit(r.ScaleImmediately), string(r.State), millis(r.Start),
		bit(r.TagCleared), r.Reason, millis(r.CreatedAt), millis(r.UpdatedAt), r.Account, r.Region,
		r.Canary, r.WaveSize, bit(r.Approval), atLeastOne(r.Waves), atLeastOne(r.Wave), string(r.Gate),
		millis(r.GateSince), millis(r.WaveAt), millis(r.NextAt), bit(r.Approved), r.ApprovedBy, r.Checks, r.Drain,
	).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create rollout of image %q: %w", r.ImageARN, err)
	}
	return id, nil
}

func updateRollout(ctx context.Context, tx *sql.Tx, r rollout.Rollout) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE rollouts SET state = $1, start_at = $2, tag_cleared = $3, reason = $4, updated_at = $5,
			canary = $6, wave_size = $7, approval = $8, waves = $9, wave = $10, gate = $11,
			gate_since = $12, wave_at = $13, next_at = $14, approved = $15, approved_by = $16, checks = $17
		WHERE id = $18`,
		string(r.State), millis(r.Start), bit(r.TagCleared), r.Reason, millis(r.UpdatedAt),
		r.Canary, r.WaveSize, bit(r.Approval), atLeastOne(r.Waves), atLeastOne(r.Wave), string(r.Gate),
		millis(r.GateSince), millis(r.WaveAt), millis(r.NextAt), bit(r.Approved), r.ApprovedBy, r.Checks,
		r.ID)
	if err != nil {
		return fmt.Errorf("update rollout %d: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update rollout %d: %w", r.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update rollout %d: no such rollout", r.ID)
	}
	return nil
}

func upsertStep(ctx context.Context, tx *sql.Tx, st rollout.Step) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO steps (rollout_id, fleet, state, window_start, window_end, next_at, attempts, drain,
			saved_min, saved_max, drain_started_at, started_at, finished_at, message, escalated_at, reminded_at,
			wave, previous_image_arn, rolling_back, saved_suspended, restored_min, restored_max, drain_mode,
			applied_at, warned_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
			$20, $21, $22, $23, $24, $25)
		ON CONFLICT (rollout_id, fleet) DO UPDATE SET
			state = excluded.state, window_start = excluded.window_start,
			window_end = excluded.window_end, next_at = excluded.next_at,
			attempts = excluded.attempts, drain = excluded.drain,
			saved_min = excluded.saved_min, saved_max = excluded.saved_max,
			drain_started_at = excluded.drain_started_at, started_at = excluded.started_at,
			finished_at = excluded.finished_at, message = excluded.message,
			escalated_at = excluded.escalated_at, reminded_at = excluded.reminded_at,
			wave = excluded.wave, previous_image_arn = excluded.previous_image_arn,
			rolling_back = excluded.rolling_back, saved_suspended = excluded.saved_suspended,
			restored_min = excluded.restored_min, restored_max = excluded.restored_max,
			drain_mode = excluded.drain_mode, applied_at = excluded.applied_at, warned_at = excluded.warned_at`,
		st.RolloutID, st.Fleet, string(st.State), millis(st.WindowStart), millis(st.WindowEnd),
		millis(st.NextAt), st.Attempts, bit(st.Drain), st.SavedMin, st.SavedMax,
		millis(st.DrainStartedAt), millis(st.StartedAt), millis(st.FinishedAt), st.Message,
		millis(st.EscalatedAt), millis(st.RemindedAt),
		atLeastOne(st.Wave), st.PreviousImageARN, bit(st.RollingBack), suspensionBits(st.SavedSuspended),
		st.Restored.Min, st.Restored.Max, st.DrainMode, millis(st.AppliedAt), millis(st.WarnedAt))
	if err != nil {
		return fmt.Errorf("write step %q of rollout %d: %w", st.Fleet, st.RolloutID, err)
	}
	return nil
}

// saveCapacity inserts sc unless its fleet has saved capacity already, which it keeps.
func saveCapacity(ctx context.Context, tx *sql.Tx, sc rollout.SavedCapacity) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO saved_capacity (account, region, fleet, saved_min, saved_max, rollout_id, saved_at, suspended)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (account, region, fleet) DO NOTHING`,
		sc.Account, sc.Region, sc.Fleet, sc.Min, sc.Max, nullID(sc.RolloutID), millis(sc.SavedAt), suspensionBits(sc.Suspended))
	if err != nil {
		return fmt.Errorf("save capacity of fleet %q: %w", sc.Fleet, err)
	}
	return nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, e rollout.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO events (at, rollout_id, fleet, kind, message, account, region, workspace_id, state, call, result, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		millis(e.At), nullID(e.RolloutID), e.Fleet, string(e.Kind), e.Reason, e.Account, e.Region, e.WorkspaceID,
		e.State, e.Call, e.Result, e.Error)
	if err != nil {
		return fmt.Errorf("record event %q: %w", e.Kind, err)
	}
	return nil
}

// enqueue adds d to the outbox, due at now, unless it is there already. A delivery without a
// notice ID or sender is refused: it would silently deduplicate against unrelated ones.
func enqueue(ctx context.Context, tx *sql.Tx, d rollout.Delivery, now time.Time) error {
	if d.Notice.ID == "" || d.Sender == "" {
		return fmt.Errorf("enqueue notice %q for sender %q: %w", d.Notice.ID, d.Sender,
			errors.New("notice ID and sender are required"))
	}
	body, err := json.Marshal(d.Notice)
	if err != nil {
		return fmt.Errorf("enqueue notice %q: %w", d.Notice.ID, err)
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO outbox (notice_id, sender, kind, notice, created_at, next_at)
		VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (notice_id, sender) DO NOTHING`,
		d.Notice.ID, d.Sender, d.Notice.Kind, string(body), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("enqueue notice %q for sender %q: %w", d.Notice.ID, d.Sender, err)
	}
	return nil
}

// atLeastOne is how a wave count or number is stored: a rollout always has one wave, so an
// unset (zero) one is wave 1, as rollouts written before waves existed are.
func atLeastOne(n int) int {
	return max(n, 1)
}

// nullID stores an absent reference (ID 0) as NULL, which foreign keys accept.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// suspensionBits and suspensionOf convert a SuspendedState to and from its column (see
// migration 00006).
func suspensionBits(s rollout.Suspension) int {
	return bit(s.DynamicIn) | bit(s.DynamicOut)<<1 | bit(s.Scheduled)<<2
}

func suspensionOf(bits int) rollout.Suspension {
	return rollout.Suspension{DynamicIn: bits&1 != 0, DynamicOut: bits&2 != 0, Scheduled: bits&4 != 0}
}
