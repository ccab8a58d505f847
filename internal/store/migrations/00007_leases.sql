-- Leases (see lease.go): named, expiring holds on the store, the leader lease of several
-- deskpilot replicas on one PostgreSQL among them. On SQLite, which one process holds at a
-- time, the lease is trivially that process's, but the same code path runs.
-- Same conventions as 00001: times are BIGINT unix milliseconds UTC, by the database's clock
-- (on SQLite, the store's). A lease is held while expires_at is after now; epoch grows by one
-- each time the lease starts a new term (a new holder, or its holder taking it again after it
-- ran out), and fenced writes compare it.

-- +goose Up
CREATE TABLE leases (
    name        TEXT   PRIMARY KEY,
    holder      TEXT   NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
