package devpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// DefaultDatabase is the database URL names.
	DefaultDatabase = "rummage"
	// DefaultMaxSlotWALKeepSize caps the WAL a replication slot may keep:
	// a slot whose consumer is gone for good stops holding WAL there (it is
	// invalidated) instead of filling the disk.
	DefaultMaxSlotWALKeepSize = "1GB"
	// Superuser is the database role initdb creates and URL connects as.
	Superuser = "postgres"

	// maxSocketPath is what a unix socket address holds (sun_path, less
	// its terminating NUL) on Linux; the BSDs and macOS hold less (103).
	maxSocketPath = 103
	// startTimeout bounds pg_ctl start and stop (crash recovery included).
	startTimeout = "60"
)

// ErrNotInstalled is returned when no Postgres server binaries are found.
var ErrNotInstalled = errors.New("devpg: Postgres is not installed (no initdb, pg_ctl and postgres in pg_config --bindir, " + libGlob + " or $PATH)")

// Config configures a private cluster. Zero fields take the defaults noted.
type Config struct {
	// Dir holds the cluster (required): data/ (PGDATA), socket/ (its unix
	// socket), port (the port number that names the socket) and
	// postgres.log. Created when missing. As root, when the postgres user
	// cannot reach Dir's parent, the cluster lives in that user's home
	// instead (logged; the same place every time for the same Dir).
	Dir string
	// BinDir holds initdb, pg_ctl and postgres (default: FindBinDir, the
	// version that initialized Dir first).
	BinDir string
	// Database is the database URL names (default DefaultDatabase). Start
	// does not create it.
	Database string
	// MaxSlotWALKeepSize is the server's max_slot_wal_keep_size (default
	// DefaultMaxSlotWALKeepSize), e.g. "512MB".
	MaxSlotWALKeepSize string
	// Logger receives the progress lines (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.MaxSlotWALKeepSize == "" {
		c.MaxSlotWALKeepSize = DefaultMaxSlotWALKeepSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

var walSizeRE = regexp.MustCompile(`^[0-9]+(kB|MB|GB|TB)?$`)

// Validate reports what is wrong with c (after defaults).
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("devpg: Dir is required")
	case !walSizeRE.MatchString(c.MaxSlotWALKeepSize):
		return fmt.Errorf("devpg: MaxSlotWALKeepSize %q is not a size such as 1GB", c.MaxSlotWALKeepSize)
	}
	return nil
}

// Cluster is a started private cluster. Stop stops it.
type Cluster struct {
	dir  string // the cluster's directory
	bin  string
	port int
	db   string
	as   *osUser // the server's OS user; nil: this process's
	log  *slog.Logger
}

// Start starts the cluster in cfg.Dir, initializing it first when Dir
// holds none, and returns once it accepts connections. A server of Dir
// that is still running (left by a process killed before it could stop
// it) is reused; the postmaster.pid of one that is gone (killed with -9)
// is removed once none of its processes remain. Without the server
// binaries the error is ErrNotInstalled.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BinDir == "" { // before creating anything
		if _, err := FindBinDir(ctx); err != nil {
			return nil, err
		}
	}
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	c := &Cluster{db: cfg.Database, as: as, log: cfg.Logger}
	if c.dir, err = c.place(ctx, cfg.Dir); err != nil {
		return nil, err
	}
	version := c.initializedBy()
	if c.bin, err = binDir(ctx, cfg.BinDir, version); err != nil {
		if version != "" && !errors.Is(err, ErrNotInstalled) {
			err = fmt.Errorf("the cluster in %s: %w", c.dir, err)
		}
		return nil, err
	}
	if version == "" {
		if err := c.initialize(ctx); err != nil {
			return nil, err
		}
	} else if c.port, err = c.readPort(); err != nil {
		return nil, err
	}
	if n := len(c.SocketPath()); n > maxSocketPath {
		return nil, fmt.Errorf("devpg: the socket path %s is %d bytes, more than a unix socket takes (%d): put the cluster in a shorter directory", c.SocketPath(), n, maxSocketPath)
	}
	if err := c.writeConf(cfg.MaxSlotWALKeepSize); err != nil {
		return nil, err
	}
	running, err := c.clearStale(ctx)
	if err != nil {
		return nil, err
	}
	if running {
		c.log.Info("reusing the private Postgres already running on socket "+c.SocketPath(), "dir", c.dir)
		return c, c.waitReady(ctx)
	}
	if err := c.start(ctx); err != nil {
		if ctx.Err() != nil { // interrupted: the server may be up already
			err = errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
		}
		return nil, err
	}
	c.log.Info("private Postgres started on socket "+c.SocketPath(), "dir", c.dir, "log", c.logFile())
	return c, nil
}

func (c *Cluster) data() string     { return filepath.Join(c.dir, "data") }
func (c *Cluster) logFile() string  { return filepath.Join(c.dir, "postgres.log") }
func (c *Cluster) portFile() string { return filepath.Join(c.dir, "port") }
func (c *Cluster) pidFile() string  { return filepath.Join(c.data(), "postmaster.pid") }

// Dir is the cluster's directory: Config.Dir, made absolute, or the
// postgres user's place for it (see Config.Dir).
func (c *Cluster) Dir() string { return c.dir }

// SocketDir is the directory of the server's unix socket.
func (c *Cluster) SocketDir() string { return filepath.Join(c.dir, "socket") }

// SocketPath is the server's unix socket.
func (c *Cluster) SocketPath() string {
	return filepath.Join(c.SocketDir(), ".s.PGSQL."+strconv.Itoa(c.port))
}

// Port is the port number that names the socket (the server listens on no
// TCP port).
func (c *Cluster) Port() int { return c.port }

// URL is the superuser URL of Config.Database over the unix socket.
func (c *Cluster) URL() string { return c.DatabaseURL(c.db) }

// DatabaseURL is the superuser URL of database name over the unix socket.
func (c *Cluster) DatabaseURL(name string) string {
	q := url.Values{"host": {c.SocketDir()}, "port": {strconv.Itoa(c.port)}, "user": {Superuser}, "sslmode": {"disable"}}
	// pgconn reads "+" in a query as itself, not as a space.
	return "postgres:///" + url.PathEscape(name) + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// PID is the postmaster's process id, from its postmaster.pid; the error
// wraps os.ErrNotExist when there is none (the server is stopped).
func (c *Cluster) PID() (int, error) {
	b, err := os.ReadFile(c.pidFile())
	if err != nil {
		return 0, fmt.Errorf("devpg: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("devpg: %s: no process id in its first line %q", c.pidFile(), line)
	}
	return pid, nil
}

// Stop shuts the server down (pg_ctl stop -m fast: open sessions are ended,
// then a checkpoint) and waits until it is gone. A server that is not
// running is no error.
func (c *Cluster) Stop(ctx context.Context) error {
	if _, err := c.PID(); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.data(), "-m", "fast", "-w", "-t", startTimeout, "-s").CombinedOutput()
	if err != nil {
		if pid, perr := c.PID(); errors.Is(perr, os.ErrNotExist) || (perr == nil && postmasterState(pid, c.data()) == gone) {
			return nil
		}
		return fmt.Errorf("devpg: pg_ctl stop: %w: %s", err, bytes.TrimSpace(out))
	}
	c.log.Info("stopped the private Postgres", "dir", c.dir)
	return nil
}

// place returns the absolute directory of the cluster, created and, as
// root, owned by the postgres user; see Config.Dir for when it is not dir.
func (c *Cluster) place(ctx context.Context, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("devpg: %w", err)
	}
	if c.as != nil {
		parent := filepath.Dir(abs)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", fmt.Errorf("devpg: %w", err)
		}
		if !c.as.canEnter(ctx, parent) {
			alt := filepath.Join(c.as.home, "rummage-dev", fmt.Sprintf("%s-%08x", filepath.Base(abs), crc32.ChecksumIEEE([]byte(abs))))
			if !c.as.canEnter(ctx, c.as.home) {
				return "", fmt.Errorf("devpg: the %s user can reach neither %s nor its home %s: put the cluster in a directory it can reach", c.as.name, parent, c.as.home)
			}
			c.log.Info("the "+c.as.name+" user cannot reach "+parent+"; keeping the private Postgres in "+alt, "for", abs)
			if err := c.mkdir(filepath.Dir(alt)); err != nil {
				return "", err
			}
			abs = alt
		}
	}
	return abs, c.mkdir(abs)
}

// mkdir creates dir (0700) when missing, owned by the server's user.
func (c *Cluster) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	return c.as.chown(dir)
}

// initializedBy is the major version that initialized the cluster, or ""
// when there is none yet.
func (c *Cluster) initializedBy() string {
	b, err := os.ReadFile(filepath.Join(c.data(), "PG_VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// initialize runs initdb into a scratch directory and renames it into
// place, so that an interrupted initdb is started over, never reused.
func (c *Cluster) initialize(ctx context.Context) error {
	who := "this user"
	if c.as != nil {
		who = "user " + c.as.name
	}
	c.log.Info("initializing private Postgres in "+c.dir, "bin", c.bin, "as", who)
	scratch := filepath.Join(c.dir, "data.init")
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	// Trust is granted to local (unix socket) connections only: the socket
	// directory is 0700, so only the server's user (and root) can connect.
	// TCP is rejected outright, whatever listen_addresses becomes.
	out, err := c.command(ctx, "initdb", "-D", scratch, "-U", Superuser, "--auth-local=trust", "--auth-host=reject",
		"-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		return fmt.Errorf("devpg: initdb: %w: %s", err, lastLines(out, 5))
	}
	conf, err := os.OpenFile(filepath.Join(scratch, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	_, err = conf.WriteString("\n# rummage dev's settings (rewritten at every start; ALTER SYSTEM overrides them)\ninclude_if_exists = '" + confName + "'\n")
	if err := errors.Join(err, conf.Close()); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	if c.port, err = freePort(); err != nil {
		return err
	}
	if err := c.writeFile(c.portFile(), strconv.Itoa(c.port)+"\n", 0o644); err != nil {
		return err
	}
	if err := os.Rename(scratch, c.data()); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	return nil
}

func (c *Cluster) readPort() (int, error) {
	b, err := os.ReadFile(c.portFile())
	if err != nil {
		return 0, fmt.Errorf("devpg: the cluster's port: %w", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("devpg: %s holds %q, not a port", c.portFile(), b)
	}
	return port, nil
}

// confName is the file, in PGDATA, that postgresql.conf includes.
const confName = "rummage.conf"

// writeConf writes the settings the pipeline needs, at every start, so
// that a moved directory or a newer Rummage takes effect.
func (c *Cluster) writeConf(maxSlotWAL string) error {
	if err := c.mkdir(c.SocketDir()); err != nil {
		return err
	}
	conf := fmt.Sprintf(`# Written by rummage dev (internal/devpg) at every start.
listen_addresses = ''
port = %d
unix_socket_directories = '%s'
unix_socket_permissions = 0700
wal_level = logical
max_wal_senders = 16
max_replication_slots = 16
max_slot_wal_keep_size = '%s'
`, c.port, strings.ReplaceAll(c.SocketDir(), "'", "''"), maxSlotWAL)
	return c.writeFile(filepath.Join(c.data(), confName), conf, 0o600)
}

// writeFile writes a small file owned by the server's user.
func (c *Cluster) writeFile(path, content string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	return c.as.chown(path)
}

// clearStale reports whether the cluster's server is running. The
// postmaster.pid of a server that is gone is removed (with its socket's
// lock file), once every process of that server has exited: removing it
// while a backend of the killed server still runs would let a new server
// write the same files beside it.
func (c *Cluster) clearStale(ctx context.Context) (running bool, err error) {
	pid, err := c.PID()
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err == nil:
		switch postmasterState(pid, c.data()) {
		case alive:
			return true, nil
		case unknown: // no /proc: ask pg_ctl, and leave the lock file to Postgres
			return c.command(ctx, "pg_ctl", "status", "-D", c.data()).Run() == nil, nil
		}
	}
	// Gone, or a torn postmaster.pid. Backends leave within moments of
	// their postmaster's death.
	deadline := time.Now().Add(10 * time.Second)
	for left := processesIn(c.data()); len(left) > 0; left = processesIn(c.data()) {
		if time.Now().After(deadline) {
			return false, fmt.Errorf("devpg: processes %v of the stopped server of %s are still running: end them first", left, c.dir)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.log.Warn("removing the stale postmaster.pid of a private Postgres that is gone (killed?)", "pid", pid, "dir", c.dir)
	for _, p := range []string{c.pidFile(), c.SocketPath() + ".lock", c.SocketPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("devpg: %w", err)
		}
	}
	return false, nil
}

func (c *Cluster) start(ctx context.Context) error {
	out, err := c.command(ctx, "pg_ctl", "start", "-D", c.data(), "-l", c.logFile(), "-w", "-t", startTimeout, "-s").CombinedOutput()
	if err != nil {
		return fmt.Errorf("devpg: pg_ctl start: %w: %s; the end of %s:\n%s", err, bytes.TrimSpace(out), c.logFile(), c.logTail())
	}
	return nil
}

// waitReady waits until the server accepts a connection (a reused one may
// still be starting or recovering).
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgconn.Connect(ctx, c.DatabaseURL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devpg: the private Postgres on %s does not accept connections: %w", c.SocketPath(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail is the end of the server's log, for error messages.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logFile())
	return lastLines(b, 10)
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return c.as.command(ctx, c.dir, filepath.Join(c.bin, name), args...)
}

// lastLines is the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort is a loopback TCP port that was free a moment ago: the socket's
// name, and the port should TCP ever be switched on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devpg: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
