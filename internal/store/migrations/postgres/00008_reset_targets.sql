-- WorkSpaces resets keyed by target, for PostgreSQL: as ../00008_reset_targets.sql, which
-- explains it. PostgreSQL changes the primary key in place; the new columns come last, as on
-- SQLite.

-- +goose Up
ALTER TABLE workspaces ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN region  TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces DROP CONSTRAINT workspaces_pkey;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_pkey PRIMARY KEY (account, region, id);

ALTER TABLE resets ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE resets ADD COLUMN region  TEXT NOT NULL DEFAULT '';

-- +goose Down
DELETE FROM workspaces WHERE EXISTS (SELECT 1 FROM workspaces w2 WHERE w2.id = workspaces.id
    AND (w2.account < workspaces.account OR (w2.account = workspaces.account AND w2.region < workspaces.region)));
ALTER TABLE workspaces DROP CONSTRAINT workspaces_pkey;
ALTER TABLE workspaces DROP COLUMN region;
ALTER TABLE workspaces DROP COLUMN account;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_pkey PRIMARY KEY (id);
ALTER TABLE resets DROP COLUMN region;
ALTER TABLE resets DROP COLUMN account;
