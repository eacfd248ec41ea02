package feed_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
)

// index is the conformance catalog in an embedded index.
func index(t *testing.T) *embedded.Index {
	t.Helper()
	x := embeddedtest.Open(t, embedded.Config{})
	if err := conformance.Load(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	return x
}

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func walk(t *testing.T, s *feed.Search, req query.Request, between func(page int)) (ids []string, pages int) {
	t.Helper()
	for pages = 0; pages < 100; pages++ {
		res, err := s.Search(context.Background(), &req)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, h := range res.Hits {
			ids = append(ids, h.ID)
		}
		if res.NextCursor == "" {
			return ids, pages + 1
		}
		req.Cursor = res.NextCursor
		if between != nil {
			between(pages)
		}
	}
	t.Fatal("too many pages")
	return nil, 0
}

// TestSearchPinsTheInstant: every page of a walk is evaluated at the first
// page's instant, so a change between pages neither repeats nor skips a
// listing of the walk, and a drop that goes live meanwhile does not slip in.
func TestSearchPinsTheInstant(t *testing.T) {
	x := index(t)
	s := feed.NewSearch(x, feed.SearchConfig{})
	all, _ := walk(t, s, query.Request{Limit: 100, Now: now}, nil)

	// The same walk, three per page; after the first page a new listing
	// lands at the top of "newest".
	got, pages := walk(t, s, query.Request{Limit: 3, Now: now}, func(page int) {
		if page != 0 {
			return
		}
		l := rummage.Listing{ID: "new-1", SellerID: "s1", Title: "Brand new", Status: rummage.StatusAvailable,
			CreatedAt: now.Add(-time.Minute), PriceCents: 100}
		if _, err := x.Apply(context.Background(), []query.Change{{ID: l.ID, Version: 9, Doc: &l}}); err != nil {
			t.Fatal(err)
		}
	})
	if !slices.Equal(got, all) {
		t.Errorf("walk with a write between pages:\n got %v\nwant %v", got, all)
	}
	if pages != (len(all)+2)/3 {
		t.Errorf("%d pages for %d hits", pages, len(all))
	}
}

// TestSearchRankedDepth: relevance pages stop at the ranked depth while
// the total stays exact; key orders page to the end.
func TestSearchRankedDepth(t *testing.T) {
	x := index(t)
	s := feed.NewSearch(x, feed.SearchConfig{RankedDepth: 2})
	first, err := s.Search(context.Background(), &query.Request{Query: "dress", Limit: 2, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if first.Total <= 2 {
		t.Fatalf("test needs more than 2 dresses, has %d", first.Total)
	}
	got, pages := walk(t, s, query.Request{Query: "dress", Limit: 1, Now: now}, nil)
	if len(got) != 2 || pages != 2 || got[0] != first.Hits[0].ID || got[1] != first.Hits[1].ID {
		t.Errorf("relevance walk: %v in %d pages, want the first page's 2 in 2 (total %d)", got, pages, first.Total)
	}
	keyed, _ := walk(t, s, query.Request{Query: "dress", Sort: query.SortPriceAsc, Limit: 2, Now: now}, nil)
	if len(keyed) != first.Total {
		t.Errorf("price walk: %d hits, want all %d", len(keyed), first.Total)
	}
}

// TestSearchBrandAliasFilter: brand=lulu filters by the brand it stands
// for, and the filter value matches case-insensitively.
func TestSearchBrandAliasFilter(t *testing.T) {
	x := index(t)
	s := feed.NewSearch(x, feed.SearchConfig{Aliases: query.Aliases{"lulu": "Lululemon"}})
	want, err := s.Search(context.Background(), &query.Request{Filters: query.Filters{Brands: []string{"Lululemon"}}, Now: now})
	if err != nil || want.Total == 0 {
		t.Fatalf("Lululemon: %v %+v", err, want)
	}
	for _, b := range []string{"lulu", "LULU", "lululemon", "LuLuLeMoN"} {
		got, err := s.Search(context.Background(), &query.Request{Filters: query.Filters{Brands: []string{b}}, Facets: []query.Facet{query.FacetBrand}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != want.Total {
			t.Errorf("brand=%s: %d hits, want %d", b, got.Total, want.Total)
		}
		if fv := got.Facets[query.FacetBrand]; !slices.ContainsFunc(fv, func(v query.FacetValue) bool { return v.Value == "Lululemon" }) {
			t.Errorf("brand=%s: the brand facet %v lacks the canonical Lululemon", b, fv)
		}
	}
}
