// Package testpg gives tests a fresh, empty Postgres database of their own on
// the local server, and drops it (with any replication slots on it) afterwards.
//
// Tests that need Postgres skip with a clear message when it cannot be reached,
// except under CI=true, where they fail: CI must never pass by skipping them.
// It is test plumbing only and imports no Rummage package.
package testpg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminURL is the server tests connect to: $RUMMAGE_TEST_DATABASE_URL, or the
// local trust-auth server of the project's machines.
func AdminURL() string {
	return envOr("RUMMAGE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// envOr is $key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Unavailable skips the test, or fails it under CI=true.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: tests that need a service must run, not skip)", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// Options tune New.
type Options struct {
	// Logical requires wal_level=logical (for replication tests).
	Logical bool
	// Setup, when set, runs on the new database before New returns
	// (fixtures.Migrate, for a test that needs Rummage's tables); its
	// error fails the test.
	Setup func(ctx context.Context, url string) error
}

// New creates a database named rummage_test_<random> and returns its URL.
func New(t testing.TB, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := connectAdmin(ctx, t)
	defer admin.Close(ctx)
	if opts.Logical {
		var level string
		if err := admin.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
			t.Fatalf("show wal_level: %v", err)
		}
		if level != "logical" {
			Unavailable(t, "postgres has wal_level=%s; logical replication tests need wal_level=logical (.ci/run sets it)", level)
		}
	}
	name := fmt.Sprintf("rummage_test_%d_%08x", time.Now().Unix(), rand.Uint32())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { drop(t, name) })
	u := urlOf(t, name)
	if opts.Setup != nil {
		if err := opts.Setup(context.Background(), u); err != nil {
			t.Fatalf("set up %s: %v", name, err)
		}
	}
	return u
}

// Connect connects to url and closes the connection when the test ends.
func Connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs sql on conn and fails the test, naming the statement, if it
// fails.
func Exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// connectAdmin connects to AdminURL, or skips the test (fails it under
// CI=true) when Postgres cannot be reached.
func connectAdmin(ctx context.Context, t testing.TB) *pgx.Conn {
	t.Helper()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		Unavailable(t, "postgres not reachable at %s: %v", AdminURL(), err)
	}
	return admin
}

// urlOf is the URL of database name on the server of AdminURL.
func urlOf(t testing.TB, name string) string {
	t.Helper()
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("parse %s: %v", AdminURL(), err)
	}
	u.Path = "/" + name
	return u.String()
}

// Missing returns the URL of a database that does not exist yet, on the
// server of AdminURL, for tests of code that creates its database; it is
// dropped when the test ends, if it was created.
func Missing(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connectAdmin(ctx, t).Close(ctx) // skip (or fail under CI) without a server
	name := fmt.Sprintf("rummage_test_%d_%08x", time.Now().Unix(), rand.Uint32())
	t.Cleanup(func() { drop(t, name) })
	return urlOf(t, name)
}

func drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	// Replication connections are not ended by DROP ... WITH (FORCE), and an
	// active slot blocks the drop: end them, then drop the slots.
	_, _ = admin.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
		WHERE database = $1 AND active_pid IS NOT NULL`, name)
	for i := 0; i < 50; i++ {
		_, err = admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			WHERE database = $1 AND NOT active`, name)
		var n int
		_ = admin.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE database = $1`, name).Scan(&n)
		if err == nil && n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Logf("drop database %s: %v", name, err)
	}
}
