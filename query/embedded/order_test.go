package embedded

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
)

// TestOrderedPaging walks every page of several browses twice, through the
// presorted orders (with some listings written since they were built) and
// through the heap, and wants the same pages.
func TestOrderedPaging(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	x, err := Open(ctx, Config{Dir: t.TempDir(), BulkBatch: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: 3, Now: at, Count: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Bulk(ctx, generated(g)); err != nil {
		t.Fatal(err)
	}
	x.bg.Wait()
	x.mu.Lock()
	x.cols.ord = buildOrders(x.cols.orderSource())
	x.cols.dirty = roaring.New()
	x.mu.Unlock()
	// Dirty a few: new prices, times and shares on existing listings.
	var batch []query.Change
	for i := 0; i < 100; i++ {
		l := g.Listing(i * 37)
		l.PriceCents = int64(i * 100)
		l.CreatedAt = at.Add(-time.Duration(i) * time.Hour)
		shared := at.Add(-time.Duration(i) * time.Minute)
		l.LastSharedAt = &shared
		batch = append(batch, query.Change{ID: l.ID, Version: 2, Doc: &l})
	}
	if _, err := x.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	x.bg.Wait()

	walk := func(req query.Request) []string {
		var ids []string
		for page := 0; page < 1000; page++ {
			res, err := x.Search(ctx, &req)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range res.Hits {
				ids = append(ids, h.ID)
			}
			if res.NextCursor == "" {
				return ids
			}
			if req.After, err = query.DecodeCursor(res.NextCursor); err != nil {
				t.Fatal(err)
			}
		}
		t.Fatal("too many pages")
		return nil
	}
	defer func(f int, p bool) { orderFrac, relevancePruning = f, p }(orderFrac, relevancePruning)
	for _, q := range []string{"black", "vintage dress", "nike", "lululemom"} {
		req := query.Request{Query: q, Limit: 20, Now: at}
		relevancePruning = true
		pruned := walk(req)
		relevancePruning = false
		full := walk(req)
		if !slices.Equal(pruned, full) || len(full) == 0 {
			t.Errorf("q=%q: pruned and full relevance pages differ (%d vs %d listings)", q, len(pruned), len(full))
		}
	}
	for _, s := range []query.Sort{query.SortNewest, query.SortPriceAsc, query.SortPriceDesc, query.SortRecentlyShared, query.SortRelevance} {
		for _, cat := range [][]string{nil, {"Women"}} {
			req := query.Request{Sort: s, Limit: 100, Now: at, Filters: query.Filters{Category: cat}}
			orderFrac = 1 << 20
			x.mu.RLock()
			used := x.cols.orderFor(s, nil, x.cols.available) != nil
			x.mu.RUnlock()
			if !used {
				t.Fatalf("%s: ordered path not taken", s)
			}
			ordered := walk(req)
			orderFrac = 0
			heap := walk(req)
			if !slices.Equal(ordered, heap) || len(heap) == 0 {
				t.Errorf("%s %v: ordered and heap pages differ (%d vs %d listings)", s, cat, len(ordered), len(heap))
			}
		}
	}
}
