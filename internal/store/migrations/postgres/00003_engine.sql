-- The engine's reshaping, for PostgreSQL: as ../00003_engine.sql. saved_capacity is rebuilt
-- the same way, so that its columns come in the same order on both databases; the rebuilt
-- table's constraints are renamed after the table, as if it had been created under its name.

-- +goose Up
ALTER TABLE rollouts ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE rollouts ADD COLUMN region  TEXT NOT NULL DEFAULT '';

ALTER TABLE steps ADD COLUMN escalated_at BIGINT;
ALTER TABLE steps ADD COLUMN reminded_at  BIGINT;

CREATE TABLE saved_capacity_v3 (
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    fleet      TEXT    NOT NULL,
    saved_min  INTEGER NOT NULL,
    saved_max  INTEGER NOT NULL,
    rollout_id BIGINT  REFERENCES rollouts (id),
    saved_at   BIGINT  NOT NULL,
    PRIMARY KEY (account, region, fleet)
);
INSERT INTO saved_capacity_v3 (account, region, fleet, saved_min, saved_max, rollout_id, saved_at)
    SELECT '', '', fleet, saved_min, saved_max, rollout_id, saved_at FROM saved_capacity;
DROP TABLE saved_capacity;
ALTER TABLE saved_capacity_v3 RENAME TO saved_capacity;
ALTER TABLE saved_capacity RENAME CONSTRAINT saved_capacity_v3_pkey TO saved_capacity_pkey;
ALTER TABLE saved_capacity RENAME CONSTRAINT saved_capacity_v3_rollout_id_fkey TO saved_capacity_rollout_id_fkey;

ALTER TABLE events ADD COLUMN account      TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN region       TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN state        TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN call         TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN result       TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN error        TEXT NOT NULL DEFAULT '';
UPDATE events SET state = kind, kind = 'step'
    WHERE fleet <> '' AND kind IN ('waiting', 'applying', 'saving', 'draining', 'restoring', 'done', 'skipped', 'failed', 'cancelled');
UPDATE events SET kind = 'call', call = 'unknown', result = 'transient', error = message WHERE kind = 'error';
UPDATE events SET state = kind WHERE kind IN ('succeeded', 'failed', 'cancelled', 'superseded', 'refused');
UPDATE events SET state = 'pending' WHERE kind = 'planned';
UPDATE events SET state = 'running' WHERE kind = 'started';

-- +goose Down
ALTER TABLE events DROP COLUMN account;
ALTER TABLE events DROP COLUMN region;
ALTER TABLE events DROP COLUMN workspace_id;
ALTER TABLE events DROP COLUMN state;
ALTER TABLE events DROP COLUMN call;
ALTER TABLE events DROP COLUMN result;
ALTER TABLE events DROP COLUMN error;
ALTER TABLE steps DROP COLUMN escalated_at;
ALTER TABLE steps DROP COLUMN reminded_at;
ALTER TABLE rollouts DROP COLUMN account;
ALTER TABLE rollouts DROP COLUMN region;
CREATE TABLE saved_capacity_v2 (
    fleet      TEXT    PRIMARY KEY,
    saved_min  INTEGER NOT NULL,
    saved_max  INTEGER NOT NULL,
    rollout_id BIGINT  REFERENCES rollouts (id),
    saved_at   BIGINT  NOT NULL
);
INSERT INTO saved_capacity_v2 SELECT fleet, saved_min, saved_max, rollout_id, saved_at FROM saved_capacity;
DROP TABLE saved_capacity;
ALTER TABLE saved_capacity_v2 RENAME TO saved_capacity;
ALTER TABLE saved_capacity RENAME CONSTRAINT saved_capacity_v2_pkey TO saved_capacity_pkey;
ALTER TABLE saved_capacity RENAME CONSTRAINT saved_capacity_v2_rollout_id_fkey TO saved_capacity_rollout_id_fkey;
