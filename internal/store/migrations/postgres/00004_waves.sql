-- For PostgreSQL: the same statements as ../00004_waves.sql, which explains them.

-- +goose Up
-- What the admin asked for: the Canary tag as written ('' for none), the Waves tag (0: the
-- configured size) and Approval=Manual.
ALTER TABLE rollouts ADD COLUMN canary      TEXT    NOT NULL DEFAULT '';
ALTER TABLE rollouts ADD COLUMN wave_size   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN approval    INTEGER NOT NULL DEFAULT 0;
-- Where the rollout is: how many waves, the highest released one, and its gate.
ALTER TABLE rollouts ADD COLUMN waves       INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rollouts ADD COLUMN wave        INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rollouts ADD COLUMN gate        TEXT    NOT NULL DEFAULT '';
ALTER TABLE rollouts ADD COLUMN gate_since  BIGINT;
ALTER TABLE rollouts ADD COLUMN wave_at     BIGINT;
ALTER TABLE rollouts ADD COLUMN next_at     BIGINT;
ALTER TABLE rollouts ADD COLUMN approved    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN approved_by TEXT    NOT NULL DEFAULT '';
ALTER TABLE rollouts ADD COLUMN checks      TEXT    NOT NULL DEFAULT '';

-- A step's wave, and the way back: the image its fleet ran when it started.
ALTER TABLE steps ADD COLUMN wave               INTEGER NOT NULL DEFAULT 1;
ALTER TABLE steps ADD COLUMN previous_image_arn TEXT    NOT NULL DEFAULT '';
ALTER TABLE steps ADD COLUMN rolling_back       INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE steps DROP COLUMN wave;
ALTER TABLE steps DROP COLUMN previous_image_arn;
ALTER TABLE steps DROP COLUMN rolling_back;
ALTER TABLE rollouts DROP COLUMN canary;
ALTER TABLE rollouts DROP COLUMN wave_size;
ALTER TABLE rollouts DROP COLUMN approval;
ALTER TABLE rollouts DROP COLUMN waves;
ALTER TABLE rollouts DROP COLUMN wave;
ALTER TABLE rollouts DROP COLUMN gate;
ALTER TABLE rollouts DROP COLUMN gate_since;
ALTER TABLE rollouts DROP COLUMN wave_at;
ALTER TABLE rollouts DROP COLUMN next_at;
ALTER TABLE rollouts DROP COLUMN approved;
ALTER TABLE rollouts DROP COLUMN approved_by;
ALTER TABLE rollouts DROP COLUMN checks;
