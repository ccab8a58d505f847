package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

const (
	rolloutCols = `id, image_name, image_arn, fleet_tag, scale_immediately, state, start_at,
		tag_cleared, reason, created_at, updated_at, account, region,
		canary, wave_size, approval, waves, wave, gate, gate_since, wave_at, next_at,
		approved, approved_by, checks, drain`
	stepCols = `rollout_id, fleet, state, window_start, window_end, next_at, attempts, drain,
		saved_min, saved_max, drain_started_at, started_at, finished_at, message, escalated_at, reminded_at,
		wave, previous_image_arn, rolling_back, saved_suspended, restored_min, restored_max, drain_mode,
		applied_at, warned_at`
	savedCols = `account, region, fleet, saved_min, saved_max, rollout_id, saved_at, suspended`
)

// ActiveRollouts returns the pending and running rollouts with their steps, oldest first.
func (s *Store) ActiveRollouts(ctx context.Context) ([]rollout.Rollout, error) {
	rs, err := s.rollouts(ctx, `WHERE state IN ($1, $2) ORDER BY id`,
		string(rollout.Pending), string(rollout.Running))
	if err != nil {
		return nil, fmt.Errorf("read active rollouts: %w", err)
	}
	return rs, nil
}

// LatestRollouts returns, for each image ARN that has any rollout, its newest one with steps.
func (s *Store) LatestRollouts(ctx context.Context) (map[string]rollout.Rollout, error) {
	rs, err := s.rollouts(ctx, `WHERE id IN (SELECT MAX(id) FROM rollouts GROUP BY image_arn)`)
	if err != nil {
		return nil, fmt.Errorf("read latest rollouts: %w", err)
	}
	m := make(map[string]rollout.Rollout, len(rs))
	for _, r := range rs {
		m[r.ImageARN] = r
	}
	return m, nil
}

// Rollout returns rollout id with its steps; ok is false if there is none.
func (s *Store) Rollout(ctx context.Context, id int64) (r rollout.Rollout, ok bool, err error) {
	rs, err := s.rollouts(ctx, `WHERE id = $1`, id)
	if err != nil {
		return rollout.Rollout{}, false, fmt.Errorf("read rollout %d: %w", id, err)
	}
	if len(rs) == 0 {
		return rollout.Rollout{}, false, nil
	}
	return rs[0], true, nil
}

// Rollouts returns up to limit rollouts with their steps, newest first; a limit of zero or less
// means all of them.
func (s *Store) Rollouts(ctx context.Context, limit int) ([]rollout.Rollout, error) {
	rs, err := s.rollouts(ctx, `ORDER BY id DESC`+limitClause(limit))
	if err != nil {
		return nil, fmt.Errorf("read rollouts: %w", err)
	}
	return rs, nil
}

// rollouts returns the rollouts selected by tail (what follows "FROM rollouts": a WHERE,
// ORDER BY and LIMIT clause using args) in that order, each with its steps ordered by fleet.
// Both queries run in one read transaction, so the steps match the rollouts.
func (s *Store) rollouts(ctx context.Context, tail string, args ...any) ([]rollout.Rollout, error) {
	rolloutsQuery := `SELECT ` + rolloutCols + ` FROM rollouts ` + tail
	stepsQuery := `SELECT ` + stepCols + ` FROM steps WHERE rollout_id IN (SELECT id FROM rollouts ` + tail + `)`
	rolloutsStmt, err := s.prepared(ctx, rolloutsQuery)
	if err != nil {
		return nil, err
	}
	stepsStmt, err := s.prepared(ctx, stepsQuery)
	if err != nil {
		return nil, err
	}
	var rs []rollout.Rollout
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := queryIn(ctx, tx, rolloutsStmt, rolloutsQuery, args...)
		if err != nil {
			return err
		}
		index := make(map[int64]int)
		for rows.Next() {
			var r rollout.Rollout
			if err := rows.Scan(&r.ID, &r.ImageName, &r.ImageARN, &r.FleetTag, &r.ScaleImmediately,
				&r.State, msTime{&r.Start}, &r.TagCleared, &r.Reason, msTime{&r.CreatedAt},
				msTime{&r.UpdatedAt}, &r.Account, &r.Region,
				&r.Canary, &r.WaveSize, &r.Approval, &r.Waves, &r.Wave, &r.Gate, msTime{&r.GateSince},
				msTime{&r.WaveAt}, msTime{&r.NextAt}, &r.Approved, &r.ApprovedBy, &r.Checks, &r.Drain); err != nil {
				rows.Close()
				return err
			}
			index[r.ID] = len(rs)
			rs = append(rs, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}

		rows, err = queryIn(ctx, tx, stepsStmt, stepsQuery, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			st, err := scanStep(rows)
			if err != nil {
				return err
			}
			if i, ok := index[st.RolloutID]; ok {
				rs[i].Steps = append(rs[i].Steps, st)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// Sorted here rather than by ORDER BY, whose collation differs between databases.
	for i := range rs {
		slices.SortFunc(rs[i].Steps, func(a, b rollout.Step) int { return strings.Compare(a.Fleet, b.Fleet) })
	}
	return rs, nil
}

func scanStep(rows *sql.Rows) (rollout.Step, error) {
	var st rollout.Step
	var suspended int
	err := rows.Scan(&st.RolloutID, &st.Fleet, &st.State, msTime{&st.WindowStart}, msTime{&st.WindowEnd},
		msTime{&st.NextAt}, &st.Attempts, &st.Drain, &st.SavedMin, &st.SavedMax,
		msTime{&st.DrainStartedAt}, msTime{&st.StartedAt}, msTime{&st.FinishedAt}, &st.Message,
		msTime{&st.EscalatedAt}, msTime{&st.RemindedAt},
		&st.Wave, &st.PreviousImageARN, &st.RollingBack, &suspended, &st.Restored.Min, &st.Restored.Max, &st.DrainMode,
		msTime{&st.AppliedAt}, msTime{&st.WarnedAt})
	st.SavedSuspended = suspensionOf(suspended)
	return st, err
}

// SavedFor returns the saved Min/Max of the named fleets of one account and region that have
// any, by fleet name.
func (s *Store) SavedFor(ctx context.Context, account, region string, fleets []string) (map[string]rollout.SavedCapacity, error) {
	out := make(map[string]rollout.SavedCapacity, len(fleets))
	want := make(map[string]bool, len(fleets))
	for _, f := range fleets {
		want[f] = true
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+savedCols+` FROM saved_capacity WHERE account = $1 AND region = $2`, account, region)
	if err != nil {
		return nil, fmt.Errorf("read saved capacities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		sc, err := scanSaved(rows)
		if err != nil {
			return nil, fmt.Errorf("read saved capacities: %w", err)
		}
		if want[sc.Fleet] {
			out[sc.Fleet] = sc
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read saved capacities: %w", err)
	}
	return out, nil
}

func scanSaved(rows *sql.Rows) (rollout.SavedCapacity, error) {
	var sc rollout.SavedCapacity
	var rolloutID sql.NullInt64
	var suspended int
	err := rows.Scan(&sc.Account, &sc.Region, &sc.Fleet, &sc.Min, &sc.Max, &rolloutID, msTime{&sc.SavedAt}, &suspended)
	sc.Suspended = suspensionOf(suspended)
	sc.RolloutID = rolloutID.Int64
	return sc, err
}

// SavedCapacities returns every fleet's saved capacity, ordered by account, region and fleet.
func (s *Store) SavedCapacities(ctx context.Context) ([]rollout.SavedCapacity, error) {
	order := `account, region, fleet`
	if s.dialect == dialectPostgres {
		// Byte order, as SQLite's BINARY collation, whatever the database's collation.
		order = `account COLLATE "C", region COLLATE "C", fleet COLLATE "C"`
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+savedCols+` FROM saved_capacity ORDER BY `+order)
	if err != nil {
		return nil, fmt.Errorf("read saved capacities: %w", err)
	}
	defer rows.Close()
	var out []rollout.SavedCapacity
	for rows.Next() {
		sc, err := scanSaved(rows)
		if err != nil {
			return nil, fmt.Errorf("read saved capacities: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read saved capacities: %w", err)
	}
	return out, nil
}

// Adopt gives the rows written before fleets were keyed by account and region (migration 3),
// and the WorkSpaces trackers and reset records written before resets were (migration 8), the
// daemon's account and region; and it starts the digest watermark of that target
// (reset.DigestKey) from the one kept before targets, when that one is later. It is
// idempotent; a row already adopted is left alone, and so is an old row whose fleet or
// WorkSpace the target already has.
func (s *Store) Adopt(ctx context.Context, account, region string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if s.dialect == dialectPostgres {
			// The first UPDATEs read the table they write (NOT EXISTS): another Store adopting or
			// saving the same fleet or WorkSpace at once would make them fail on the primary
			// key. SQLite has one writer; on PostgreSQL, writers of these tables wait for this
			// transaction.
			for _, table := range []string{"saved_capacity", "workspaces"} {
				if _, err := tx.ExecContext(ctx, `LOCK TABLE `+table+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
					return err
				}
			}
		}
		for _, q := range []string{
			`UPDATE saved_capacity SET account = $1, region = $2 WHERE account = '' AND region = ''
				AND NOT EXISTS (SELECT 1 FROM saved_capacity s2 WHERE s2.account = $1 AND s2.region = $2 AND s2.fleet = saved_capacity.fleet)`,
			`UPDATE rollouts SET account = $1, region = $2 WHERE account = '' AND region = ''`,
			`UPDATE workspaces SET account = $1, region = $2 WHERE account = '' AND region = ''
				AND NOT EXISTS (SELECT 1 FROM workspaces w2 WHERE w2.account = $1 AND w2.region = $2 AND w2.id = workspaces.id)`,
			`UPDATE resets SET account = $1, region = $2 WHERE account = '' AND region = ''`,
		} {
			if _, err := tx.ExecContext(ctx, q, account, region); err != nil {
				return err
			}
		}
		return adoptWatermark(ctx, tx, account, region)
	})
	if err != nil {
		return fmt.Errorf("adopt rows of account %s, region %s: %w", account, region, err)
	}
	return nil
}

// Events returns up to limit audit events of rollout rolloutID (of all rollouts and none when
// rolloutID is 0), newest first; a limit of zero or less means all of them.
func (s *Store) Events(ctx context.Context, rolloutID int64, limit int) ([]rollout.Event, error) {
	q := `SELECT id, at, rollout_id, fleet, kind, message, account, region, workspace_id, state, call, result, error FROM events`
	var args []any
	if rolloutID != 0 {
		q += ` WHERE rollout_id = $1`
		args = append(args, rolloutID)
	}
	q += ` ORDER BY id DESC` + limitClause(limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []rollout.Event
	for rows.Next() {
		var e rollout.Event
		var rid sql.NullInt64
		if err := rows.Scan(&e.ID, msTime{&e.At}, &rid, &e.Fleet, &e.Kind, &e.Reason, &e.Account, &e.Region, &e.WorkspaceID,
			&e.State, &e.Call, &e.Result, &e.Error); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.RolloutID = rid.Int64
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// RolloutCounts returns how many rollouts are in each state.
func (s *Store) RolloutCounts(ctx context.Context) (map[rollout.State]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM rollouts GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count rollouts: %w", err)
	}
	defer rows.Close()
	out := map[rollout.State]int{}
	for rows.Next() {
		var state rollout.State
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count rollouts: %w", err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// SavedCount counts the fleets with saved capacity (drained, or about to be restored).
func (s *Store) SavedCount(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM saved_capacity`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count saved capacities: %w", err)
	}
	return n, nil
}

// TargetCount is how many rows one account and region has (of one State, for rollouts).
type TargetCount struct {
	Account, Region, State string
	N                      int
}

// RolloutCountsByTarget counts the rollouts by account, region and state.
func (s *Store) RolloutCountsByTarget(ctx context.Context) ([]TargetCount, error) {
	return s.countByTarget(ctx, "count rollouts", `SELECT account, region, state, COUNT(*) FROM rollouts GROUP BY account, region, state`)
}

// SavedCountByTarget counts the fleets with saved capacity by account and region.
func (s *Store) SavedCountByTarget(ctx context.Context) ([]TargetCount, error) {
	return s.countByTarget(ctx, "count saved capacities", `SELECT account, region, '', COUNT(*) FROM saved_capacity GROUP BY account, region`)
}

// PendingResetsByTarget counts the tracked WorkSpaces whose reset has begun and not finished,
// by account and region.
func (s *Store) PendingResetsByTarget(ctx context.Context) ([]TargetCount, error) {
	return s.countByTarget(ctx, "count pending resets", `SELECT account, region, '', COUNT(*) FROM workspaces WHERE phase <> $1 GROUP BY account, region`, string(reset.Idle))
}

func (s *Store) countByTarget(ctx context.Context, what, query string, args ...any) ([]TargetCount, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []TargetCount
	for rows.Next() {
		var c TargetCount
		if err := rows.Scan(&c.Account, &c.Region, &c.State, &c.N); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
