-- For PostgreSQL: the same statements as ../00005_reset_snapshots.sql, which explains them.

-- +goose Up
-- 1 while deskpilot may have left the WorkSpace in ADMIN_MAINTENANCE: written before the call
-- that sets it, cleared once the WorkSpace is seen out of it (reset.Tracked.Maintenance).
ALTER TABLE workspaces ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
-- Why a due reset waits (for a snapshot), '' when it does not (reset.Tracked.Waiting).
ALTER TABLE workspaces ADD COLUMN waiting TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workspaces DROP COLUMN waiting;
ALTER TABLE workspaces DROP COLUMN maintenance;
