package embedded

import (
	"context"
	"slices"
	"testing"

	"github.com/rummage/rummage/query"
)

// TestRestrictCache: a long restriction passed again as the same slices
// answers from the cache, and after writes (deletes of listings it holds,
// upserts of ids it did not find) as the same restriction in new slices.
func TestRestrictCache(t *testing.T) {
	ctx := context.Background()
	x, g := testIndex(t, Config{}, 7, 6000)
	if _, err := x.Apply(ctx, upserts(g, 0, 4000)); err != nil {
		t.Fatal(err)
	}
	// 5000 ids, 1000 of them not indexed yet, keyed newest first.
	var ids []string
	var keys []int64
	for i := 5999; i >= 1000; i-- {
		ids = append(ids, g.Listing(i).ID)
		keys = append(keys, benchNow.UnixMilli()-int64(i))
	}
	retrieve := func(ids []string, keys []int64) *query.Candidates {
		t.Helper()
		r := &query.Retrieval{Now: benchNow, Sort: query.SortFeed, N: 50, Facets: []query.Facet{query.FacetBrand},
			Restrict: query.Restriction{Include: true, IDs: ids, IDKeys: keys}}
		c, err := x.Retrieve(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(step string) {
		t.Helper()
		cached := retrieve(ids, keys)
		again := retrieve(slices.Clone(ids), slices.Clone(keys)) // the same content: from the cache too
		restrictCacheMin = 1 << 30
		fresh := retrieve(slices.Clone(ids), slices.Clone(keys))
		restrictCacheMin = 2048
		if again.Total != cached.Total {
			t.Fatalf("%s: total %d, %d for the same ids in new slices", step, cached.Total, again.Total)
		}
		if cached.Total == 0 || cached.Total != fresh.Total || len(cached.Hits) != len(fresh.Hits) {
			t.Fatalf("%s: cached total %d, %d hits; fresh %d, %d", step, cached.Total, len(cached.Hits), fresh.Total, len(fresh.Hits))
		}
		for i := range cached.Hits {
			if cached.Hits[i].ID != fresh.Hits[i].ID || cached.Hits[i].Key != fresh.Hits[i].Key {
				t.Fatalf("%s: hit %d is %s@%d cached, %s@%d fresh", step, i, cached.Hits[i].ID, cached.Hits[i].Key, fresh.Hits[i].ID, fresh.Hits[i].Key)
			}
		}
		if !slices.EqualFunc(cached.Facets[query.FacetBrand], fresh.Facets[query.FacetBrand], func(a, b query.FacetValue) bool { return a == b }) {
			t.Fatalf("%s: brand facets differ", step)
		}
	}
	check("first")
	first := retrieve(ids, keys).Total
	check("again")
	if x.restricted.get(ids, keys) == nil || x.restricted.get(slices.Clone(ids), slices.Clone(keys)) == nil {
		t.Fatal("the restriction is not cached")
	}
	if x.restricted.get(ids[1:], keys[1:]) != nil {
		t.Fatal("a shorter restriction answers from the cache")
	}
	// Delete the newest indexed listings, index the missing ones.
	var del []query.Change
	for i := 3999; i >= 3900; i-- {
		del = append(del, query.Change{ID: g.Listing(i).ID, Version: 2, Delete: true})
	}
	if _, err := x.Apply(ctx, append(del, upserts(g, 4000, 6000)...)); err != nil {
		t.Fatal(err)
	}
	check("after writes")
	if got := retrieve(ids, keys).Total; got <= first {
		t.Errorf("total %d after indexing 2000 more listings of the restriction, %d before", got, first)
	}
}

// TestSellerCache: a long list of sellers, excluded or included, answers
// from the cache what the listings say, before and after writes that add
// listings of those sellers.
func TestSellerCache(t *testing.T) {
	ctx := context.Background()
	x, g := testIndex(t, Config{}, 8, 4000)
	if _, err := x.Apply(ctx, upserts(g, 0, 2000)); err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	var sellers []string
	for i := 0; len(sellers) < 100; i++ {
		if s := g.Listing(i).SellerID; !in[s] {
			in[s] = true
			sellers = append(sellers, s)
		}
	}
	total := func(r query.Restriction) int {
		t.Helper()
		c, err := x.Retrieve(ctx, &query.Retrieval{Now: benchNow, Sort: query.SortNewest, N: 10, Restrict: r})
		if err != nil {
			t.Fatal(err)
		}
		return c.Total
	}
	check := func(step string, n int) {
		t.Helper()
		all := total(query.Restriction{})
		theirs := 0
		for i := 0; i < n; i++ {
			if in[g.Listing(i).SellerID] {
				theirs++
			}
		}
		sellerCacheMin = 1 << 30
		want := total(query.Restriction{Include: true, Sellers: sellers})
		sellerCacheMin = 64
		for range 2 { // the second answers from the cache
			inc := total(query.Restriction{Include: true, Sellers: sellers})
			exc := total(query.Restriction{ExcludeSellers: slices.Clone(sellers)})
			if inc != want || inc+exc != all || inc > theirs {
				t.Fatalf("%s: %d listings of the sellers (%d without the cache), %d of the others, %d in all (%d indexed are theirs)", step, inc, want, exc, all, theirs)
			}
		}
	}
	check("first", 2000)
	before := total(query.Restriction{Include: true, Sellers: sellers})
	if _, err := x.Apply(ctx, upserts(g, 2000, 4000)); err != nil {
		t.Fatal(err)
	}
	check("after writes", 4000)
	if after := total(query.Restriction{Include: true, Sellers: sellers}); after <= before {
		t.Errorf("the sellers have %d listings after indexing 2000 more, %d before", after, before)
	}
}
