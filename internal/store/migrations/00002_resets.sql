-- Non-persistent WorkSpaces (package reset), and the SNS message dedup of the webhook.
-- Same conventions as 00001: times are BIGINT unix milliseconds UTC (NULL when unset), text is
-- TEXT, and only the identity column is SQLite's own.

-- +goose Up
-- One row per tracked WorkSpace: reset.Tracked, written whole by Store.SaveResets.
CREATE TABLE workspaces (
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
    tags_checked_at  BIGINT
);

-- The reset history: reset.Record, appended only.
CREATE TABLE resets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           BIGINT  NOT NULL,
    workspace_id TEXT    NOT NULL,
    user_name    TEXT    NOT NULL,
    mode         TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL
);
-- Records reads from a time on, oldest first.
CREATE INDEX resets_at ON resets (at, id);

-- Small named values (the reset digest's watermark).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- SNS message IDs already handled; SNS delivers at least once.
CREATE TABLE sns_messages (
    message_id TEXT   PRIMARY KEY,
    seen_at    BIGINT NOT NULL
);
-- PruneSNSMessages deletes by age.
CREATE INDEX sns_messages_seen_at ON sns_messages (seen_at);

-- +goose Down
DROP TABLE sns_messages;
DROP TABLE meta;
DROP TABLE resets;
DROP TABLE workspaces;
