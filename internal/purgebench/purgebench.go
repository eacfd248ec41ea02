package purgebench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/devpg"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/keys/pgkeys"
)

// Config configures the bench. Zero fields take Defaults.
type Config struct {
	// Exe is the rummage binary run as "rummage dev" in a child process
	// (os.Executable). Serve, when set, runs dev in this process instead
	// (tests): it gets dev's arguments and returns when ctx ends; the
	// service's CPU is then not told apart from the bench's.
	Exe   string
	Serve func(ctx context.Context, args []string) error
	// DatabaseURL is a Postgres database with wal_level=logical that the
	// bench may change (created when missing, seeded when empty); empty: a
	// private Postgres in Dir/postgres (internal/devpg), database
	// rummage_pb_purge.
	DatabaseURL string
	// Dir holds the private Postgres and the index (a temporary directory
	// when empty, removed afterwards); a Dir of an earlier run is reused
	// (its catalog has the earlier run's writes).
	Dir string
	// Listings seeded into an empty database (100,000), Seed its seed (1).
	Listings int
	Seed     uint64
	// Rate is the changes per second committed, sales and the shares that
	// put each sold listing into the party included (2,000).
	Rate float64
	// SaleRate is the sales per second (5); PartyShareRate the other
	// shares per second into the bench's party (5), out of the mix.
	SaleRate, PartyShareRate float64
	// Warmup is how long the writes run before the first sale (10 s),
	// Duration how long sales are made (60 s).
	Warmup, Duration time.Duration
	// Lead is the time from a sold listing's share into the party to its
	// sale (1.5 s: long enough to be on the party feed).
	Lead time.Duration
	// Pollers is how many page reads may be in flight at once (4);
	// PollInterval the least time between two reads of one page (10 ms);
	// Settle how long a page must stay clean before its polling stops
	// (300 ms); Timeout how long after a sale polling gives up (10 s).
	Pollers                       int
	PollInterval, Settle, Timeout time.Duration
	// TxSize changes per transaction of the mixed writes (5), Workers
	// their connections (8).
	TxSize, Workers int
	// Slot is dev's replication slot (rummage_purgebench).
	Slot string
	// Pin runs dev on core 0 (taskset) and leaves the rest unpinned.
	Pin bool
	// DevArgs are more flags for dev (e.g. --linger 50ms), to compare
	// settings.
	DevArgs []string
	// Log gets progress (nil: none).
	Log *slog.Logger
}

func (c *Config) withDefaults() {
	set := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setI(&c.Listings, 100000)
	if c.Seed == 0 {
		c.Seed = 1
	}
	set(&c.Rate, 2000)
	set(&c.SaleRate, 5)
	set(&c.PartyShareRate, 5)
	setD(&c.Warmup, 10*time.Second)
	setD(&c.Duration, 60*time.Second)
	setD(&c.Lead, 1500*time.Millisecond)
	setI(&c.Pollers, 4)
	setD(&c.PollInterval, 10*time.Millisecond)
	setD(&c.Settle, 300*time.Millisecond)
	setD(&c.Timeout, 10*time.Second)
	setI(&c.TxSize, 5)
	setI(&c.Workers, 8)
	if c.Slot == "" {
		c.Slot = "rummage_purgebench"
	}
}

// Defaults is the configuration's defaults (for flags).
func Defaults() Config {
	var c Config
	c.withDefaults()
	return c
}

// Validate checks the configuration (after defaults).
func (c *Config) Validate() error {
	switch {
	case c.Exe == "" && c.Serve == nil:
		return errors.New("purgebench: no binary to run dev with")
	case c.Listings < 100:
		return errors.New("purgebench: --listings must be at least 100")
	case c.Rate < 0 || c.SaleRate < 0 || c.PartyShareRate < 0 || c.Warmup < 0 || c.Duration < 0 || c.Lead < 0 ||
		c.Pollers < 0 || c.PollInterval < 0 || c.Settle < 0 || c.Timeout < 0 || c.TxSize < 0 || c.Workers < 0:
		return errors.New("purgebench: negative setting")
	case c.Rate <= 2*c.SaleRate+c.PartyShareRate:
		return fmt.Errorf("purgebench: --rate %.0f leaves no mixed writes beside %.0f sales, as many shares and %.0f party shares a second", c.Rate, c.SaleRate, c.PartyShareRate)
	}
	return nil
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		c.Log.Info(fmt.Sprintf(format, a...))
	}
}

// Run runs the bench.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, cleanup, err := benchkit.WorkDir(cfg.Dir, "rummage-purge-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rep := &Report{DevArgs: strings.Join(cfg.DevArgs, " "), Rate: cfg.Rate, SaleRate: cfg.SaleRate, PartyShareRate: cfg.PartyShareRate, Mix: mixString(),
		DurationS: cfg.Duration.Seconds(), Cores: runtime.NumCPU(), LoadAvgStart: benchkit.LoadAvg()}
	dbURL, pg, err := database(ctx, &cfg, dir)
	if err != nil {
		return nil, err
	}
	if pg != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := pg.Stop(sctx); err != nil {
				cfg.logf("stopping the private Postgres: %v", err)
			}
		}()
	}
	if _, err := fixtures.CreateDatabase(ctx, dbURL); err != nil {
		return nil, fmt.Errorf("purgebench: create the database: %w", err)
	}
	if err := fixtures.Migrate(ctx, dbURL); err != nil {
		return nil, fmt.Errorf("purgebench: migrate: %w", err)
	}
	secret, err := searchKey(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	svc, err := startDev(ctx, &cfg, dir, dbURL)
	if err != nil {
		return nil, err
	}
	defer svc.stop()
	if cfg.Dir == "" && cfg.DatabaseURL != "" {
		defer dropSlot(&cfg, dbURL)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	b := &bench{cfg: &cfg, base: svc.base, secret: secret, pool: pool, used: map[string]bool{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		sem:    make(chan struct{}, cfg.Pollers)}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM listings`).Scan(&rep.Listings); err != nil {
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	svc.waitIdle(ctx, &cfg)
	return b.measure(ctx, svc, pg, rep)
}

// database is cfg's database, or the private Postgres's started in dir.
func database(ctx context.Context, cfg *Config, dir string) (string, *devpg.Cluster, error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, nil, nil
	}
	cfg.logf("starting the private Postgres in %s", filepath.Join(dir, "postgres"))
	pg, err := devpg.Start(ctx, devpg.Config{Dir: filepath.Join(dir, "postgres"), Database: privateDatabase, Logger: cfg.Log})
	if err != nil {
		return "", nil, fmt.Errorf("purgebench: the private Postgres: %w", err)
	}
	return pg.URL(), pg, nil
}

// privateDatabase is the bench's database in the private Postgres.
const privateDatabase = "rummage_pb_purge"

// searchKey makes a search key (following feeds take user= only from a
// server key) before dev starts.
func searchKey(ctx context.Context, dbURL string) (string, error) {
	st, err := pgkeys.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", fmt.Errorf("purgebench: keys: %w", err)
	}
	defer st.Close()
	secret, _, err := keys.Create(ctx, st, keys.Search, "purgebench "+time.Now().UTC().Format("20060102T150405"))
	if err != nil {
		return "", fmt.Errorf("purgebench: create a search key: %w", err)
	}
	return secret, nil
}

// service is the running dev stack.
type service struct {
	base  string
	child *benchkit.Child // nil: in process
	stop  func()
}

// cpu is the service's CPU so far (zero in process).
func (s *service) cpu() time.Duration {
	if s.child == nil {
		return 0
	}
	return s.child.CPU()
}

// waitIdle waits (at most 2 minutes) until the service is nearly idle for
// a second: the merge after the snapshot and the first fills are done.
func (s *service) waitIdle(ctx context.Context, cfg *Config) {
	if s.child == nil {
		benchkit.WaitIdle(ctx, 2*time.Minute)
		return
	}
	start := time.Now()
	for time.Since(start) < 2*time.Minute && ctx.Err() == nil {
		c0 := s.cpu()
		time.Sleep(time.Second)
		if s.cpu()-c0 < 100*time.Millisecond {
			break
		}
	}
	cfg.logf("service idle after %v", time.Since(start).Round(100*time.Millisecond))
}

// startDev runs "rummage dev" on the database and waits until it is
// ready (the snapshot applied).
func startDev(ctx context.Context, cfg *Config, dir, dbURL string) (*service, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"dev", "--database-url", dbURL, "--index-dir", filepath.Join(dir, "index"), "--addr", addr, "--admin-addr", admin,
		"--kafka-addr", "127.0.0.1:0", "--seed-count", strconv.Itoa(cfg.Listings), "--seed", strconv.FormatUint(cfg.Seed, 10),
		"--simulate=false", "--slot", cfg.Slot, "--log-level", "warn"}
	args = append(args, cfg.DevArgs...)
	base := "http://" + addr
	cfg.logf("starting rummage dev on %s (seeds %d listings into an empty database, then snapshots them)", base, cfg.Listings)
	start := time.Now()
	defer func() { cfg.logf("dev ready after %v", time.Since(start).Round(100*time.Millisecond)) }()
	if cfg.Serve != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cfg.Serve(ctx, args[1:]) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					cfg.logf("dev: %v", err)
				}
			})
		}
		if err := benchkit.WaitReady(ctx, base+"/readyz", 10*time.Minute, done); err != nil {
			cancel()
			return nil, err
		}
		return &service{base: base, stop: stop}, nil
	}
	pin := ""
	if cfg.Pin {
		pin = benchkit.Taskset(runtime.NumCPU())
	}
	c, err := benchkit.StartChild(ctx, benchkit.ChildConfig{Exe: cfg.Exe, Args: args, Pin: pin, Core: 0, ReadyURL: base + "/readyz",
		Line: func(l string) { cfg.logf("dev: %s", l) }})
	if err != nil {
		return nil, fmt.Errorf("purgebench: rummage dev: %w", err)
	}
	return &service{base: base, child: c, stop: c.Stop}, nil
}

// dropSlot removes dev's replication slot from a database the bench was
// given, when its index was temporary (a later run starts afresh).
func dropSlot(cfg *Config, dbURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pgcdc.DropSlot(ctx, dbURL, "", cfg.Slot); err != nil {
		cfg.logf("drop slot %s: %v", cfg.Slot, err)
	}
}

// measure runs the writes and the sales and fills rep.
func (b *bench) measure(ctx context.Context, svc *service, pg *devpg.Cluster, rep *Report) (*Report, error) {
	cfg := b.cfg
	m0, err := b.metrics(ctx)
	if err != nil {
		return nil, err
	}
	svc0, bench0, pg0 := svc.cpu(), benchkit.ProcessCPU(), clusterCPU(pg)
	start := time.Now()
	churnFor := cfg.Warmup + cfg.Duration + cfg.Lead + cfg.Timeout
	wctx, stopWrites := context.WithCancel(ctx)
	defer stopWrites()
	var load pipeline.LoadResult
	var loadErr error
	loadDone := make(chan struct{})
	churnRate := cfg.Rate - 2*cfg.SaleRate
	w := newWrites(cfg, b.party, churnRate)
	cfg.logf("writing %.0f changes/s (%s; %.0f shares/s into the party) for %v, then %.0f sales/s for %v",
		churnRate, mixString(), cfg.PartyShareRate, cfg.Warmup, cfg.SaleRate, cfg.Duration)
	go func() {
		defer close(loadDone)
		load, loadErr = pipeline.Load(wctx, pipeline.LoadConfig{DatabaseURL: b.dbURL(), Rate: churnRate, Duration: churnFor,
			TxSize: cfg.TxSize, Workers: cfg.Workers, Change: w.change})
	}()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	salesAt := start.Add(cfg.Warmup)
	n := int(cfg.SaleRate * cfg.Duration.Seconds())
	results := make([]*Sale, n)
	var wg sync.WaitGroup
	for i := range n {
		at := salesAt.Add(time.Duration(float64(i) / cfg.SaleRate * float64(time.Second)))
		for wait := time.Until(at); wait > 0; wait = time.Until(at) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-loadDone:
				return nil, fmt.Errorf("purgebench: the writes stopped: %v", loadErr)
			case <-progress.C:
				b.progress(ctx, start, i)
			case <-time.After(wait):
			}
		}
		wg.Go(func() { results[i] = b.sale(ctx, i) })
	}
	wg.Wait()
	end := time.Now()
	rep.Window = end.Sub(start).Seconds()
	svc1, bench1, pg1 := svc.cpu(), benchkit.ProcessCPU(), clusterCPU(pg)
	m1, err := b.metrics(ctx)
	if err != nil {
		return nil, err
	}
	stopWrites()
	<-loadDone
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return nil, fmt.Errorf("purgebench: writes: %w", loadErr)
	}
	rep.LoadAvgEnd = benchkit.LoadAvg()
	rep.ServiceCPU, rep.BenchCPU, rep.PostgresCPU = (svc1 - svc0).Seconds(), (bench1 - bench0).Seconds(), (pg1 - pg0).Seconds()
	rep.InProcess = svc.child == nil
	rep.fill(load, b.extra, results, m0, m1)
	return rep, nil
}

func (b *bench) progress(ctx context.Context, start time.Time, sales int) {
	b.mu.Lock()
	done, purged := b.done, b.purged
	b.mu.Unlock()
	lag := "?"
	if m, err := b.metrics(ctx); err == nil {
		lag = fmt.Sprintf("%.0f events behind in Kafka, CDC %.0f KiB and %.1f s behind the WAL", sumSeries(m, "rummage_indexer_consumer_lag"),
			m["rummage_cdc_replication_lag_bytes"]/1024, m["rummage_cdc_replication_lag_seconds"])
	}
	b.cfg.logf("%4.0f s: %d sales started, %d measured (%d purged within the timeout), %d polls; indexer %s; load %.2f",
		time.Since(start).Seconds(), sales, done, purged, b.polls.Load(), lag, benchkit.LoadAvg()[0])
}

// sumSeries sums every series of the metric name (over its labels).
func sumSeries(m map[string]float64, name string) float64 {
	var t float64
	for s, v := range m {
		if s == name || strings.HasPrefix(s, name+"{") {
			t += v
		}
	}
	return t
}
