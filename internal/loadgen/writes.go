package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WriteStats are the scenario's writes to the target's Postgres.
type WriteStats struct {
	SharesOffered float64 `json:"shares_offered"`
	Shares        int     `json:"shares"`
	Sales         int     `json:"sales"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
}

// writer writes the scenario's shares (party-start) and sales (drop).
type writer struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	st   WriteStats
}

func openWriter(ctx context.Context, dsn string) (*writer, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("loadgen: --database-url: %w", err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("loadgen: database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("loadgen: database: %w", err)
	}
	return &writer{pool: pool}, nil
}

func (w *writer) close() { w.pool.Close() }

func (w *writer) stats() *WriteStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	return &st
}

func (w *writer) done(err error, shares, sales int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.st.Errors++
		if w.st.FirstError == "" {
			w.st.FirstError = err.Error()
		}
		return
	}
	w.st.Shares += shares
	w.st.Sales += sales
}

// run writes until the run's end: party-start inserts shares into the
// party along the share wave; drop sells Sales of the drop's listings at T0.
func (w *writer) run(ctx context.Context, cfg Config, p *plan, c *Catalog, start time.Time) {
	// Every write is due within the run; a few seconds more let the last
	// ones finish.
	ctx, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration+5*time.Second))
	defer cancel()
	switch cfg.Scenario {
	case PartyStart:
		shape := Wave{Base: cfg.ShareRate, At: cfg.WaveAt, Mult: cfg.ShareMult, Tau: cfg.WaveTau}
		w.shares(ctx, NewSchedule(shape, cfg.Duration), c, start, cfg.Seed)
	case DropScene:
		t := time.NewTimer(time.Until(start.Add(p.t0)))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.sell(ctx, c, start.Add(p.t0), cfg.Sales)
	}
}

// shares inserts the schedule's shares, each when due, by a few
// connections so that a slow insert does not hold the others back.
func (w *writer) shares(ctx context.Context, sched *Schedule, c *Catalog, start time.Time, seed uint64) {
	w.mu.Lock()
	w.st.SharesOffered = sched.Total()
	w.mu.Unlock()
	n := int(sched.Arrivals())
	due := make(chan int, 64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range due {
				rng := rand.New(rand.NewPCG(seed, uint64(k)))
				listing := c.IDs[rng.IntN(len(c.IDs))]
				_, err := w.pool.Exec(ctx, `INSERT INTO shares (user_id, listing_id, party_id, created_at) VALUES ($1, $2, $3, now())`,
					fmt.Sprintf("loadtest-u%d", rng.IntN(10000)), listing, c.Party)
				if err != nil && ctx.Err() != nil {
					return
				}
				w.done(err, 1, 0)
			}
		}()
	}
	defer func() { close(due); wg.Wait() }()
	for k := range n {
		at := sched.due(uint64(k))
		if d := time.Until(start.Add(at)); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		select {
		case due <- k:
		case <-ctx.Done():
			return
		}
	}
}

// sell marks n of the drop's listings (available at t0, or else any
// available ones of the catalog) sold.
func (w *writer) sell(ctx context.Context, c *Catalog, t0 time.Time, n int) {
	tag, err := w.pool.Exec(ctx, `UPDATE listings SET status = 'sold', updated_at = now()
		WHERE id IN (SELECT id FROM listings WHERE status = 'available' AND available_at BETWEEN $1::timestamptz - interval '1 second' AND $1::timestamptz + interval '1 second' LIMIT $2)`, t0, n)
	if err == nil && tag.RowsAffected() == 0 {
		tag, err = w.pool.Exec(ctx, `UPDATE listings SET status = 'sold', updated_at = now() WHERE id = ANY($1) AND status = 'available'`, c.IDs[:min(n, len(c.IDs))])
	}
	if err != nil {
		w.done(err, 0, 0)
		return
	}
	w.done(nil, 0, int(tag.RowsAffected()))
}
