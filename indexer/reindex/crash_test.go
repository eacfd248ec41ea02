package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/swap"
)

func listing(id string, price int64) *rummage.Listing {
	return &rummage.Listing{ID: id, SellerID: "s1", Title: "crash test " + id, PriceCents: price, Status: "available"}
}

// fakeSnapshot serves rows as a snapshot consistent at lsn.
func fakeSnapshot(lsn uint64, rows ...*rummage.Listing) SnapshotFunc {
	return func(ctx context.Context, fn func(context.Context, []change.Event) error) (uint64, error) {
		var evs []change.Event
		for _, l := range rows {
			b, _ := json.Marshal(l)
			evs = append(evs, change.Event{After: b, Op: change.OpRead,
				Source: change.Source{Table: "listings", Schema: "public", LSN: lsn}})
		}
		return lsn, fn(ctx, evs)
	}
}

func openLive(t *testing.T, cfg embedded.Config) *swap.Backend {
	t.Helper()
	x, err := embedded.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return swap.New(x)
}

func prices(t *testing.T, b query.Backend, ids ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, id := range ids {
		l, err := b.Get(context.Background(), id)
		if errors.Is(err, query.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[id] = l.PriceCents
	}
	return out
}

func apply(t *testing.T, b query.Backend, cs ...query.Change) {
	t.Helper()
	if _, err := b.Apply(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
}

func up(l *rummage.Listing, v uint64) query.Change { return query.Change{ID: l.ID, Version: v, Doc: l} }

// TestSwitchCrashConsistency stops a reindex at each point a crash can hit
// and reopens the index from disk as a restarted process would: it must
// always open a complete generation, and the next reindex must clean up.
func TestSwitchCrashConsistency(t *testing.T) {
	ctx := context.Background()
	cfg := embedded.Config{Dir: filepath.Join(t.TempDir(), "index"), RefreshInterval: time.Hour}
	live := openLive(t, cfg)
	apply(t, live, up(listing("a", 1), 10), up(listing("b", 1), 10))

	// Crash before the CURRENT rename: dual writes and the backfill done,
	// no switch. The restarted process opens generation 1, whole.
	e := &Embedded{Live: live, Config: cfg}
	nb, err := e.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, live, up(listing("a", 2), 20))
	apply(t, nb, up(listing("b", 1), 99))
	// the crash: the process goes away without switching
	live.Close()
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg.Dir), "index.g000002")); err != nil {
		t.Fatalf("half-built generation should be on disk: %v", err)
	}
	if d, err := embedded.ActiveDir(cfg.Dir); err != nil || d != cfg.Dir {
		t.Fatalf("active %q %v, want %s", d, err, cfg.Dir)
	}
	live = openLive(t, cfg)
	if got := prices(t, live, "a", "b"); got["a"] != 2 || got["b"] != 1 {
		t.Fatalf("after a crash before the switch: %v", got)
	}

	// A torn pointer write (the temporary file, never renamed) is ignored.
	if err := os.WriteFile(cfg.Dir+embedded.CurrentSuffix+".tmp-1234", []byte("index.g0000"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := embedded.ActiveDir(cfg.Dir); err != nil || d != cfg.Dir {
		t.Fatalf("torn tmp: active %q %v", d, err)
	}

	// The next reindex removes the leftover and builds generation 3. A
	// stream change at exactly the snapshot's LSN, applied before the
	// backfill, must survive it (snapshot rows go in at LSN-1).
	e = &Embedded{Live: live, Config: cfg}
	const lsn = 100
	st, err := Run(ctx, &crashAfterSwitch{Embedded: e, before: func(nb query.Backend) {
		apply(t, live, up(listing("b", 3), lsn))
	}}, Options{Snapshot: fakeSnapshot(lsn, listing("a", 2), listing("b", 2))})
	if err != nil {
		t.Fatalf("reindex: %v %+v", err, st)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg.Dir), "index.g000002")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover generation 2 not removed: %v", err)
	}
	if got := prices(t, live, "a", "b"); got["a"] != 2 || got["b"] != 3 {
		t.Fatalf("after the switch: %v (b must keep the stream's version at the snapshot LSN)", got)
	}
	// The crash: after the rename, before Finish (crashAfterSwitch skipped
	// it). The restarted process opens generation 3; generation 1 is
	// still on disk until the next reindex.
	live.Close()
	d, err := embedded.ActiveDir(cfg.Dir)
	if err != nil || filepath.Base(d) != "index.g000003" {
		t.Fatalf("active %q %v", d, err)
	}
	if _, err := os.Stat(cfg.Dir); err != nil {
		t.Fatalf("generation 1 should still be there: %v", err)
	}
	live = openLive(t, cfg)
	if got := prices(t, live, "a", "b"); got["a"] != 2 || got["b"] != 3 {
		t.Fatalf("reopened after the switch: %v", got)
	}

	// A full reindex afterwards cleans generation 1 and retires 3.
	if _, err := Run(ctx, &Embedded{Live: live, Config: cfg}, Options{Snapshot: fakeSnapshot(200, listing("a", 5))}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.Dir))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "index.CURRENT,index.g000004" {
		t.Fatalf("directory holds %v", names)
	}
	if got := prices(t, live, "a", "b"); got["a"] != 5 || len(got) != 1 {
		t.Fatalf("after the last reindex: %v", got)
	}
	live.Close()

	// A pointer naming a missing generation is an error, not a new empty
	// index.
	if err := os.WriteFile(cfg.Dir+embedded.CurrentSuffix, []byte("index.g000009\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Open(ctx, cfg); err == nil {
		t.Fatal("opened an index through a pointer to a missing generation")
	}
	if err := os.WriteFile(cfg.Dir+embedded.CurrentSuffix, []byte("../elsewhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.ActiveDir(cfg.Dir); err == nil {
		t.Fatal("accepted a pointer outside the generations")
	}
}

// crashAfterSwitch runs before just before the backfill and skips Finish,
// as a crash right after the switch would.
type crashAfterSwitch struct {
	*Embedded
	before func(nb query.Backend)
}

func (c *crashAfterSwitch) Begin(ctx context.Context) (query.Backend, error) {
	nb, err := c.Embedded.Begin(ctx)
	if err == nil {
		c.before(nb)
	}
	return nb, err
}

func (c *crashAfterSwitch) Finish(ctx context.Context) error { return nil }

// TestAbortKeepsOld: a failed backfill removes the new generation, stops
// the tee, and leaves the old index serving and pointed to.
func TestAbortKeepsOld(t *testing.T) {
	ctx := context.Background()
	cfg := embedded.Config{Dir: filepath.Join(t.TempDir(), "index"), RefreshInterval: time.Hour}
	live := openLive(t, cfg)
	defer live.Close()
	apply(t, live, up(listing("a", 1), 10))
	boom := errors.New("snapshot failed")
	st, err := Run(ctx, &Embedded{Live: live, Config: cfg}, Options{Snapshot: func(context.Context, func(context.Context, []change.Event) error) (uint64, error) {
		return 0, boom
	}})
	if !errors.Is(err, boom) || st.Phase != PhaseFailed {
		t.Fatalf("err %v, status %+v", err, st)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg.Dir), "index.g000002")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("new generation not removed: %v", err)
	}
	if _, err := os.Stat(cfg.Dir + embedded.CurrentSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pointer written: %v", err)
	}
	apply(t, live, up(listing("a", 2), 20)) // the tee is gone: this must not fail
	if got := prices(t, live, "a"); got["a"] != 2 {
		t.Fatalf("%v", got)
	}
}
