// Package storetest provides what tests of package store and its users need to run against
// PostgreSQL.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Environment variables that PostgresURL reads.
const (
	// EnvPostgresURL names a PostgreSQL server (a postgres:// URL to any database on it, as a
	// user that may create databases) on which tests create their databases.
	EnvPostgresURL = "DESKPILOT_TEST_POSTGRES_URL"
	// EnvRequirePostgres, when "1", makes tests fail rather than skip when EnvPostgresURL is
	// unset (CI sets it so that PostgreSQL tests cannot silently not run).
	EnvRequirePostgres = "DESKPILOT_REQUIRE_POSTGRES"
)

// PostgresURL returns the URL of a new, empty database on the server that
// DESKPILOT_TEST_POSTGRES_URL names, dropped (WITH (FORCE), so open connections do not stop it)
// when the test and its subtests end. If the variable is unset, it skips the test, unless
// DESKPILOT_REQUIRE_POSTGRES=1, when it fails it.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			tb.Fatalf("%s is unset, and %s=1 requires the PostgreSQL tests to run", EnvPostgresURL, EnvRequirePostgres)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s to a postgres:// URL of a server to run them "+
			"(e.g. postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable)", EnvPostgresURL)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("%s=%q is not a postgres:// URL (%v)", EnvPostgresURL, base, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open %s: %v", EnvPostgresURL, err)
	}
	defer admin.Close()

	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("deskpilot_test_%d_%s", time.Now().Unix(), hex.EncodeToString(suffix[:]))
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("create test database on %s: %v", EnvPostgresURL, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", base)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
