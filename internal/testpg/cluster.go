package testpg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/internal/testkit"
)

// BinDir holds the Postgres 15 server binaries (initdb, pg_ctl):
// $RUMMAGE_PG_BIN, or Debian's location.
func BinDir() string { return envOr("RUMMAGE_PG_BIN", "/usr/lib/postgresql/15/bin") }

// Cluster is a private, throwaway Postgres server for one test: its own data
// directory and port, wal_level=logical, fsync on. A test that restarts or
// crashes Postgres uses one so that it does not disturb the tests of other
// packages running on the shared server.
type Cluster struct {
	dir  string // owns data/ and the log
	port int
	run  []string // prefix that runs a command as the cluster's OS user
	uid  int      // the cluster's OS user when running as root, else -1
	gid  int
}

// Shutdown modes of Restart (pg_ctl -m).
const (
	// Fast shuts down cleanly: a checkpoint, then exit.
	Fast = "fast"
	// Immediate kills the server without a checkpoint, as a crash would;
	// the next start runs crash recovery from the WAL.
	Immediate = "immediate"
)

// NewCluster initializes and starts a cluster and stops and removes it when
// the test ends. Without the binaries (BinDir), or as root without a
// postgres user to run them as, the test is Unavailable.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir(), b)); err != nil {
			Unavailable(t, "no Postgres server binaries in %s (%v); set RUMMAGE_PG_BIN", BinDir(), err)
		}
	}
	c := &Cluster{uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the server as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			Unavailable(t, "running as root and there is no postgres user to run initdb as: %v", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			Unavailable(t, "running as root and runuser is missing: %v", err)
		}
		c.run = []string{runuser, "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "rummage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.pgctl(t, "stop", "-m", Immediate)
		os.RemoveAll(dir)
	})
	if c.uid >= 0 {
		if err := os.Chown(dir, c.uid, c.gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.cmd("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		c.port = testkit.FreePort(t)
		conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
max_connections = 60
fsync = on
shared_buffers = 32MB
`, c.port)
		// postgresql.auto.conf is read last: rewriting it replaces the port.
		if err := c.writeConf(conf); err != nil {
			t.Fatal(err)
		}
		err := c.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("start postgres: %v\n%s", err, c.Log())
		}
	}
	return c
}

func (c *Cluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

func (c *Cluster) cmd(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, c.run...), filepath.Join(BinDir(), name)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *Cluster) writeConf(conf string) error {
	path := filepath.Join(c.data(), "postgresql.auto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return err
	}
	if c.uid >= 0 {
		return os.Chown(path, c.uid, c.gid)
	}
	return nil
}

func (c *Cluster) start() error {
	out, err := c.cmd("pg_ctl", "start", "-D", c.data(), "-l", c.logFile(), "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *Cluster) pgctl(t testing.TB, args ...string) {
	t.Helper()
	args = append(args, "-D", c.data(), "-w", "-t", "60")
	if out, err := c.cmd("pg_ctl", args...).CombinedOutput(); err != nil {
		t.Logf("pg_ctl %v: %v: %s", args, err, bytes.TrimSpace(out))
	}
}

// URL is the superuser URL of the cluster's postgres database.
func (c *Cluster) URL() string { return c.DatabaseURL("postgres") }

// DatabaseURL is the superuser URL of database name.
func (c *Cluster) DatabaseURL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// Restart stops the server with mode (Fast or Immediate) and starts it
// again, waiting until it accepts connections. Connections die; clients
// must reconnect.
func (c *Cluster) Restart(t testing.TB, mode string) {
	t.Helper()
	if out, err := c.cmd("pg_ctl", "stop", "-D", c.data(), "-m", mode, "-w", "-t", "60").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop -m %s: %v: %s\n%s", mode, err, bytes.TrimSpace(out), c.Log())
	}
	if err := c.start(); err != nil {
		t.Fatalf("%v\n%s", err, c.Log())
	}
	c.waitReady(t)
}

// Stop stops the server (fast). The test's cleanup also stops it.
func (c *Cluster) Stop(t testing.TB) { t.Helper(); c.pgctl(t, "stop", "-m", Fast) }

// waitReady waits until a connection succeeds: after crash recovery pg_ctl
// can return before the server accepts them.
func (c *Cluster) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.URL())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not accepting connections: %v\n%s", err, c.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns the server log (for failure messages).
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.logFile())
	return string(b)
}

// OpenDir returns a fresh directory that every OS user can enter (0755,
// unlike t.TempDir's 0700 ones), removed when the test ends: a server that
// runs as the postgres user while the test runs as root must reach it.
func OpenDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rummage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
