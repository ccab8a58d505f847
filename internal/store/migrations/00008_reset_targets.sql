-- WorkSpaces resets keyed by target, as rollouts and saved capacity are since 00003: a tracked
-- WorkSpace is (account, region, id), and each reset record names its account and region.
-- Same conventions as 00001. Rows written before this migration belong to the daemon's own
-- account and region, which the store cannot know: they get '' here and Store.Adopt gives them
-- the daemon's account and region when it starts (and its digest watermark, kept per target
-- from now on under its own meta key, starts from the one the daemon kept before).
-- SQLite cannot change a primary key, so workspaces is rebuilt; its new columns come last, as
-- ALTER TABLE ADD COLUMN puts them on PostgreSQL.

-- +goose Up
CREATE TABLE workspaces_v8 (
    id               TEXT    NOT NULL,
    mode             TEXT    NOT NULL,
    directory_id     TEXT    NOT NULL,
    user_name        TEXT    NOT NULL,
    bundle_id        TEXT    NOT NULL,
    last_state       TEXT    NOT NULL,
    last_connected   BIGINT,
    handled_logon    BIGINT,
    pending_logon    BIGINT,
    phase            TEXT    NOT NULL,
    disconnected_at  BIGINT,
    due_at           BIGINT,
    ip_before        TEXT    NOT NULL,
    reset_started_at BIGINT,
    attempts         INTEGER NOT NULL,
    tags_checked_at  BIGINT,
    maintenance      INTEGER NOT NULL DEFAULT 0,
    waiting          TEXT    NOT NULL DEFAULT '',
    account          TEXT    NOT NULL DEFAULT '',
    region           TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (account, region, id)
);
INSERT INTO workspaces_v8 (id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
        handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
        attempts, tags_checked_at, maintenance, waiting, account, region)
    SELECT id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
        handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
        attempts, tags_checked_at, maintenance, waiting, '', '' FROM workspaces;
DROP TABLE workspaces;
ALTER TABLE workspaces_v8 RENAME TO workspaces;

ALTER TABLE resets ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE resets ADD COLUMN region  TEXT NOT NULL DEFAULT '';

-- +goose Down
-- One WorkSpace id may be tracked in several targets: the tracker of the first target (by
-- account, then region) is kept.
DELETE FROM workspaces WHERE EXISTS (SELECT 1 FROM workspaces w2 WHERE w2.id = workspaces.id
    AND (w2.account < workspaces.account OR (w2.account = workspaces.account AND w2.region < workspaces.region)));
CREATE TABLE workspaces_v7 (
    id               TEXT    PRIMARY KEY,
    mode             TEXT    NOT NULL,
    directory_id     TEXT    NOT NULL,
    user_name        TEXT    NOT NULL,
    bundle_id        TEXT    NOT NULL,
    last_state       TEXT    NOT NULL,
    last_connected   BIGINT,
    handled_logon    BIGINT,
    pending_logon    BIGINT,
    phase            TEXT    NOT NULL,
    disconnected_at  BIGINT,
    due_at           BIGINT,
    ip_before        TEXT    NOT NULL,
    reset_started_at BIGINT,
    attempts         INTEGER NOT NULL,
    tags_checked_at  BIGINT,
    maintenance      INTEGER NOT NULL DEFAULT 0,
    waiting          TEXT    NOT NULL DEFAULT ''
);
INSERT INTO workspaces_v7 (id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
        handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
        attempts, tags_checked_at, maintenance, waiting)
    SELECT id, mode, directory_id, user_name, bundle_id, last_state, last_connected,
        handled_logon, pending_logon, phase, disconnected_at, due_at, ip_before, reset_started_at,
        attempts, tags_checked_at, maintenance, waiting FROM workspaces;
DROP TABLE workspaces;
ALTER TABLE workspaces_v7 RENAME TO workspaces;
ALTER TABLE resets DROP COLUMN region;
ALTER TABLE resets DROP COLUMN account;
