package pipeline

// The social half end to end: Postgres → CDC → the in-process broker →
// indexer → the embedded signals store, then a restart with an emptied
// store, which the social topics' replay rebuilds.

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
	"github.com/rummage/rummage/signals/redisstore"
)

// migration0003 is sellers.status and blocks (DESIGN.md), applied here
// until fixtures/migrations carries it; IF NOT EXISTS keeps it harmless
// after.
const migration0003 = `
ALTER TABLE sellers ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));
CREATE TABLE IF NOT EXISTS blocks (user_id text NOT NULL, seller_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, seller_id));
ALTER TABLE blocks REPLICA IDENTITY FULL;`

func TestSignalsEndToEnd(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		open := func(t *testing.T) signals.Store {
			s, err := memory.Open("")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		signalsEndToEnd(t, open, open)
	})
	t.Run("redis", func(t *testing.T) {
		prefix := testredis.Prefix(t, "pipeline-test")
		open := func(t *testing.T) signals.Store {
			s, err := redisstore.Open(context.Background(), redisstore.Config{URL: testredis.URL(), Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		emptied := func(t *testing.T) signals.Store {
			testredis.Delete(t, prefix)
			return open(t)
		}
		signalsEndToEnd(t, open, emptied)
	})
}

// signalsEndToEnd runs the pipeline into the store open gives, then again
// into the one emptied gives (none of the first one's data or positions).
func signalsEndToEnd(t *testing.T, open, emptied func(*testing.T) signals.Store) {
	dsn := testpg.New(t, testpg.Options{Logical: true})
	ctx := context.Background()
	if err := fixtures.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	exec := func(sql string) {
		t.Helper()
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(migration0003)
	// Rows that exist before the snapshot, and a party whose theme is not a
	// saved search (a bad row: counted, never a stuck partition).
	exec(`INSERT INTO sellers (id, username) VALUES ('s1', 'ann'), ('s2', 'bob')`)
	exec(`INSERT INTO listings (id, seller_id, title, brand) VALUES ('l1', 's1', 'Red boots', 'Acme'), ('l2', 's2', 'Blue coat', 'Acme')`)
	exec(`INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES
		('p1', 'Acme night', '{"brand":["Acme"]}', now() - interval '1 hour', now() + interval '1 hour'),
		('bad', 'Broken', '{"colour":["red"]}', now() - interval '1 hour', now() + interval '1 hour')`)
	exec(`INSERT INTO likes (user_id, listing_id) VALUES ('u1', 'l2')`)

	tables := append(rummage.Tables(), signals.TableBlocks)
	tables = slices.Compact(slices.Sorted(slices.Values(tables)))
	x, err := embedded.Open(ctx, embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	kafkaDir := t.TempDir()
	var reg *prometheus.Registry
	run := func(store signals.Store, resnapshot bool) (stop func()) {
		t.Helper()
		reg = prometheus.NewRegistry()
		p, err := New(ctx, Config{DatabaseURL: dsn, Index: x, Signals: store, KafkaDir: kafkaDir, Tables: tables,
			Partitions: 2, Resnapshot: resnapshot, Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return testkit.Go(ctx, t, "pipeline", p.Run)
	}

	store := open(t)
	defer store.Close()
	stop := run(store, true)
	// Changes while it streams: a follow, a share into the party, a like
	// deleted, a seller suspended, a block.
	exec(`INSERT INTO follows (follower_id, seller_id) VALUES ('u1', 's1')`)
	exec(`INSERT INTO shares (user_id, listing_id, party_id) VALUES ('u2', 'l1', 'p1')`)
	exec(`DELETE FROM likes WHERE user_id = 'u1' AND listing_id = 'l2'`)
	exec(`UPDATE sellers SET status = 'suspended' WHERE id = 's2'`)
	exec(`INSERT INTO blocks (user_id, seller_id) VALUES ('u1', 's2')`)
	waitFor(t, "the share and the block", func() bool {
		b, _ := store.Blocked(ctx, "u1")
		return partyHas(ctx, store, "p1", "l1") && len(b) == 1
	})
	stop()
	check(t, ctx, store)
	badParties := `
# HELP rummage_indexer_bad_rows_total Messages whose envelope or row does not decode (a party whose theme is not a valid saved search, a listing that fails validation), by table: logged with their key and sent to the dead-letter topic.
# TYPE rummage_indexer_bad_rows_total counter
rummage_indexer_bad_rows_total{table="parties"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(badParties), "rummage_indexer_bad_rows_total"); err != nil {
		t.Error(err)
	}

	// The same pipeline (broker log, consumer offsets, slot) with a new,
	// empty store: it has no positions, so the social topics are read from
	// their start and the store ends as it was.
	rebuilt := emptied(t)
	defer rebuilt.Close()
	if pos, err := rebuilt.Positions(ctx); err != nil || len(pos) != 0 {
		t.Fatalf("the emptied store has positions %v, %v", pos, err)
	}
	stop = run(rebuilt, false)
	waitFor(t, "the emptied store to be rebuilt", func() bool {
		b, _ := rebuilt.Blocked(ctx, "u1")
		return partyHas(ctx, rebuilt, "p1", "l1") && len(b) == 1
	})
	stop()
	check(t, ctx, rebuilt)
	if _, err := rebuilt.Party(ctx, "bad"); err == nil {
		t.Fatal("the party with a bad theme was stored")
	}
}

func partyHas(ctx context.Context, s signals.Reader, party, listing string) bool {
	got, _, err := s.PartyShares(ctx, party, time.Time{}, time.Now().Add(time.Hour))
	return err == nil && slices.ContainsFunc(got, func(l signals.ListingAt) bool { return l.Listing == listing })
}

// check reads back what the changes made of the store.
func check(t *testing.T, ctx context.Context, s signals.Reader) {
	t.Helper()
	if got, err := s.Following(ctx, "u1", time.Time{}, 0); err != nil || !slices.Equal(got, []string{"s1"}) {
		t.Errorf("u1 follows %v, %v; want [s1]", got, err)
	}
	shares, n, err := s.PartyShares(ctx, "p1", time.Time{}, time.Now().Add(time.Hour))
	if err != nil || n != 1 || len(shares) != 1 || shares[0].Listing != "l1" {
		t.Errorf("party p1: %v (%d shares), %v; want l1 once", shares, n, err)
	}
	act, err := s.Activity(ctx, "u1", time.Time{}, time.Now().Add(time.Hour), 0)
	if err != nil || len(act) != 0 {
		t.Errorf("u1's activity %v, %v; want none (the like was deleted)", act, err)
	}
	if got, err := s.Suspended(ctx); err != nil || !slices.Equal(got, []string{"s2"}) {
		t.Errorf("suspended %v, %v; want [s2]", got, err)
	}
	if got, err := s.Blocked(ctx, "u1"); err != nil || !slices.Equal(got, []string{"s2"}) {
		t.Errorf("u1 blocked %v, %v; want [s2]", got, err)
	}
	if p, err := s.Party(ctx, "p1"); err != nil || len(p.Theme.Filters.Brands) != 1 {
		t.Errorf("party p1: %+v, %v", p, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
