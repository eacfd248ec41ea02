package shareratebench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/devbench"
)

// Config configures the bench. Zero fields take Defaults.
type Config struct {
	// Config says how dev runs (its Name and Prepare are the bench's
	// own; with Serve the CPU by stage is the bench's too, and with no
	// DatabaseURL the private Postgres's processes' CPU is measured):
	// Listings 20,000 by default, Seed 1, Slot rummage_sharerate.
	devbench.Config
	// Rates are the offered share rates per second, in order (500, 1000,
	// 2000, 3000, 4000); Step how long each is offered per mode (10 s);
	// Tail how long the pollers go on after a step's last share (3 s).
	Rates      []float64
	Step, Tail time.Duration
	// Clients are the connections inserting shares (48); Zipf the exponent
	// s > 1 over the party's listings (1.1).
	Clients int
	Zipf    float64
	// Pollers read the party feed's first page at once (2), each every
	// PollInterval (10 ms).
	Pollers      int
	PollInterval time.Duration
	// KeepGoing offers a mode's higher rates after one it did not sustain
	// (by default they are skipped: they only take longer to fail).
	KeepGoing bool
}

// DefaultRates are the offered rates of a run, per second: around the
// ×4 start of a busy party (goal 3,000/s) and beyond.
func DefaultRates() []float64 { return []float64{500, 1000, 2000, 3000, 4000} }

func (c *Config) withDefaults() {
	c.Listings = cmp.Or(c.Listings, 20000)
	c.Seed = cmp.Or(c.Seed, 1)
	if len(c.Rates) == 0 {
		c.Rates = DefaultRates()
	}
	c.Step = cmp.Or(c.Step, 10*time.Second)
	c.Tail = cmp.Or(c.Tail, 3*time.Second)
	c.Clients = cmp.Or(c.Clients, 48)
	c.Zipf = cmp.Or(c.Zipf, 1.1)
	c.Pollers = cmp.Or(c.Pollers, 2)
	c.PollInterval = cmp.Or(c.PollInterval, 10*time.Millisecond)
	c.Slot = cmp.Or(c.Slot, "rummage_sharerate")
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
		return fmt.Errorf("shareratebench: %w", err)
	}
	switch {
	case c.Step < time.Second || c.Tail < 0 || c.Clients < 1 || c.Pollers < 1 || c.PollInterval <= 0:
		return errors.New("shareratebench: --step must be at least 1s, --clients and --pollers at least 1, --tail and --poll-interval not negative")
	case c.Zipf <= 1:
		return fmt.Errorf("shareratebench: --zipf %v must be above 1", c.Zipf)
	}
	for _, r := range c.Rates {
		if r <= 0 {
			return fmt.Errorf("shareratebench: rate %v must be positive", r)
		}
	}
	return nil
}

// warmup is how long shares are offered before the first step.
const warmup = 3 * time.Second

// writerApp is the application_name of the bench's share connections:
// pg_stat_activity tells their backends apart by it.
const writerApp = "rummage-sharerate-writer"

// bench is one run's state.
type bench struct {
	cfg     *Config
	svc     *devbench.Stack
	party   string
	theme   string
	ids     []string // the party's listings, in Zipf rank order
	clients []*pgx.Conn
	lastMs  int64 // the newest share's created_at
}

// Run runs the bench.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Rates: cfg.Rates, StepS: cfg.Step.Seconds(), TailS: cfg.Tail.Seconds(), Clients: cfg.Clients, Zipf: cfg.Zipf,
		Pollers: cfg.Pollers, PollIntervalMs: float64(cfg.PollInterval.Microseconds()) / 1000, DevArgs: strings.Join(cfg.DevArgs, " "),
		Cores: runtime.NumCPU(), LoadAvgStart: benchkit.LoadAvg()}
	dev := cfg.Config
	dev.Name, dev.Prepare = "sharerate", prepareTrigger
	svc, err := devbench.Start(ctx, dev)
	if err != nil {
		return nil, fmt.Errorf("shareratebench: %w", err)
	}
	defer svc.Close()
	rep.InProcess, rep.PrivatePostgres = svc.InProcess(), svc.PG != nil
	b := &bench{cfg: &cfg, svc: svc}
	if err := svc.Pool.QueryRow(ctx, `SELECT count(*) FROM listings`).Scan(&rep.Listings); err != nil {
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range b.clients {
			c.Close(context.WithoutCancel(ctx))
		}
	}()
	rep.Party, rep.Theme, rep.PartyListings = b.party, b.theme, len(b.ids)
	// A warm-up at the first rate, not measured: the feed's first page
	// fills (a share can be displaced from a full page only) and the
	// caches warm.
	if _, _, err := b.offer(ctx, cfg.Rates[0], warmup, cfg.Seed<<8); err != nil {
		return nil, fmt.Errorf("shareratebench: warm-up: %w", err)
	}
	b.drain(ctx, time.Minute)
	svc.WaitIdle(ctx)
	failed := map[bool]bool{}
	for ri, rate := range cfg.Rates {
		for _, trigger := range []bool{true, false} {
			if failed[trigger] && !cfg.KeepGoing {
				rep.Steps = append(rep.Steps, Step{Trigger: trigger, Offered: rate, Skipped: true})
				continue
			}
			st, err := b.step(ctx, rate, trigger, uint64(ri))
			if err != nil {
				return nil, err
			}
			rep.Steps = append(rep.Steps, *st)
			failed[trigger] = failed[trigger] || !st.Sustained
			b.logStep(st)
		}
	}
	rep.Counts, err = b.checkCounts(ctx)
	if err != nil {
		return nil, err
	}
	rep.LoadAvgEnd = benchkit.LoadAvg()
	rep.fill()
	return rep, nil
}

// prepareTrigger puts migration 0001's share counter back on the scratch
// database, disabled: the listing columns migration 0004 dropped, and the
// function and trigger as migration 0001 wrote them (read from it).
func prepareTrigger(ctx context.Context, dbURL string) error {
	fn, trig, err := counterTriggerSQL()
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("shareratebench: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{
		`ALTER TABLE listings ADD COLUMN IF NOT EXISTS share_count integer NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS last_shared_at timestamptz`,
		fn, `DROP TRIGGER IF EXISTS shares_count ON shares`, trig, `ALTER TABLE shares DISABLE TRIGGER shares_count`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("shareratebench: the bench's counter trigger: %w", err)
		}
	}
	return nil
}

// counterTriggerSQL is migration 0001's share counter function and
// trigger, cut out of its text.
func counterTriggerSQL() (fn, trig string, err error) {
	migs, err := fixtures.Migrations()
	if err != nil {
		return "", "", err
	}
	if len(migs) == 0 || migs[0].Version != "0001_init" {
		return "", "", errors.New("shareratebench: migration 0001_init not found")
	}
	sql := migs[0].SQL
	cut := func(from, to string) string {
		i := strings.Index(sql, from)
		if i < 0 {
			return ""
		}
		j := strings.Index(sql[i:], to)
		if j < 0 {
			return ""
		}
		return sql[i : i+j+len(to)]
	}
	fn = cut("CREATE OR REPLACE FUNCTION rummage_count_share()", "END $$;")
	trig = cut("CREATE TRIGGER shares_count AFTER INSERT ON shares", ";")
	if fn == "" || trig == "" {
		return "", "", errors.New("shareratebench: migration 0001 no longer has the share counter trigger")
	}
	return fn, trig, nil
}

// setup makes the bench's live party, themed on the largest category
// root, reads its listings (visible, matching the theme) in a seeded
// order, waits until the service knows the party, and opens the share
// connections.
func (b *bench) setup(ctx context.Context) error {
	pool := b.svc.Pool
	var root string
	if err := pool.QueryRow(ctx, `SELECT category[1] FROM listings WHERE status = 'available' AND (available_at IS NULL OR available_at <= now())
		AND cardinality(category) > 0 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`).Scan(&root); err != nil {
		return fmt.Errorf("shareratebench: the largest category root: %w", err)
	}
	theme, _ := json.Marshal(map[string]string{"category": root})
	b.theme = string(theme)
	b.party = fmt.Sprintf("sharerate-%d", time.Now().Unix())
	if _, err := pool.Exec(ctx, `INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES ($1, 'Share rate bench party', $2, now() - interval '1 minute', now() + interval '6 hours')`,
		b.party, b.theme); err != nil {
		return fmt.Errorf("shareratebench: party: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM listings WHERE status = 'available' AND (available_at IS NULL OR available_at <= now()) AND category[1] = $1
		ORDER BY md5(id || $2::text)`, root, strconv.FormatUint(b.cfg.Seed, 10))
	if err != nil {
		return err
	}
	if b.ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	if len(b.ids) < 2 {
		return fmt.Errorf("shareratebench: the party %s has %d listings", b.party, len(b.ids))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, _, err := b.svc.API.Get(ctx, "/v1/parties/"+url.PathEscape(b.party))
		if err == nil && st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("shareratebench: the party %s did not reach the service within 60 s (HTTP %d, %v)", b.party, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pcfg, err := pgx.ParseConfig(b.svc.DatabaseURL())
	if err != nil {
		return err
	}
	pcfg.RuntimeParams["application_name"] = writerApp
	for range b.cfg.Clients {
		c, err := pgx.ConnectConfig(ctx, pcfg)
		if err != nil {
			return fmt.Errorf("shareratebench: connect: %w", err)
		}
		b.clients = append(b.clients, c)
	}
	b.cfg.Logf("party %s, theme %s: %d listings; %d share connections", b.party, b.theme, len(b.ids), len(b.clients))
	return nil
}

// share is one committed share.
type share struct {
	listing   string
	createdMs int64 // shares.created_at, in the signals store's milliseconds
	committed time.Time
	late      time.Duration // from its due instant to the INSERT's start
	commit    time.Duration // the INSERT and its commit
}

// offer offers rate shares per second for d and returns those committed
// (shares not started by the end of the tail are dropped).
func (b *bench) offer(ctx context.Context, rate float64, d time.Duration, seed uint64) (shares []share, errs int, firstErr error) {
	cfg := b.cfg
	n := max(1, int(rate*d.Seconds()))
	// New shares stop at the end of the tail; those in flight finish (a
	// cancelled statement would close its connection).
	octx, cancel := context.WithTimeout(ctx, d+cfg.Tail)
	defer cancel()
	start := time.Now().Add(20 * time.Millisecond)
	due := benchkit.Offer(octx, start, rate, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w, cl := range b.clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			zipf := rand.NewZipf(r, cfg.Zipf, 1, uint64(len(b.ids)-1))
			var mine []share
			myErrs := 0
			var myFirst error
			for k := range due {
				if octx.Err() != nil {
					continue
				}
				rank := int32(zipf.Uint64())
				t0 := time.Now()
				var created time.Time
				err := cl.QueryRow(ctx, `INSERT INTO shares (user_id, listing_id, party_id) VALUES ($1, $2, $3) RETURNING created_at`,
					"sr-u"+strconv.Itoa(r.IntN(100000)), b.ids[rank], b.party).Scan(&created)
				t1 := time.Now()
				switch {
				case err != nil && ctx.Err() != nil:
				case err != nil:
					myErrs++
					if myFirst == nil {
						myFirst = err
					}
				default:
					mine = append(mine, share{listing: b.ids[rank], createdMs: created.UnixMilli(), committed: t1,
						late: t0.Sub(benchkit.Due(start, rate, k)), commit: t1.Sub(t0)})
				}
			}
			mu.Lock()
			shares, errs = append(shares, mine...), errs+myErrs
			for _, sh := range mine {
				b.lastMs = max(b.lastMs, sh.createdMs)
			}
			if firstErr == nil {
				firstErr = myFirst
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return shares, errs, firstErr
}

// setTrigger enables or disables the bench's counter trigger.
func (b *bench) setTrigger(ctx context.Context, on bool) error {
	verb := "DISABLE"
	if on {
		verb = "ENABLE"
	}
	if _, err := b.svc.Pool.Exec(ctx, "ALTER TABLE shares "+verb+" TRIGGER shares_count"); err != nil {
		return fmt.Errorf("shareratebench: %s the trigger: %w", verb, err)
	}
	return nil
}

// drain waits (at most limit) until the party feed's first listing is
// the newest share's (the pipeline applied every share offered so far),
// the indexer has consumed what the broker holds and the CDC is not
// behind the WAL.
func (b *bench) drain(ctx context.Context, limit time.Duration) time.Duration {
	start := time.Now()
	path := "/v1/parties/" + url.PathEscape(b.party) + "/feed?limit=1"
	for time.Since(start) < limit && ctx.Err() == nil {
		var page feedPage
		st, _, body, err := b.svc.API.Get(ctx, path)
		if err == nil && st == http.StatusOK && json.Unmarshal(body, &page) == nil &&
			len(page.Hits) > 0 && page.Hits[0].PartySharedAt != nil && page.Hits[0].PartySharedAt.UnixMilli() >= b.lastMs {
			m, err := b.svc.Metrics(ctx)
			if err == nil && devbench.SumSeries(m, "rummage_indexer_consumer_lag") == 0 && m["rummage_cdc_replication_lag_bytes"] < 64<<10 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

// reconnect replaces the share connections a failure closed.
func (b *bench) reconnect(ctx context.Context) error {
	for k, c := range b.clients {
		if !c.IsClosed() {
			continue
		}
		pcfg := c.Config()
		nc, err := pgx.ConnectConfig(ctx, pcfg)
		if err != nil {
			return fmt.Errorf("shareratebench: reconnect: %w", err)
		}
		b.clients[k] = nc
	}
	return nil
}

// step measures one rate in one mode.
func (b *bench) step(ctx context.Context, rate float64, trigger bool, seed uint64) (*Step, error) {
	cfg := b.cfg
	st := &Step{Trigger: trigger, Offered: rate}
	if err := b.setTrigger(ctx, trigger); err != nil {
		return nil, err
	}
	if err := b.reconnect(ctx); err != nil {
		return nil, err
	}
	b.drain(ctx, time.Minute)
	if !trigger {
		seed ^= 1 << 32
	}
	window := cfg.Step + cfg.Tail
	classes, err := pgClasses(ctx, b.svc.Pool)
	if err != nil {
		return nil, err
	}
	pg0, svc0, bench0 := b.svc.PostgresProcs(), b.svc.CPU(), benchkit.ProcessCPU()
	m0, err := b.svc.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	var prof []byte
	var profErr error
	profDone := make(chan struct{})
	go func() {
		defer close(profDone)
		if !b.svc.InProcess() {
			prof, profErr = b.svc.Profile(ctx, window)
		}
	}()
	obs := newObserver(b.svc.API, b.party, cfg.Pollers, cfg.PollInterval)
	pctx, stopPolls := context.WithCancel(ctx)
	pollsDone := make(chan struct{})
	go func() { defer close(pollsDone); obs.run(pctx) }()
	t0 := time.Now()
	shares, errs, firstErr := b.offer(ctx, rate, cfg.Step, seed)
	if rest := time.Until(t0.Add(window)); rest > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(rest):
		}
	}
	stopPolls()
	<-pollsDone
	<-profDone
	elapsed := time.Since(t0)
	pg1, svc1, bench1 := b.svc.PostgresProcs(), b.svc.CPU(), benchkit.ProcessCPU()
	m1, err := b.svc.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errs > 0 && len(shares) == 0 {
		return nil, fmt.Errorf("shareratebench: every share failed: %w", firstErr)
	}
	st.Errors = errs
	st.measure(shares, obs, cfg.Step)
	st.WindowS = elapsed.Seconds()
	st.Events = devbench.SumSeries(m1, "rummage_indexer_events_total") - devbench.SumSeries(m0, "rummage_indexer_events_total")
	st.cpu(classes, pg0, pg1, svc1-svc0, bench1-bench0, prof, profErr)
	st.LoadAvg = benchkit.LoadAvg()
	st.DrainS = b.drain(ctx, time.Minute).Seconds()
	return st, nil
}

// pgClasses names the private Postgres's processes by what they do for
// the bench: the shares' backends, the walsender decoding for the CDC,
// the rest.
func pgClasses(ctx context.Context, pool *pgxpool.Pool) (map[int]string, error) {
	rows, err := pool.Query(ctx, `SELECT pid, coalesce(backend_type, ''), coalesce(application_name, '') FROM pg_stat_activity`)
	if err != nil {
		return nil, fmt.Errorf("shareratebench: pg_stat_activity: %w", err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var pid int
		var typ, app string
		if err := rows.Scan(&pid, &typ, &app); err != nil {
			return nil, err
		}
		switch {
		case app == writerApp:
			out[pid] = PGBackends
		case typ == "walsender":
			out[pid] = PGWalsender
		}
	}
	return out, rows.Err()
}

func (b *bench) logStep(st *Step) {
	mode := "no trigger"
	if st.Trigger {
		mode = "trigger"
	}
	b.cfg.Logf("%-10s offered %5.0f/s achieved %6.0f/s: top of the feed p50 %s p99 %s (%d seen, %d displaced, %d not visible); %.0f µs CPU/share; load %.2f",
		mode, st.Offered, st.Achieved, ms(st.Visible.P50), ms(st.Visible.P99), st.Seen, st.Displaced, st.NotVisible, st.CPUPerShare[Total], st.LoadAvg[0])
}

func ms(v float64) string {
	if v < 0 {
		return "∞"
	}
	return fmt.Sprintf("%.0f ms", v)
}
