package reindex

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/swap"
)

const stable = 300 // listings k1..k300: never deleted, price only goes up

// applySink applies CDC events to a backend the way the indexer does:
// listing changes coalesced per id (the later event wins), then one Apply.
type applySink struct {
	b       query.Backend
	applied atomic.Uint64 // highest version applied
	err     atomic.Pointer[error]
}

func (s *applySink) Write(ctx context.Context, evs []change.Event) error {
	var batch []query.Change
	pos := map[string]int{}
	for _, e := range evs {
		if e.Source.Table != indexer.ListingsTable {
			continue
		}
		l, err := indexer.DecodeListing(e.Row())
		if err != nil {
			return err
		}
		c := query.Change{ID: l.ID, Version: e.Version(), Delete: e.Op == change.OpDelete}
		if !c.Delete {
			c.Doc = &l
		}
		if i, ok := pos[c.ID]; ok {
			batch[i] = c
			continue
		}
		pos[c.ID] = len(batch)
		batch = append(batch, c)
	}
	if len(batch) == 0 {
		return nil
	}
	if _, err := s.b.Apply(ctx, batch); err != nil {
		s.err.Store(&err)
		return err
	}
	for _, c := range batch {
		if c.Version > s.applied.Load() {
			s.applied.Store(c.Version)
		}
	}
	return nil
}

func newDB(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := testpg.New(t, testpg.Options{Logical: true, Setup: fixtures.Migrate})
	return dsn, testpg.Connect(t, dsn)
}

// TestReindexMidStream runs a reindex of the embedded index while Postgres
// takes continuous inserts, updates and deletes that a real CDC streams into
// the live backend, and a reader searches all along: no search may miss a
// listing indexed before the reindex, no read may go back in time, and after
// the switch and a drain the index must equal Postgres.
func TestReindexMidStream(t *testing.T) {
	dsn, db := newDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, price_cents)
		SELECT 'k' || g, 's1', 'keepsake jacket ' || g, 1000 FROM generate_series(1, $1::int) g`, stable)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, price_cents)
		SELECT 'c' || g, 's1', 'churn shirt ' || g, 500 FROM generate_series(1, 300) g`)

	cfg := embedded.Config{Dir: filepath.Join(t.TempDir(), "index"), RefreshInterval: time.Hour}
	idx, err := embedded.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	live := swap.New(idx)
	defer live.Close()

	sink := &applySink{b: live}
	reg := prometheus.NewRegistry()
	cdcMetrics := pgcdc.NewMetrics(reg)
	cdc, err := pgcdc.New(pgcdc.Config{DatabaseURL: dsn, Tables: []string{"listings"}, Slot: fmt.Sprintf("reindex_test_%08x", rand.Uint32()), Linger: 5 * time.Millisecond,
		StatusInterval: 200 * time.Millisecond}, sink, cdcMetrics)
	if err != nil {
		t.Fatal(err)
	}
	cdcCtx, stopCDC := context.WithCancel(ctx)
	cdcDone := make(chan error, 1)
	go func() { cdcDone <- cdc.Run(cdcCtx) }()
	defer func() {
		stopCDC()
		<-cdcDone
	}()
	waitFor(t, ctx, "initial snapshot", func() bool {
		if e := sink.err.Load(); e != nil {
			t.Fatalf("apply: %v", *e)
		}
		select {
		case err := <-cdcDone:
			t.Fatalf("cdc ended: %v", err)
		default:
		}
		st, err := live.Stats(ctx)
		return err == nil && st.Documents == stable+300
	})

	// The writer: k prices only go up; new listings come and go; churn
	// listings are updated and deleted.
	var wg sync.WaitGroup
	writerCtx, stopWriter := context.WithCancel(ctx)
	var writes atomic.Int64
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			werr = err
			return
		}
		defer conn.Close(context.Background())
		r := rand.New(rand.NewPCG(1, 2))
		for i := 1; writerCtx.Err() == nil; i++ {
			stmts := []struct {
				sql  string
				args []any
			}{
				{`UPDATE listings SET price_cents = price_cents + 1, updated_at = now() WHERE id = $1`, []any{fmt.Sprintf("k%d", 1+r.IntN(stable))}},
				{`INSERT INTO listings (id, seller_id, title, price_cents) VALUES ($1, 's2', 'novel coat', $2)`, []any{fmt.Sprintf("n%d", i), i}},
				{`UPDATE listings SET price_cents = $2 WHERE id = $1`, []any{fmt.Sprintf("c%d", 1+r.IntN(300)), i}},
			}
			if i%3 == 0 {
				stmts = append(stmts, struct {
					sql  string
					args []any
				}{`DELETE FROM listings WHERE id = $1 OR id = $2`, []any{fmt.Sprintf("c%d", 1+r.IntN(300)), fmt.Sprintf("n%d", i-1-r.IntN(min(i-1, 20)+1))}})
			}
			// Two statements in one transaction now and then: equal versions.
			tx, err := conn.Begin(ctx)
			if err != nil {
				werr = err
				return
			}
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
					tx.Rollback(ctx)
					werr = err
					return
				}
			}
			if err := tx.Commit(ctx); err != nil {
				werr = err
				return
			}
			writes.Add(1)
		}
	}()

	// The reader: every k listing is always found, and never older than
	// what was read before.
	readerCtx, stopReader := context.WithCancel(ctx)
	var searches atomic.Int64
	var rerr error
	var rmu sync.Mutex
	fail := func(err error) {
		rmu.Lock()
		if rerr == nil {
			rerr = err
		}
		rmu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen := map[string]int64{}
		r := rand.New(rand.NewPCG(3, 4))
		for readerCtx.Err() == nil {
			res, err := live.Retrieve(ctx, &query.Retrieval{Query: "keepsake", N: 5, Now: time.Now()})
			if err != nil {
				fail(fmt.Errorf("search: %w", err))
				return
			}
			if res.Total != stable {
				fail(fmt.Errorf("search keepsake: total %d, want %d", res.Total, stable))
				return
			}
			for i := 0; i < 5; i++ {
				id := fmt.Sprintf("k%d", 1+r.IntN(stable))
				l, err := live.Get(ctx, id)
				if err != nil {
					fail(fmt.Errorf("get %s: %w", id, err))
					return
				}
				if l.PriceCents < seen[id] {
					fail(fmt.Errorf("get %s: price %d after %d: went back in time", id, l.PriceCents, seen[id]))
					return
				}
				seen[id] = l.PriceCents
			}
			searches.Add(1)
		}
	}()

	waitFor(t, ctx, "writes before the reindex", func() bool { return writes.Load() >= 50 })
	var phases []Phase
	st, err := Run(ctx, &Embedded{Live: live, Config: cfg}, Options{
		Snapshot: PostgresSnapshot(dsn, nil),
		Progress: func(s Status) {
			if len(phases) == 0 || phases[len(phases)-1] != s.Phase {
				phases = append(phases, s.Phase)
			}
		},
	})
	if err != nil {
		t.Fatalf("reindex: %v (status %+v)", err, st)
	}
	atSwitch := writes.Load()
	waitFor(t, ctx, "writes after the reindex", func() bool { return writes.Load() >= atSwitch+50 })
	stopWriter()
	stopReader()
	wg.Wait()
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if rerr != nil {
		t.Fatalf("reader: %v", rerr)
	}
	t.Logf("reindex %+v; phases %v; %d writer transactions, %d reader rounds", st, phases, writes.Load(), searches.Load())
	if want := []Phase{PhaseBegin, PhaseBackfill, PhaseSwitch, PhaseFinish, PhaseDone}; fmt.Sprint(phases) != fmt.Sprint(want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if st.Rows < stable || st.FinishError != "" {
		t.Errorf("status %+v", st)
	}

	// The switch: CURRENT names generation 2, the old directory is gone,
	// the live backend is the new index.
	active, err := embedded.ActiveDir(cfg.Dir)
	if err != nil || filepath.Base(active) != "index.g000002" {
		t.Fatalf("active dir %q, %v", active, err)
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old generation %s still there (%v)", cfg.Dir, err)
	}
	if live.Current() == query.Backend(idx) {
		t.Fatal("live backend still the old index")
	}

	// Drain: once the CDC has applied everything Postgres committed, the
	// index equals Postgres.
	var lsn uint64
	if err := db.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	var diff error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if diff = compare(ctx, db, live); diff == nil {
			break
		}
	}
	if diff != nil {
		if n := skipped(reg); n > 0 {
			t.Fatalf("after the drain: %v — the CDC skipped %v transactions as already confirmed with no Postgres restart, so the stream lost them (a pgcdc keepalive-confirm problem, not the reindex: it happens without one too)", diff, n)
		}
		t.Fatalf("after the drain: %v", diff)
	}

	// And a restart opens the new generation with the same contents.
	stopCDC()
	<-cdcDone
	cdcDone <- nil
	want, _ := live.Stats(ctx)
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	re, err := embedded.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if got, _ := re.Stats(ctx); got != want {
		t.Fatalf("reopened: %+v, want %+v", got, want)
	}
	if err := compare(ctx, db, re); err != nil {
		t.Fatalf("reopened: %v", err)
	}
}

// compare checks that b holds exactly the listings of Postgres, with the
// same title, price and status.
func compare(ctx context.Context, db *pgx.Conn, b query.Backend) error {
	rows, err := db.Query(ctx, `SELECT id, title, price_cents, status FROM listings`)
	if err != nil {
		return err
	}
	type row struct {
		id, title, status string
		price             int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.title, &r.price, &r.status); err != nil {
			return err
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	st, err := b.Stats(ctx)
	if err != nil {
		return err
	}
	if st.Documents != int64(len(all)) {
		var missing []string
		for _, r := range all {
			if _, err := b.Get(ctx, r.id); err != nil {
				missing = append(missing, r.id)
			}
		}
		return fmt.Errorf("index holds %d listings, Postgres %d; missing %v", st.Documents, len(all), missing)
	}
	for _, r := range all {
		l, err := b.Get(ctx, r.id)
		if err != nil {
			return fmt.Errorf("listing %s: %w", r.id, err)
		}
		if l.Title != r.title || l.PriceCents != r.price || l.Status != r.status {
			return fmt.Errorf("listing %s: index %q %d %s, Postgres %q %d %s", r.id, l.Title, l.PriceCents, l.Status, r.title, r.price, r.status)
		}
	}
	return nil
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// skipped reads the CDC's count of transactions skipped as already
// confirmed.
func skipped(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "rummage_cdc_skipped_transactions_total" && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
