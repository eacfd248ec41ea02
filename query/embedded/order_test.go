package embedded

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
)

// TestOrderedPaging walks every page of several browses twice, through the
// presorted orders (with some listings written since they were built) and
// through the heap, and wants the same pages.
func TestOrderedPaging(t *testing.T) {
	ctx := context.Background()
	at := benchNow
	x, g := testIndex(t, Config{BulkBatch: 2000}, 3, 5000)
	if _, err := x.Bulk(ctx, generated(g)); err != nil {
		t.Fatal(err)
	}
	freshOrders(x)
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

	search := feed.NewSearch(x, feed.SearchConfig{})
	walk := func(req query.Request) []string {
		var ids []string
		for page := 0; page < 1000; page++ {
			res, err := search.Search(ctx, &req)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range res.Hits {
				ids = append(ids, h.ID)
			}
			if res.NextCursor == "" {
				return ids
			}
			req.Cursor = res.NextCursor
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

// TestIncrementalOrders rebuilds the orders by merging the listings written
// since into the previous orders, and wants exactly what sorting everything
// gives: after price, time and share changes to existing listings, new
// listings, and deletes.
func TestIncrementalOrders(t *testing.T) {
	ctx := context.Background()
	at := benchNow
	x, g := testIndex(t, Config{BulkBatch: 1000}, 4, 6000)
	if _, err := x.Bulk(ctx, each(upserts(g, 0, 5000))); err != nil { // the rest come new below
		t.Fatal(err)
	}
	freshOrders(x)

	var batch []query.Change
	for i := 0; i < 5000; i += 13 {
		l := g.Listing(i)
		switch i % 3 {
		case 0:
			l.PriceCents = int64(i % 700 * 100) // many equal prices: ties go by id
		case 1:
			l.CreatedAt = at.Add(-time.Duration(i) * time.Minute)
		default:
			shared := at.Add(-time.Duration(i%50) * time.Hour)
			l.LastSharedAt = &shared
		}
		batch = append(batch, query.Change{ID: l.ID, Version: 2, Doc: &l})
	}
	for _, c := range upserts(g, 5000, 6000) { // new listings
		c.Version = 2
		batch = append(batch, c)
	}
	for i := 7; i < 5000; i += 101 {
		batch = append(batch, query.Change{ID: g.Listing(i).ID, Version: 3, Delete: true})
	}
	x.building.Store(true) // no background rebuild takes the dirty set meanwhile
	defer x.building.Store(false)
	if _, err := x.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	src := x.cols.orderSource()
	x.mu.Unlock()
	if src.prev == nil || src.dirty.IsEmpty() {
		t.Fatal("no previous orders or no dirty listings to merge")
	}
	merged := buildOrders(src)
	src.prev, src.dirty = nil, nil
	full := buildOrders(src)
	if merged.n != full.n {
		t.Fatalf("merged orders hold %d ordinals, full %d", merged.n, full.n)
	}
	for _, s := range orderedSorts {
		m, f := merged.by[s], full.by[s]
		if !slices.Equal(m.ords, f.ords) || !slices.Equal(m.vals, f.vals) {
			t.Errorf("sort %s: merged order differs from a full sort (%d vs %d entries)", s, len(m.ords), len(f.ords))
		}
	}
}
