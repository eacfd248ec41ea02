//go:build linux

package devpg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/internal/testpg"
)

// needServer skips the test (fails it under CI=true) without the binaries.
func needServer(t *testing.T) {
	t.Helper()
	if _, err := FindBinDir(context.Background()); err != nil {
		testpg.Unavailable(t, "%v", err)
	}
}

// start starts the cluster in dir, logging into log, and stops it when the
// test ends.
func start(t *testing.T, dir string, log *bytes.Buffer) *Cluster {
	t.Helper()
	log.Reset()
	c, err := Start(context.Background(), Config{Dir: dir, Database: "postgres", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatalf("Start: %v\nlog:\n%s", err, log)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c
}

// TestLifecycle initializes a cluster, uses it, kills its postmaster with
// SIGKILL, starts it again over the stale postmaster.pid (the data
// survives), reuses it while it runs, stops it and starts it once more.
// Run as root, the server runs as the postgres user.
func TestLifecycle(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	dir := filepath.Join(testpg.OpenDir(t), "dev-postgres")
	var log bytes.Buffer

	c := start(t, dir, &log)
	for _, want := range []string{"initializing private Postgres in " + dir, "private Postgres started on socket " + c.SocketPath()} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("first start: log lacks %q:\n%s", want, &log)
		}
	}
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("connect to %s: %v", c.URL(), err)
	}
	settings := map[string]string{}
	for _, name := range []string{"wal_level", "max_slot_wal_keep_size", "listen_addresses", "data_directory", "max_replication_slots"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		settings[name] = v
	}
	want := map[string]string{"wal_level": "logical", "max_slot_wal_keep_size": "1GB", "listen_addresses": "",
		"data_directory": filepath.Join(dir, "data"), "max_replication_slots": "16"}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("%s = %q, want %q", k, settings[k], v)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// Nothing listens on TCP, and the socket's directory is the server user's alone.
	if tc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port()))); err == nil {
		tc.Close()
		t.Errorf("something accepts TCP connections on the cluster's port %d", c.Port())
	}
	if fi, err := os.Stat(c.SocketDir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := c.PID()
		for _, path := range []string{filepath.Join(dir, "data"), filepath.Join("/proc", strconv.Itoa(pid))} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if uid := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); uid != u.Uid {
				t.Errorf("%s belongs to uid %s, want postgres (%s)", path, uid, u.Uid)
			}
		}
	}

	// kill -9: the postmaster.pid stays behind, naming a dead process.
	pid, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, c.data())
	if _, err := c.PID(); err != nil {
		t.Fatalf("after kill -9 there is no postmaster.pid to clear: %v", err)
	}
	c2 := start(t, dir, &log)
	if s := log.String(); !strings.Contains(s, "removing the stale postmaster.pid") || strings.Contains(s, "initializing") {
		t.Errorf("start after kill -9: the log does not say it removed the stale pid file, or it initialized again:\n%s", s)
	}
	if c2.Port() != c.Port() {
		t.Errorf("port after a restart = %d, want the remembered %d", c2.Port(), c.Port())
	}
	var v int
	conn, err = pgx.Connect(ctx, c2.URL())
	if err == nil {
		err = conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v)
		conn.Close(ctx)
	}
	if err != nil || v != 42 {
		t.Fatalf("after kill -9 and a restart: v = %d, %v; want 42", v, err)
	}

	// A start while it runs reuses the server.
	pid2, _ := c2.PID()
	c3 := start(t, dir, &log)
	if pid3, _ := c3.PID(); pid3 != pid2 || !strings.Contains(log.String(), "reusing the private Postgres already running") {
		t.Errorf("a start while running: pid %d (was %d), log:\n%s", pid3, pid2, &log)
	}

	if err := c3.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := c3.PID(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, PID() = %v; want no postmaster.pid", err)
	}
	waitGone(t, pid2, c.data())
	if err := c3.Stop(ctx); err != nil {
		t.Errorf("Stop of a stopped cluster: %v", err)
	}

	c4 := start(t, dir, &log)
	if s := log.String(); strings.Contains(s, "stale") || strings.Contains(s, "initializing") || !strings.Contains(s, "started on socket") {
		t.Errorf("a start after a clean stop:\n%s", s)
	}
	if err := c4.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitGone waits until no process of the server of dataDir is left.
func waitGone(t *testing.T, pid int, dataDir string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); postmasterState(pid, dataDir) == alive || len(processesIn(dataDir)) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the processes of %s did not exit: %v", dataDir, processesIn(dataDir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
