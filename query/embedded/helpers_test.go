package embedded

import (
	"context"
	"io"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
)

// testIndex opens a fresh index with cfg in a temporary directory, closed
// when the test ends, and a generator of n listings at benchNow.
func testIndex(t *testing.T, cfg Config, seed uint64, n int) (*Index, *fixtures.Generator) {
	t.Helper()
	cfg.Dir = t.TempDir()
	x, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: seed, Now: benchNow, Count: n})
	if err != nil {
		t.Fatal(err)
	}
	return x, g
}

// upserts returns the generator's listings lo..hi-1 as version-1 upserts.
func upserts(g *fixtures.Generator, lo, hi int) []query.Change {
	out := make([]query.Change, 0, hi-lo)
	for i := lo; i < hi; i++ {
		l := g.Listing(i)
		out = append(out, query.Change{ID: l.ID, Version: 1, Doc: &l})
	}
	return out
}

// each yields the changes one by one, for Bulk.
func each(chs []query.Change) func() (query.Change, error) {
	return func() (query.Change, error) {
		if len(chs) == 0 {
			return query.Change{}, io.EOF
		}
		c := chs[0]
		chs = chs[1:]
		return c, nil
	}
}

// freshOrders waits for background rebuilds, then builds the orders from
// scratch with nothing dirty.
func freshOrders(x *Index) {
	x.bg.Wait()
	x.mu.Lock()
	defer x.mu.Unlock()
	src := x.cols.orderSource()
	src.prev, src.dirty = nil, nil
	x.cols.ord = buildOrders(src)
	x.cols.dirty = roaring.New()
}
