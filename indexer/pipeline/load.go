package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoadConfig drives changes into the listings table at a steady rate.
type LoadConfig struct {
	DatabaseURL string
	Rate        float64       // changes per second (default 2000)
	Duration    time.Duration // default 60s
	TxSize      int           // changes per transaction (default 5)
	Workers     int           // connections (default 16)
	InsertShare float64       // share of changes that insert a new listing (default 0.2); the rest update price, a third of them the title too
	// IDs are the existing listings the updates pick from (required unless
	// InsertShare is 1).
	IDs []string
	// Recorder, when set, is told of every change (Expect, Committed).
	Recorder *Recorder
	// Change, when set, queues every change instead of the built-in price
	// updates and inserts (rng is the worker's own, worker its number):
	// another mix of writes on the same schedule. Nothing is recorded
	// (Recorder is ignored).
	Change func(rng *rand.Rand, worker int, b *pgx.Batch)
}

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Rate <= 0 {
		c.Rate = 2000
	}
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.TxSize <= 0 {
		c.TxSize = 5
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.InsertShare < 0 || c.InsertShare > 1 || (c.InsertShare == 0 && len(c.IDs) > 0) {
		c.InsertShare = 0.2
	}
	if c.Change != nil {
		c.Recorder = nil
	} else if len(c.IDs) == 0 {
		c.InsertShare = 1
	} else {
		c.Workers = min(c.Workers, len(c.IDs))
	}
	return c
}

// LoadResult tells what Load did.
type LoadResult struct {
	Changes      int64   `json:"changes"` // committed
	Transactions int64   `json:"transactions"`
	Failed       int64   `json:"failed_transactions"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"changes_per_second"`
}

// Load commits changes to listings at cfg.Rate for cfg.Duration, in
// transactions of TxSize, paced by a schedule (transaction i starts at
// i*TxSize/Rate): if the workers fall behind, the achieved rate shows it.
// Every change sets price_cents to a unique, growing marker, which the
// Recorder looks for in the index.
func Load(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	cfg = cfg.withDefaults()
	conns := make([]*pgx.Conn, cfg.Workers)
	for i := range conns {
		c, err := pgx.Connect(ctx, cfg.DatabaseURL)
		if err != nil {
			return LoadResult{}, fmt.Errorf("load: connect: %w", err)
		}
		defer c.Close(context.WithoutCancel(ctx))
		conns[i] = c
	}
	var marker atomic.Int64
	marker.Store(time.Now().UnixMilli() * 1000) // above any earlier run's markers
	run := time.Now().UnixNano()
	var inserted atomic.Int64
	var res LoadResult
	var changes, txs, failed atomic.Int64

	jobs := make(chan struct{}, 64)
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Workers)
	for w := range cfg.Workers {
		conn := conns[w]
		rng := rand.New(rand.NewPCG(uint64(run), uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			markers := make([]int64, 0, cfg.TxSize)
			for range jobs {
				markers = markers[:0]
				batch := &pgx.Batch{}
				for range cfg.TxSize {
					if cfg.Change != nil {
						cfg.Change(rng, w, batch)
						markers = append(markers, 0)
						continue
					}
					m := marker.Add(1)
					markers = append(markers, m)
					if rng.Float64() < cfg.InsertShare {
						n := inserted.Add(1)
						id := fmt.Sprintf("bench-%x-%d", run, n)
						batch.Queue(`INSERT INTO listings (id, seller_id, title, brand, price_cents) VALUES ($1, 's0000001', $2, 'Benchmark', $3)`,
							id, fmt.Sprintf("Benchmark listing %d", n), m)
						if cfg.Recorder != nil {
							cfg.Recorder.Expect(id, m)
						}
						continue
					}
					// Each worker updates only its own listings, so the
					// changes of a listing commit in marker order.
					id := cfg.IDs[(rng.IntN(len(cfg.IDs)/cfg.Workers)*cfg.Workers+w)%len(cfg.IDs)]
					if rng.IntN(3) == 0 {
						batch.Queue(`UPDATE listings SET price_cents = $2, title = $3, updated_at = now() WHERE id = $1`,
							id, m, fmt.Sprintf("Benchmark title %d", m))
					} else {
						batch.Queue(`UPDATE listings SET price_cents = $2, updated_at = now() WHERE id = $1`, id, m)
					}
					if cfg.Recorder != nil {
						cfg.Recorder.Expect(id, m)
					}
				}
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return tx.SendBatch(ctx, batch).Close() })
				now := time.Now()
				if err != nil {
					if cfg.Recorder != nil {
						cfg.Recorder.Forget(markers...)
					}
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					if failed.Load() > 100 {
						errc <- fmt.Errorf("load: too many failed transactions, last: %w", err)
						return
					}
					continue
				}
				if cfg.Recorder != nil {
					cfg.Recorder.Committed(now, markers...)
				}
				changes.Add(int64(len(markers)))
				txs.Add(1)
			}
		}()
	}

	start := time.Now()
	interval := time.Duration(float64(time.Second) * float64(cfg.TxSize) / cfg.Rate)
	var err error
schedule:
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= cfg.Duration {
			break
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break schedule
			}
		}
		select {
		case jobs <- struct{}{}:
		case err = <-errc:
			break schedule
		case <-ctx.Done():
			break schedule
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Changes, res.Transactions, res.Failed = changes.Load(), txs.Load(), failed.Load()
	res.PerSecond = float64(res.Changes) / res.Seconds
	if err == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		err = ctx.Err()
	}
	return res, err
}
