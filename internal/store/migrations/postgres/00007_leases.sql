-- Leases, for PostgreSQL: as ../00007_leases.sql, which explains them.

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
