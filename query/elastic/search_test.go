package elastic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/query"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func i64(v int64) *int64 { return &v }

// withCursor sets req.After to a cursor at (key, id) made for req.
func withCursor(req *query.Request, key int64, id string) *query.Request {
	req.After = &query.Cursor{Sort: req.EffectiveSort(), Key: key, ID: id, Request: req.Fingerprint(), At: testNow.Add(-time.Minute).UnixMilli()}
	return req
}

var testAliases = query.Aliases{"lulu": "Lululemon", "north face": "The North Face", "tnf": "The North Face"}

// TestSearchRequestGolden pins the _search body of every query shape.
func TestSearchRequestGolden(t *testing.T) {
	all := []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}
	cases := []struct {
		name string
		req  *query.Request
	}{
		{"text", &query.Request{Query: "vintage dresses"}},
		{"text_alias", &query.Request{Query: "lulu align leggings"}},
		{"text_alias_multiword", &query.Request{Query: "North Face jacket"}},
		{"text_alias_only", &query.Request{Query: "tnf"}},
		{"text_stop_words_dropped", &query.Request{Query: "the dress with pockets"}},
		{"browse", &query.Request{}},
		{"filters", &query.Request{Filters: query.Filters{
			Brands: []string{"Nike", "Adidas"}, Sizes: []string{"M"}, Conditions: []string{"nwt", "like_new"},
			Colors: []string{"black"}, Category: []string{"Women", "Dresses"}, PriceMin: i64(1000), PriceMax: i64(5000),
		}}},
		{"price_min_only", &query.Request{Filters: query.Filters{PriceMin: i64(2500)}}},
		{"facets_all", &query.Request{Facets: all}},
		{"facets_disjunctive", &query.Request{Query: "sneakers", Facets: all, Filters: query.Filters{
			Brands: []string{"Nike"}, Sizes: []string{"10", "10.5"}, Colors: []string{"white"}, PriceMax: i64(10000),
		}}},
		{"category_facet_roots", &query.Request{Facets: []query.Facet{query.FacetCategory}}},
		{"category_facet_children", &query.Request{Facets: []query.Facet{query.FacetCategory, query.FacetBrand},
			Filters: query.Filters{Category: []string{"Women", "Dresses"}, Brands: []string{"Reformation"}}}},
		{"sort_relevance", &query.Request{Query: "denim jacket", Sort: query.SortRelevance}},
		{"sort_relevance_browse", &query.Request{Sort: query.SortRelevance}},
		{"sort_newest", &query.Request{Query: "denim", Sort: query.SortNewest}},
		{"sort_price_asc", &query.Request{Sort: query.SortPriceAsc, Limit: 10}},
		{"sort_price_desc", &query.Request{Sort: query.SortPriceDesc, Limit: 100}},
		{"sort_recently_shared", &query.Request{Sort: query.SortRecentlyShared}},
		{"cursor_price_asc", withCursor(&query.Request{Sort: query.SortPriceAsc}, 4800, "l-100")},
		{"cursor_newest", withCursor(&query.Request{}, 1748772000000, "l-9")},
		{"cursor_recently_shared_never", withCursor(&query.Request{Sort: query.SortRecentlyShared}, 0, "l-3")},
		{"cursor_relevance", withCursor(&query.Request{Query: "leggings"}, query.ScoreKey(14.072173), "l-7")},
		{"cursor_relevance_browse", withCursor(&query.Request{Sort: query.SortRelevance}, query.ScoreKey(1748772000000), "l-9")},
		{"drop_visibility", &query.Request{Now: time.Date(2025, 12, 24, 18, 30, 0, 0, time.UTC)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.Now.IsZero() {
				c.req.Now = testNow
			}
			if err := c.req.Validate(); err != nil {
				t.Fatalf("test request invalid: %v", err)
			}
			f := newFake(t, map[string][]reply{"POST /rummage-listings/_search": {{200, "search_aggs.json"}}})
			b := f.backend(t, func(c *Config) { c.Aliases = testAliases })
			if _, err := b.Search(context.Background(), c.req); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			goldenRequest(t, "requests/search_"+c.name+".json", reqs[0])
		})
	}
}

// TestSearchNoSearchableWord: a query of stop words and punctuation matches
// nothing without asking the cluster, and still lists every price bucket.
func TestSearchNoSearchableWord(t *testing.T) {
	f := newFake(t, nil)
	b := f.backend(t, nil)
	res, err := b.Search(context.Background(), &query.Request{Query: "the ... of", Facets: []query.Facet{query.FacetBrand, query.FacetPrice}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
	if res.Total != 0 || len(res.Hits) != 0 || res.NextCursor != "" {
		t.Errorf("result %+v, want empty", res)
	}
	if len(res.Facets[query.FacetBrand]) != 0 || res.Facets[query.FacetBrand] == nil {
		t.Errorf("brand facet %v, want empty and non-nil", res.Facets[query.FacetBrand])
	}
	if len(res.Facets[query.FacetPrice]) != len(query.PriceBuckets) {
		t.Errorf("price facet %v, want every bucket", res.Facets[query.FacetPrice])
	}
}

// TestSearchResponseGolden maps Elasticsearch 8 responses to results.
func TestSearchResponseGolden(t *testing.T) {
	all := []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}
	cases := []struct {
		name       string
		response   string
		req        *query.Request
		wantCursor *query.Cursor // key and id of NextCursor; nil for none
	}{
		{"search_aggs", "search_aggs.json",
			&query.Request{Sort: query.SortPriceAsc, Limit: 2, Facets: all, Filters: query.Filters{Category: []string{"Men", "Shoes"}}},
			&query.Cursor{Key: 4900, ID: "l-205"}},
		{"search_aggs_last_page", "search_aggs.json",
			&query.Request{Sort: query.SortPriceAsc, Limit: 3, Facets: []query.Facet{query.FacetPrice}}, nil},
		{"search_relevance", "search_relevance.json",
			&query.Request{Query: "lulu leggings", Limit: 1},
			&query.Cursor{Key: query.ScoreKey(14.072173), ID: "l-7"}},
		{"search_empty", "search_empty.json",
			&query.Request{Query: "zzz", Facets: []query.Facet{query.FacetColor, query.FacetPrice}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Now = testNow
			f := newFake(t, map[string][]reply{"POST /rummage-listings/_search": {{200, c.response}}})
			b := f.backend(t, nil)
			if c.name == "search_empty" {
				// a response without aggregations for asked facets is an error
				if _, err := b.Search(context.Background(), c.req); err == nil || !strings.Contains(err.Error(), "lacks the color facet") {
					t.Fatalf("err = %v, want a missing facet error", err)
				}
				return
			}
			res, err := b.Search(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := json.MarshalIndent(res, "", "  ")
			golden(t, "results/"+c.name+".json", append(out, '\n'))
			if c.wantCursor == nil {
				if res.NextCursor != "" {
					t.Errorf("next cursor %q on the last page", res.NextCursor)
				}
				return
			}
			cur, err := query.DecodeCursor(res.NextCursor)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Key != c.wantCursor.Key || cur.ID != c.wantCursor.ID || cur.At != testNow.UnixMilli() || cur.Request != c.req.Fingerprint() {
				t.Errorf("cursor %+v, want key %d id %s at %d", cur, c.wantCursor.Key, c.wantCursor.ID, testNow.UnixMilli())
			}
			// the next page asks for the hits after exactly that position
			next := *c.req
			next.After, next.Now = cur, time.Time{}
			if err := next.Validate(); err != nil {
				t.Fatal(err)
			}
			sb, _ := searchBody(&next, next.Instant(), nil)
			after, _ := json.Marshal(sb["search_after"])
			want, _ := json.Marshal(searchAfter(cur, next.Query != ""))
			if string(after) != string(want) || !strings.Contains(string(after), c.wantCursor.ID) {
				t.Errorf("search_after %s, want %s", after, want)
			}
		})
	}
}

// TestSearchPartialIsError: a timed-out or shard-failed search is an error,
// never a silently short page.
func TestSearchPartialIsError(t *testing.T) {
	f := newFake(t, map[string][]reply{"POST /rummage-listings/_search": {
		{200, "search_shard_failure.json"},
		{200, `{"timed_out": true, "hits": {"total": {"value": 1, "relation": "eq"}, "hits": []}}`},
		{200, `{"timed_out": false, "hits": {"total": {"value": 10000, "relation": "gte"}, "hits": []}}`},
	}})
	b := f.backend(t, nil)
	for _, want := range []string{"1 of 3 shards failed", "timed out", "lower bound"} {
		_, err := b.Search(context.Background(), &query.Request{Now: testNow})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}

func TestCursorKey(t *testing.T) {
	cases := []struct {
		sort query.Sort
		text bool
		vals string
		want int64
		bad  bool
	}{
		{query.SortPriceAsc, false, `[4800, "a"]`, 4800, false},
		{query.SortNewest, false, `[1748772000000, "a"]`, 1748772000000, false},
		{query.SortNewest, false, `["1748772000000", "a"]`, 1748772000000, false},
		{query.SortRecentlyShared, false, `[0, "a"]`, 0, false},
		{query.SortRelevance, true, `[2.5, "a"]`, query.ScoreKey(2.5), false},
		{query.SortRelevance, false, `[1748772000000, "a"]`, query.ScoreKey(1748772000000), false},
		{query.SortPriceAsc, false, `[4800]`, 0, true},
		{query.SortPriceAsc, false, `[null, "a"]`, 0, true},
		{query.SortRelevance, true, `["NaN", "a"]`, 0, true},
	}
	for _, c := range cases {
		var vals []json.RawMessage
		if err := json.Unmarshal([]byte(c.vals), &vals); err != nil {
			t.Fatal(err)
		}
		got, err := cursorKey(c.sort, c.text, vals)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("cursorKey(%s, %v, %s) = %d, %v; want %d, bad=%v", c.sort, c.text, c.vals, got, err, c.want, c.bad)
		}
	}
}
