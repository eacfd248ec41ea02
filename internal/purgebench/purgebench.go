package purgebench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/devbench"
)

// Config configures the bench. Zero fields take Defaults.
type Config struct {
	// Config says how dev runs (its Name and Prepare are the bench's
	// own): Listings 100,000 by default, Seed 1, Slot rummage_purgebench.
	devbench.Config
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
}

func (c *Config) withDefaults() {
	c.Listings = cmp.Or(c.Listings, 100000)
	c.Seed = cmp.Or(c.Seed, 1)
	c.Rate = cmp.Or(c.Rate, 2000)
	c.SaleRate = cmp.Or(c.SaleRate, 5)
	c.PartyShareRate = cmp.Or(c.PartyShareRate, 5)
	c.Warmup = cmp.Or(c.Warmup, 10*time.Second)
	c.Duration = cmp.Or(c.Duration, 60*time.Second)
	c.Lead = cmp.Or(c.Lead, 1500*time.Millisecond)
	c.Pollers = cmp.Or(c.Pollers, 4)
	c.PollInterval = cmp.Or(c.PollInterval, 10*time.Millisecond)
	c.Settle = cmp.Or(c.Settle, 300*time.Millisecond)
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	c.TxSize = cmp.Or(c.TxSize, 5)
	c.Workers = cmp.Or(c.Workers, 8)
	c.Slot = cmp.Or(c.Slot, "rummage_purgebench")
}

// Defaults is the configuration's defaults (for flags).
func Defaults() Config {
	var c Config
	c.withDefaults()
	return c
}

// Validate checks the configuration (after defaults).
func (c *Config) Validate() error {
	if err := c.Check(); err != nil {
		return fmt.Errorf("purgebench: %w", err)
	}
	switch {
	case c.Rate < 0 || c.SaleRate < 0 || c.PartyShareRate < 0 || c.Warmup < 0 || c.Duration < 0 || c.Lead < 0 ||
		c.Pollers < 0 || c.PollInterval < 0 || c.Settle < 0 || c.Timeout < 0 || c.TxSize < 0 || c.Workers < 0:
		return errors.New("purgebench: negative setting")
	case c.Rate <= 2*c.SaleRate+c.PartyShareRate:
		return fmt.Errorf("purgebench: --rate %.0f leaves no mixed writes beside %.0f sales, as many shares and %.0f party shares a second", c.Rate, c.SaleRate, c.PartyShareRate)
	}
	return nil
}

// Run runs the bench.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{DevArgs: strings.Join(cfg.DevArgs, " "), Rate: cfg.Rate, SaleRate: cfg.SaleRate, PartyShareRate: cfg.PartyShareRate, Mix: mixString(),
		DurationS: cfg.Duration.Seconds(), Cores: runtime.NumCPU(), LoadAvgStart: benchkit.LoadAvg()}
	dev := cfg.Config
	dev.Name, dev.Prepare = "pb_purge", nil
	svc, err := devbench.Start(ctx, dev)
	if err != nil {
		return nil, fmt.Errorf("purgebench: %w", err)
	}
	defer svc.Close()
	b := &bench{cfg: &cfg, svc: svc, api: svc.API, pool: svc.Pool, used: map[string]bool{}, sem: make(chan struct{}, cfg.Pollers)}
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM listings`).Scan(&rep.Listings); err != nil {
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	svc.WaitIdle(ctx)
	return b.measure(ctx, rep)
}

// measure runs the writes and the sales and fills rep.
func (b *bench) measure(ctx context.Context, rep *Report) (*Report, error) {
	cfg, svc := b.cfg, b.svc
	m0, err := svc.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	svc0, bench0, pg0 := svc.CPU(), benchkit.ProcessCPU(), svc.PostgresCPU()
	start := time.Now()
	churnFor := cfg.Warmup + cfg.Duration + cfg.Lead + cfg.Timeout
	wctx, stopWrites := context.WithCancel(ctx)
	defer stopWrites()
	var load pipeline.LoadResult
	var loadErr error
	loadDone := make(chan struct{})
	churnRate := cfg.Rate - 2*cfg.SaleRate
	w := newWrites(cfg, b.party, churnRate)
	cfg.Logf("writing %.0f changes/s (%s; %.0f shares/s into the party) for %v, then %.0f sales/s for %v",
		churnRate, mixString(), cfg.PartyShareRate, cfg.Warmup, cfg.SaleRate, cfg.Duration)
	go func() {
		defer close(loadDone)
		load, loadErr = pipeline.Load(wctx, pipeline.LoadConfig{DatabaseURL: svc.DatabaseURL(), Rate: churnRate, Duration: churnFor,
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
	svc1, bench1, pg1 := svc.CPU(), benchkit.ProcessCPU(), svc.PostgresCPU()
	m1, err := svc.Metrics(ctx)
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
	rep.InProcess = svc.InProcess()
	rep.fill(load, b.extra, results, m0, m1)
	return rep, nil
}

func (b *bench) progress(ctx context.Context, start time.Time, sales int) {
	b.mu.Lock()
	done, purged := b.done, b.purged
	b.mu.Unlock()
	lag := "?"
	if m, err := b.svc.Metrics(ctx); err == nil {
		lag = fmt.Sprintf("%.0f events behind in Kafka, CDC %.0f KiB and %.1f s behind the WAL", devbench.SumSeries(m, "rummage_indexer_consumer_lag"),
			m["rummage_cdc_replication_lag_bytes"]/1024, m["rummage_cdc_replication_lag_seconds"])
	}
	b.cfg.Logf("%4.0f s: %d sales started, %d measured (%d purged within the timeout), %d polls; indexer %s; load %.2f",
		time.Since(start).Seconds(), sales, done, purged, b.polls.Load(), lag, benchkit.LoadAvg()[0])
}
