package sharebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
)

// Defaults of Config.
const (
	DefaultListings = 20000
	DefaultClients  = 48
	DefaultStep     = 10 * time.Second
	DefaultZipf     = 1.1
)

// DefaultRates are the offered share rates of a run, per second: up to the
// ×4 start of a busy party (DESIGN.md: ~3k/s) and beyond.
func DefaultRates() []float64 { return []float64{500, 1000, 2000, 3000, 4000} }

// Config is one measurement. Zero fields take the defaults.
type Config struct {
	// DatabaseURL is the database the private schema is made in (the
	// user needs CREATE on it). Its own tables are not touched.
	DatabaseURL string
	// Listings is the number of the party's listings (DefaultListings).
	Listings int
	// Clients is the number of concurrent connections inserting shares
	// (DefaultClients).
	Clients int
	// Rates are the offered rates, shares per second, in order
	// (DefaultRates).
	Rates []float64
	// Step is how long each rate is offered, once per trigger mode
	// (DefaultStep).
	Step time.Duration
	// Zipf is the exponent s > 1 of the shares over the party's listings:
	// P(rank k) ∝ k^-s (DefaultZipf: the top listing takes ~15% of the
	// shares at 20k listings).
	Zipf float64
	// Seed picks the listings and the share sequence (default 1).
	Seed uint64
	// Checkpoint issues a CHECKPOINT before every step, so that the
	// full-page images of the first writes after it fall alike on both
	// modes (needs superuser or pg_checkpoint; it flushes the whole
	// server: not on a shared one in tests).
	Checkpoint bool
	// Log receives a line per step; nil discards them.
	Log io.Writer
}

func (c *Config) defaults() {
	if c.Listings == 0 {
		c.Listings = DefaultListings
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if len(c.Rates) == 0 {
		c.Rates = DefaultRates()
	}
	if c.Step == 0 {
		c.Step = DefaultStep
	}
	if c.Zipf == 0 {
		c.Zipf = DefaultZipf
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Validate reports a config Run refuses (after defaults).
func (c Config) Validate() error {
	c.defaults()
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DatabaseURL is required"))
	}
	if c.Listings < 1 || c.Clients < 1 || c.Step < 0 {
		errs = append(errs, errors.New("Listings, Clients and Step must be positive"))
	}
	for _, r := range c.Rates {
		if r <= 0 {
			errs = append(errs, fmt.Errorf("rate %v must be positive", r))
		}
	}
	if c.Zipf <= 1 {
		errs = append(errs, fmt.Errorf("Zipf %v must be above 1", c.Zipf))
	}
	if len(errs) > 0 {
		return fmt.Errorf("sharebench: %w", errors.Join(errs...))
	}
	return nil
}

// Step is one offered rate in one trigger mode.
type Step struct {
	Trigger bool    // the share counter trigger was enabled
	Offered float64 // shares per second scheduled
	// Shares committed (within the step or after it, while the backlog
	// drained); Late: scheduled but not committed within the step (the
	// clients could not keep up); Errors: failed.
	Shares, Late, Errors int
	// Achieved is the shares committed within the step per second.
	Achieved float64
	// Commit is the latency of the INSERT and its commit as the client
	// saw it; Scheduled is from the instant the share was due (queueing
	// behind busy clients included).
	Commit, Scheduled benchkit.Summary
	// WALBytes is the server's WAL written during the step.
	WALBytes    int64
	WALPerShare float64
	// Hottest is the fraction of the shares that went to the top listing.
	Hottest float64
}

// Result is a run.
type Result struct {
	Listings, Clients int
	Zipf              float64
	StepLength        time.Duration
	WALLevel          string // wal_level: REPLICA IDENTITY FULL only logs old rows under "logical"
	SynchronousCommit string
	FullPageWrites    string
	Checkpointed      bool // Config.Checkpoint
	Steps             []Step
	// CountersConsistent: after the run, every listing's share_count and
	// last_shared_at are the count and the latest created_at of its shares
	// committed with the trigger on.
	CountersConsistent bool
	LoadBefore         [3]float64
	LoadAfter          [3]float64
	ClientCPU          time.Duration // this process, whole run
}

// Run sets up the private schema, measures every rate in both modes (the
// trigger on, then off, at each rate), checks the counters and drops the
// schema.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	schema := fmt.Sprintf("sharebench_%d_%06x", time.Now().Unix(), rand.Uint32()&0xffffff)
	admin, err := connect(ctx, c.DatabaseURL, "")
	if err != nil {
		return nil, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("sharebench: create schema: %w", err)
	}
	defer func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	res := &Result{Listings: c.Listings, Clients: c.Clients, Zipf: c.Zipf, StepLength: c.Step, LoadBefore: benchkit.LoadAvg()}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"wal_level", &res.WALLevel}, {"synchronous_commit", &res.SynchronousCommit}, {"full_page_writes", &res.FullPageWrites}} {
		if err := admin.QueryRow(ctx, "SELECT current_setting($1)", s.name).Scan(s.dst); err != nil {
			return nil, fmt.Errorf("sharebench: %s: %w", s.name, err)
		}
	}
	setup, err := connect(ctx, c.DatabaseURL, schema)
	if err != nil {
		return nil, err
	}
	defer setup.Close(context.WithoutCancel(ctx))
	if err := createSchema(ctx, setup, c); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Log, "sharebench: schema %s: %d listings, %d clients, zipf %.2f, wal_level %s\n", schema, c.Listings, c.Clients, c.Zipf, res.WALLevel)

	clients := make([]*pgx.Conn, c.Clients)
	for k := range clients {
		if clients[k], err = connect(ctx, c.DatabaseURL, schema); err != nil {
			return nil, err
		}
		defer clients[k].Close(context.WithoutCancel(ctx))
	}
	cpu0 := benchkit.ProcessCPU()
	res.Checkpointed = c.Checkpoint
	for ri, rate := range c.Rates {
		for _, trigger := range []bool{true, false} {
			for k, cl := range clients {
				if cl.IsClosed() { // a statement of the last step was cancelled
					if clients[k], err = connect(ctx, c.DatabaseURL, schema); err != nil {
						return nil, err
					}
					defer clients[k].Close(context.WithoutCancel(ctx))
				}
			}
			verb := "DISABLE"
			if trigger {
				verb = "ENABLE"
			}
			if _, err := setup.Exec(ctx, "ALTER TABLE shares "+verb+" TRIGGER shares_count"); err != nil {
				return nil, fmt.Errorf("sharebench: %s the trigger: %w", verb, err)
			}
			if c.Checkpoint {
				if _, err := setup.Exec(ctx, "CHECKPOINT"); err != nil {
					return nil, fmt.Errorf("sharebench: checkpoint: %w", err)
				}
			}
			st, err := runStep(ctx, setup, clients, c, rate, trigger, uint64(ri))
			if err != nil {
				return nil, err
			}
			res.Steps = append(res.Steps, st)
			fmt.Fprintf(c.Log, "sharebench: trigger=%-5v offered %5.0f/s achieved %6.1f/s commit p50 %s p99 %s scheduled p99 %s WAL %.0f B/share late %d errors %d\n",
				trigger, rate, st.Achieved, benchkit.FormatDuration(st.Commit.P50), benchkit.FormatDuration(st.Commit.P99),
				benchkit.FormatDuration(st.Scheduled.P99), st.WALPerShare, st.Late, st.Errors)
		}
	}
	res.ClientCPU = benchkit.ProcessCPU() - cpu0
	var wrong int64
	if err := setup.QueryRow(ctx, `SELECT count(*) FROM listings l
		LEFT JOIN (SELECT listing_id, count(*) c, max(created_at) m FROM shares WHERE party_id = $1 GROUP BY 1) s ON s.listing_id = l.id
		WHERE l.share_count <> coalesce(s.c, 0) OR l.last_shared_at IS DISTINCT FROM s.m`, partyOf(true)).Scan(&wrong); err != nil {
		return nil, fmt.Errorf("sharebench: check counters: %w", err)
	}
	res.CountersConsistent = wrong == 0
	res.LoadAfter = benchkit.LoadAvg()
	return res, nil
}

// partyOf is the party_id of the shares of a mode: the counter check
// knows which shares the trigger saw, whatever a cancelled statement did.
func partyOf(trigger bool) string {
	if trigger {
		return "bench-trigger"
	}
	return "bench-no-trigger"
}

// connect opens a connection whose search_path is schema (when set), so
// migration 0001's unqualified names and its trigger's UPDATE resolve to
// the private tables.
func connect(ctx context.Context, url, schema string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sharebench: database URL: %w", err)
	}
	if schema != "" {
		cfg.RuntimeParams["search_path"] = schema
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sharebench: connect: %w", err)
	}
	return conn, nil
}

// createSchema applies migration 0001 in the private schema and copies the
// party's listings (generated, full-width rows: the trigger rewrites them).
func createSchema(ctx context.Context, conn *pgx.Conn, c Config) error {
	migs, err := fixtures.Migrations()
	if err != nil {
		return err
	}
	if len(migs) == 0 || migs[0].Version != "0001_init" {
		return errors.New("sharebench: migration 0001_init not found")
	}
	if _, err := conn.Exec(ctx, migs[0].SQL); err != nil {
		return fmt.Errorf("sharebench: apply 0001_init: %w", err)
	}
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: c.Seed, Count: c.Listings, Now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		return err
	}
	if _, err := fixtures.CopyListingRange(ctx, conn, g, 0, c.Listings, nil); err != nil {
		return fmt.Errorf("sharebench: %w", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE listings SET share_count = 0, last_shared_at = NULL"); err != nil {
		return fmt.Errorf("sharebench: reset counters: %w", err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE listings"); err != nil {
		return fmt.Errorf("sharebench: vacuum: %w", err)
	}
	return nil
}

// runStep offers rate shares per second for c.Step and waits at most
// another c.Step for the backlog.
func runStep(ctx context.Context, conn *pgx.Conn, clients []*pgx.Conn, c Config, rate float64, trigger bool, step uint64) (Step, error) {
	st := Step{Trigger: trigger, Offered: rate}
	total := max(1, int(rate*c.Step.Seconds()))
	var lsn0 string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn0); err != nil {
		return st, fmt.Errorf("sharebench: wal lsn: %w", err)
	}
	stepCtx, cancel := context.WithTimeout(ctx, 2*c.Step+5*time.Second)
	defer cancel()
	start := time.Now().Add(20 * time.Millisecond)
	end := start.Add(c.Step)
	at := func(k int) time.Time { return benchkit.Due(start, rate, k) }
	due := benchkit.Offer(stepCtx, start, rate, total)
	var (
		mu                sync.Mutex
		commit, sched     []time.Duration
		inStep, errs      int
		attempts, hottest atomic.Int64
		firstErr          error
	)
	party := partyOf(trigger)
	var wg sync.WaitGroup
	for w, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := c.Seed ^ step<<32 ^ uint64(w)<<1
			if !trigger {
				seed ^= 1
			}
			r := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15))
			zipf := rand.NewZipf(r, c.Zipf, 1, uint64(c.Listings-1))
			var myCommit, mySched []time.Duration
			myIn, myErr := 0, 0
			var myFirst error
			for k := range due {
				if stepCtx.Err() != nil {
					continue // the backlog is not drained past the limit
				}
				rank := int(zipf.Uint64())
				attempts.Add(1)
				if rank == 0 {
					hottest.Add(1)
				}
				t0 := time.Now()
				_, err := cl.Exec(stepCtx, `INSERT INTO shares (user_id, listing_id, party_id) VALUES ($1, $2, $3)`,
					"u"+strconv.Itoa(r.IntN(1_000_000)), fixtures.ListingID(rank), party)
				t1 := time.Now()
				switch {
				case err != nil && stepCtx.Err() != nil:
				case err != nil:
					myErr++
					if myFirst == nil {
						myFirst = err
					}
				default:
					myCommit = append(myCommit, t1.Sub(t0))
					mySched = append(mySched, t1.Sub(at(k)))
					if !t1.After(end) {
						myIn++
					}
				}
			}
			mu.Lock()
			commit, sched = append(commit, myCommit...), append(sched, mySched...)
			inStep, errs = inStep+myIn, errs+myErr
			if firstErr == nil {
				firstErr = myFirst
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	st.Shares, st.Errors, st.Late = len(commit), errs, total-inStep-errs
	st.Achieved = float64(inStep) / c.Step.Seconds()
	elapsed := time.Since(start)
	st.Commit = benchkit.Summarize(commit, elapsed, len(clients))
	st.Scheduled = benchkit.Summarize(sched, elapsed, len(clients))
	if n := attempts.Load(); n > 0 {
		st.Hottest = float64(hottest.Load()) / float64(n)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint", lsn0).Scan(&st.WALBytes); err != nil {
		return st, fmt.Errorf("sharebench: wal lsn: %w", err)
	}
	if st.Shares > 0 {
		st.WALPerShare = float64(st.WALBytes) / float64(st.Shares)
	}
	if errs > 0 && errs == total {
		return st, fmt.Errorf("sharebench: every share failed: %w", firstErr)
	}
	return st, nil
}

// WriteText writes the result as a table, the trigger and no-trigger rows
// of a rate side by side.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "party burst: %d listings, Zipf s=%.2f, %d clients, %s per step; wal_level=%s synchronous_commit=%s full_page_writes=%s checkpoint before each step: %v\n",
		r.Listings, r.Zipf, r.Clients, r.StepLength, r.WALLevel, r.SynchronousCommit, r.FullPageWrites, r.Checkpointed)
	fmt.Fprintf(w, "%-8s %-8s %9s %9s %9s %9s %11s %11s %7s %7s %8s\n",
		"trigger", "offered", "achieved", "commit50", "commit99", "sched99", "WAL/share", "WAL", "late", "errors", "hottest")
	for _, s := range r.Steps {
		mode := "off"
		if s.Trigger {
			mode = "on"
		}
		fmt.Fprintf(w, "%-8s %8.0f %9.1f %9s %9s %9s %9.0f B %11s %7d %7d %7.1f%%\n", mode, s.Offered, s.Achieved,
			benchkit.FormatDuration(s.Commit.P50), benchkit.FormatDuration(s.Commit.P99), benchkit.FormatDuration(s.Scheduled.P99),
			s.WALPerShare, benchkit.FormatBytes(s.WALBytes), s.Late, s.Errors, 100*s.Hottest)
	}
	fmt.Fprintf(w, "counters consistent with the shares the trigger saw: %v; client CPU %s; load average %.2f → %.2f\n",
		r.CountersConsistent, r.ClientCPU.Round(time.Millisecond), r.LoadBefore[0], r.LoadAfter[0])
}
