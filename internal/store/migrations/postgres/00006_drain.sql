-- For PostgreSQL: the same statements as ../00006_drain.sql, which explains them.

-- +goose Up
-- The image's Drain tag ('' when absent).
ALTER TABLE rollouts ADD COLUMN drain TEXT NOT NULL DEFAULT '';
ALTER TABLE saved_capacity ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN saved_suspended INTEGER NOT NULL DEFAULT 0;
-- The Min/Max the restore registered (0/0 until it did).
ALTER TABLE steps ADD COLUMN restored_min    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN restored_max    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN drain_mode      TEXT    NOT NULL DEFAULT '';
-- When the image was applied (sessions that started before run on old-image instances), and
-- when admins were warned of a session deadline.
ALTER TABLE steps ADD COLUMN applied_at      BIGINT;
ALTER TABLE steps ADD COLUMN warned_at       BIGINT;

-- +goose Down
ALTER TABLE steps DROP COLUMN warned_at;
ALTER TABLE steps DROP COLUMN applied_at;
ALTER TABLE steps DROP COLUMN drain_mode;
ALTER TABLE steps DROP COLUMN restored_max;
ALTER TABLE steps DROP COLUMN restored_min;
ALTER TABLE steps DROP COLUMN saved_suspended;
ALTER TABLE saved_capacity DROP COLUMN suspended;
ALTER TABLE rollouts DROP COLUMN drain;
