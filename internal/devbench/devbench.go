package devbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/devpg"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/keys/pgkeys"
)

// Config says how to run dev.
type Config struct {
	// Name names the bench: its temporary directory, its keys, and the
	// database in the private Postgres (rummage_<Name>).
	Name string
	// Exe is the rummage binary run as "rummage dev" in a child process.
	// Serve, when set, runs dev in this process instead (tests): it gets
	// dev's arguments and returns when ctx ends; the service's CPU is then
	// not told apart from the bench's.
	Exe   string
	Serve func(ctx context.Context, args []string) error
	// DatabaseURL is a Postgres database with wal_level=logical that the
	// bench may change (created when missing, seeded when empty); empty: a
	// private Postgres in Dir/postgres.
	DatabaseURL string
	// Dir holds the private Postgres and the index (a temporary directory
	// when empty, removed by Close); a Dir of an earlier run is reused.
	Dir string
	// Listings seeded into an empty database, Seed its seed.
	Listings int
	Seed     uint64
	// Slot is dev's replication slot.
	Slot string
	// Pin runs dev on core 0 (taskset).
	Pin bool
	// DevArgs are more flags for dev.
	DevArgs []string
	// Prepare, when set, runs on the migrated database before dev starts
	// (a bench's own SQL).
	Prepare func(ctx context.Context, dbURL string) error
	// Log gets progress (nil: none).
	Log *slog.Logger
}

// Logf logs progress to Log, if any.
func (c *Config) Logf(format string, a ...any) {
	if c.Log != nil {
		c.Log.Info(fmt.Sprintf(format, a...))
	}
}

// Check reports a configuration no bench can run dev with.
func (c *Config) Check() error {
	switch {
	case c.Exe == "" && c.Serve == nil:
		return errors.New("no binary to run dev with")
	case c.Listings < 100:
		return errors.New("--listings must be at least 100")
	}
	return nil
}

// Stack is a running dev and its database.
type Stack struct {
	// API reads the API with the search key; Admin the admin listener
	// (/metrics, the CPU profile) with the admin key.
	API, Admin *Client
	Pool       *pgxpool.Pool
	// PG is the private Postgres (nil with Config.DatabaseURL).
	PG *devpg.Cluster

	cfg   Config
	dbURL string
	child *benchkit.Child // nil: in process
	stops []func()        // run in reverse by Close
}

// Start prepares the database (the private Postgres when no URL is
// given: created, migrated, seeded by dev), makes the keys, starts dev
// and waits until it is ready (the snapshot applied).
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.Exe == "" && cfg.Serve == nil {
		return nil, errors.New("devbench: no binary to run dev with")
	}
	s := &Stack{cfg: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	dir, cleanup, err := benchkit.WorkDir(cfg.Dir, "rummage-"+cfg.Name+"-")
	if err != nil {
		return nil, err
	}
	s.stops = append(s.stops, cleanup)
	s.dbURL = cfg.DatabaseURL
	if s.dbURL == "" {
		cfg.Logf("starting the private Postgres in %s", filepath.Join(dir, "postgres"))
		pg, err := devpg.Start(ctx, devpg.Config{Dir: filepath.Join(dir, "postgres"), Database: "rummage_" + cfg.Name, Logger: cfg.Log})
		if err != nil {
			return nil, fmt.Errorf("devbench: the private Postgres: %w", err)
		}
		s.PG, s.dbURL = pg, pg.URL()
		s.stops = append(s.stops, func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := pg.Stop(sctx); err != nil {
				cfg.Logf("stopping the private Postgres: %v", err)
				return
			}
			// As root, devpg keeps the cluster in the postgres user's home
			// when it cannot reach the temporary directory: removing that
			// directory does not remove it.
			if cfg.Dir == "" && !strings.HasPrefix(pg.Dir(), dir+string(filepath.Separator)) {
				if err := os.RemoveAll(pg.Dir()); err != nil {
					cfg.Logf("removing the private Postgres: %v", err)
				}
			}
		})
	}
	if _, err := fixtures.CreateDatabase(ctx, s.dbURL); err != nil {
		return nil, fmt.Errorf("devbench: create the database: %w", err)
	}
	if err := fixtures.Migrate(ctx, s.dbURL); err != nil {
		return nil, fmt.Errorf("devbench: migrate: %w", err)
	}
	if cfg.Prepare != nil {
		if err := cfg.Prepare(ctx, s.dbURL); err != nil {
			return nil, err
		}
	}
	search, admin, err := makeKeys(ctx, s.dbURL, cfg.Name)
	if err != nil {
		return nil, err
	}
	if err := s.startDev(ctx, dir, search, admin); err != nil {
		return nil, err
	}
	if cfg.Dir == "" && cfg.DatabaseURL != "" {
		// The index was temporary: a later run must take a new snapshot.
		s.stops = append(s.stops, func() {
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := pgcdc.DropSlot(dctx, s.dbURL, "", cfg.Slot); err != nil {
				cfg.Logf("drop slot %s: %v", cfg.Slot, err)
			}
		})
	}
	if s.Pool, err = pgxpool.New(ctx, s.dbURL); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, s.Pool.Close)
	return s, nil
}

// makeKeys makes a search key (following feeds take user= only from a
// server key) and an admin key (the CPU profile) before dev starts.
func makeKeys(ctx context.Context, dbURL, name string) (search, admin string, err error) {
	st, err := pgkeys.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", "", fmt.Errorf("devbench: keys: %w", err)
	}
	defer st.Close()
	label := name + " " + time.Now().UTC().Format("20060102T150405")
	if search, _, err = keys.Create(ctx, st, keys.Search, label); err != nil {
		return "", "", fmt.Errorf("devbench: create a search key: %w", err)
	}
	if admin, _, err = keys.Create(ctx, st, keys.Admin, label); err != nil {
		return "", "", fmt.Errorf("devbench: create an admin key: %w", err)
	}
	return search, admin, nil
}

// startDev runs "rummage dev" on the database and waits until it is
// ready.
func (s *Stack) startDev(ctx context.Context, dir, search, admin string) error {
	cfg := &s.cfg
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	adminAddr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	args := []string{"dev", "--database-url", s.dbURL, "--index-dir", filepath.Join(dir, "index"), "--addr", addr, "--admin-addr", adminAddr,
		"--kafka-addr", "127.0.0.1:0", "--seed-count", strconv.Itoa(cfg.Listings), "--seed", strconv.FormatUint(cfg.Seed, 10),
		"--simulate=false", "--slot", cfg.Slot, "--log-level", "warn"}
	args = append(args, cfg.DevArgs...)
	s.API = &Client{Base: "http://" + addr, Key: search,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	s.Admin = &Client{Base: "http://" + adminAddr, Key: admin, HTTP: &http.Client{Timeout: 10 * time.Minute}} // a profile takes its seconds
	cfg.Logf("starting rummage dev on %s (seeds %d listings into an empty database, then snapshots them)", s.API.Base, cfg.Listings)
	start := time.Now()
	defer func() { cfg.Logf("dev ready after %v", time.Since(start).Round(100*time.Millisecond)) }()
	if cfg.Serve != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cfg.Serve(ctx, args[1:]) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					cfg.Logf("dev: %v", err)
				}
			})
		}
		s.stops = append(s.stops, stop)
		return benchkit.WaitReady(ctx, s.API.Base+"/readyz", 10*time.Minute, done)
	}
	pin := ""
	if cfg.Pin {
		pin = benchkit.Taskset(runtime.NumCPU())
	}
	c, err := benchkit.StartChild(ctx, benchkit.ChildConfig{Exe: cfg.Exe, Args: args, Pin: pin, Core: 0, ReadyURL: s.API.Base + "/readyz",
		Line: func(l string) { cfg.Logf("dev: %s", l) }})
	if err != nil {
		return fmt.Errorf("devbench: rummage dev: %w", err)
	}
	s.child = c
	s.stops = append(s.stops, c.Stop)
	return nil
}

// Close stops dev and the private Postgres and removes a temporary
// directory.
func (s *Stack) Close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// DatabaseURL is the bench's database.
func (s *Stack) DatabaseURL() string { return s.dbURL }

// InProcess says dev runs in the bench's process (Config.Serve).
func (s *Stack) InProcess() bool { return s.child == nil }

// CPU is the service's CPU so far (zero in process).
func (s *Stack) CPU() time.Duration {
	if s.child == nil {
		return 0
	}
	return s.child.CPU()
}

// WaitIdle waits (at most 2 minutes) until the service is nearly idle for
// a second: the merge after the snapshot and the first fills are done.
func (s *Stack) WaitIdle(ctx context.Context) {
	start := time.Now()
	if s.child == nil {
		benchkit.WaitIdle(ctx, 2*time.Minute)
	} else {
		for time.Since(start) < 2*time.Minute && ctx.Err() == nil {
			c0 := s.CPU()
			time.Sleep(time.Second)
			if s.CPU()-c0 < 100*time.Millisecond {
				break
			}
		}
	}
	s.cfg.Logf("service idle after %v", time.Since(start).Round(100*time.Millisecond))
}

// Metrics reads the service's /metrics as series → value.
func (s *Stack) Metrics(ctx context.Context) (map[string]float64, error) {
	st, _, body, err := s.API.Get(ctx, "/metrics")
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("devbench: /metrics: HTTP %d, %v", st, err)
	}
	return ParseMetrics(body), nil
}

// Profile is a CPU profile of the service over d (the admin listener's
// /debug/pprof/profile; whole seconds, at least one).
func (s *Stack) Profile(ctx context.Context, d time.Duration) ([]byte, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	st, _, body, err := s.Admin.Get(ctx, "/debug/pprof/profile?seconds="+strconv.Itoa(secs))
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("devbench: CPU profile: HTTP %d, %v %.200s", st, err, body)
	}
	return body, nil
}

// Client reads a service with a key.
type Client struct {
	Base, Key string
	HTTP      *http.Client
}

// Get reads path; cache is the answer's Cache-Status.
func (c *Client) Get(ctx context.Context, path string) (status int, cache string, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return 0, "", nil, err
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Cache-Status"), body, err
}

// ParseMetrics reads Prometheus text lines "series value" (comments
// skipped).
func ParseMetrics(body []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// SumSeries sums every series of the metric name (over its labels).
func SumSeries(m map[string]float64, name string) float64 {
	var t float64
	for s, v := range m {
		if s == name || strings.HasPrefix(s, name+"{") {
			t += v
		}
	}
	return t
}
