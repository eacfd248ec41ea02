package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func i64(v int64) *int64 { return &v }

// ret completes a retrieval for the tests: one page of 24 (or N) with
// documents, at testNow, the shipped blend for relevance.
func ret(r query.Retrieval) *query.Retrieval {
	if r.N == 0 {
		r.N = query.DefaultLimit
	}
	r.Docs = r.N
	if r.Now.IsZero() {
		r.Now = testNow
	}
	if r.EffectiveSort() == query.SortRelevance {
		r.Score = ranking.Blend{NowMs: r.Now.UnixMilli()}
	}
	return &r
}

// ids returns n listing ids l-00000, l-00001, ...
func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("l-%05d", i)
	}
	return out
}

var testAliases = query.Aliases{"lulu": "Lululemon", "north face": "The North Face", "tnf": "The North Face"}

// TestSearchRequestGolden pins the _search body of every query shape.
func TestSearchRequestGolden(t *testing.T) {
	all := []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}
	cases := []struct {
		name string
		req  *query.Retrieval
	}{
		{"text", ret(query.Retrieval{Query: "vintage dresses"})},
		{"text_alias", ret(query.Retrieval{Query: "lulu align leggings"})},
		{"text_alias_multiword", ret(query.Retrieval{Query: "North Face jacket"})},
		{"text_alias_only", ret(query.Retrieval{Query: "tnf"})},
		{"text_stop_words_dropped", ret(query.Retrieval{Query: "the dress with pockets"})},
		{"browse", ret(query.Retrieval{})},
		{"filters", ret(query.Retrieval{Filters: query.Filters{
			Brands: []string{"Nike", "Adidas"}, Sizes: []string{"M"}, Conditions: []string{"NWT", "like_new"},
			Colors: []string{"black"}, Category: []string{"Women", "Dresses"}, PriceMin: i64(1000), PriceMax: i64(5000),
		}})},
		{"price_min_only", ret(query.Retrieval{Filters: query.Filters{PriceMin: i64(2500)}})},
		{"facets_all", ret(query.Retrieval{Facets: all})},
		{"facets_disjunctive", ret(query.Retrieval{Query: "sneakers", Facets: all, Filters: query.Filters{
			Brands: []string{"Nike"}, Sizes: []string{"10", "10.5"}, Colors: []string{"white"}, PriceMax: i64(10000),
		}})},
		{"facet_limit", ret(query.Retrieval{Facets: []query.Facet{query.FacetBrand, query.FacetSize}, FacetLimit: 500})},
		{"category_facet_roots", ret(query.Retrieval{Facets: []query.Facet{query.FacetCategory}})},
		{"category_facet_children", ret(query.Retrieval{Facets: []query.Facet{query.FacetCategory, query.FacetBrand},
			Filters: query.Filters{Category: []string{"Women", "Dresses"}, Brands: []string{"Reformation"}}})},
		{"sort_relevance", ret(query.Retrieval{Query: "denim jacket", Sort: query.SortRelevance})},
		{"sort_relevance_browse", ret(query.Retrieval{Sort: query.SortRelevance})},
		{"sort_newest", ret(query.Retrieval{Query: "denim", Sort: query.SortNewest})},
		{"sort_price_asc", ret(query.Retrieval{Sort: query.SortPriceAsc, N: 10})},
		{"sort_price_desc", ret(query.Retrieval{Sort: query.SortPriceDesc, N: 100})},
		{"sort_recently_shared", ret(query.Retrieval{Sort: query.SortRecentlyShared})},
		{"cursor_price_asc", ret(query.Retrieval{Sort: query.SortPriceAsc, After: &query.Position{Key: 4800, ID: "l-100"}})},
		{"cursor_newest", ret(query.Retrieval{After: &query.Position{Key: 1748772000000, ID: "l-9"}})},
		{"cursor_recently_shared_never", ret(query.Retrieval{Sort: query.SortRecentlyShared, After: &query.Position{ID: "l-3"}})},
		{"cursor_relevance", ret(query.Retrieval{Query: "leggings", After: &query.Position{Score: 14.072173, ID: "l-7"}})},
		{"drop_visibility", ret(query.Retrieval{Now: time.Date(2025, 12, 24, 18, 30, 0, 0, time.UTC)})},
		// Nothing can match, but the ticked brand must stay in its facet.
		{"stop_words_selected_facet", ret(query.Retrieval{Query: "the of", Facets: []query.Facet{query.FacetBrand}, Filters: query.Filters{Brands: []string{"Nike"}}})},
		{"signals_only", &query.Retrieval{Sort: query.SortNewest, N: 200, Now: testNow}},
		{"restrict_sellers_ids", ret(query.Retrieval{Facets: []query.Facet{query.FacetBrand}, Restrict: query.Restriction{
			Include: true, Sellers: []string{"s-1", "s-2"}, IDs: []string{"l-1", "l-2", "l-3"}, ExcludeSellers: []string{"s-9"}}})},
		{"restrict_nothing", ret(query.Retrieval{Restrict: query.Restriction{Include: true}})},
		{"restrict_exclude_only", ret(query.Retrieval{Restrict: query.Restriction{ExcludeSellers: []string{"s-9", "s-8"}}})},
		// 70,000 ids: above index.max_terms_count (65,536), so two terms clauses.
		{"restrict_large", ret(query.Retrieval{Restrict: query.Restriction{Include: true, IDs: ids(70000)}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.req.Restrict.IDs) <= query.MaxRestrictIDs {
				if err := c.req.Validate(); err != nil {
					t.Fatalf("test request invalid: %v", err)
				}
			}
			f := newFake(t, map[string][]reply{
				"POST /rummage-listings/_search": {{200, "search_aggs.json"}},
				"POST /rummage-listings/_mget":   {{200, "mget.json"}},
			})
			b := f.backend(t, func(c *Config) { c.Aliases = testAliases })
			// Only the request matters here (TestSearchResponseGolden
			// covers reading answers): a canned answer that does not fit
			// the request (no scores for a ranked one) may fail to decode.
			_, _ = b.Retrieve(context.Background(), c.req)
			reqs := f.requests()
			if len(reqs) < 1 {
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
	res, err := b.Retrieve(context.Background(), ret(query.Retrieval{Query: "the ... of", Facets: []query.Facet{query.FacetBrand, query.FacetPrice}}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
	if res.Total != 0 || len(res.Hits) != 0 || res.More {
		t.Errorf("result %+v, want empty", res)
	}
	if len(res.Facets[query.FacetBrand]) != 0 || res.Facets[query.FacetBrand] == nil {
		t.Errorf("brand facet %v, want empty and non-nil", res.Facets[query.FacetBrand])
	}
	if len(res.Facets[query.FacetPrice]) != query.NumPriceBuckets {
		t.Errorf("price facet %v, want every bucket", res.Facets[query.FacetPrice])
	}
}

// TestSearchResponseGolden maps Elasticsearch 8 responses to candidates.
func TestSearchResponseGolden(t *testing.T) {
	all := []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}
	cases := []struct {
		name     string
		response string
		req      *query.Retrieval
		wantMore bool
	}{
		{"search_aggs", "search_aggs.json",
			ret(query.Retrieval{Sort: query.SortPriceAsc, N: 2, Facets: all, Filters: query.Filters{Category: []string{"Men", "Shoes"}, Brands: []string{"nike", "Vans"}}}), true},
		{"search_aggs_last_page", "search_aggs.json",
			ret(query.Retrieval{Sort: query.SortPriceAsc, N: 3, Facets: []query.Facet{query.FacetPrice}}), false},
		{"search_relevance", "search_relevance.json",
			ret(query.Retrieval{Query: "lulu leggings", N: 1}), true},
		{"search_relevance_after", "search_relevance.json",
			ret(query.Retrieval{Query: "lulu leggings", N: 1, After: &query.Position{Score: 17.8, ID: "l-7"}}), false},
		{"search_empty", "search_empty.json",
			ret(query.Retrieval{Query: "zzz", Facets: []query.Facet{query.FacetColor, query.FacetPrice}}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, map[string][]reply{
				"POST /rummage-listings/_search": {{200, c.response}},
				"POST /rummage-listings/_mget":   {{200, "mget.json"}},
			})
			b := f.backend(t, nil)
			if c.name == "search_empty" {
				// a response without aggregations for asked facets is an error
				if _, err := b.Retrieve(context.Background(), c.req); err == nil || !strings.Contains(err.Error(), "lacks the color facet") {
					t.Fatalf("err = %v, want a missing facet error", err)
				}
				return
			}
			res, err := b.Retrieve(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := json.MarshalIndent(res, "", "  ")
			golden(t, "results/"+c.name+".json", append(out, '\n'))
			if res.More != c.wantMore {
				t.Errorf("more = %v, want %v", res.More, c.wantMore)
			}
			if len(res.Hits) == 0 || !res.More {
				return
			}
			// the next page asks for the hits after exactly that position
			next := *c.req
			pos := res.Hits[len(res.Hits)-1].Position()
			next.After = &pos
			sb, _ := b.searchBody(&next)
			if next.EffectiveSort() == query.SortRelevance {
				if _, ok := sb["search_after"]; ok {
					t.Errorf("a ranked window has no search_after: %v", sb["search_after"])
				}
				return
			}
			after, _ := json.Marshal(sb["search_after"])
			if want := fmt.Sprintf(`[%d,%q]`, pos.Key, pos.ID); string(after) != want {
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
		_, err := b.Retrieve(context.Background(), ret(query.Retrieval{}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}

func TestSortKey(t *testing.T) {
	cases := []struct {
		vals string
		want int64
		bad  bool
	}{
		{`[4800, "a"]`, 4800, false},
		{`[1748772000000, "a"]`, 1748772000000, false},
		{`["1748772000000", "a"]`, 1748772000000, false},
		{`[0, "a"]`, 0, false},
		{`[4800]`, 0, true},
		{`[null, "a"]`, 0, true},
		{`["NaN", "a"]`, 0, true},
	}
	for _, c := range cases {
		var vals []json.RawMessage
		if err := json.Unmarshal([]byte(c.vals), &vals); err != nil {
			t.Fatal(err)
		}
		got, err := sortKey(vals)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("sortKey(%s) = %d, %v; want %d, bad=%v", c.vals, got, err, c.want, c.bad)
		}
	}
}

// TestRestrictionChunks: a restriction longer than index.max_terms_count
// is split into terms clauses of at most that many values.
func TestRestrictionChunks(t *testing.T) {
	cl := restriction(&query.Restriction{Include: true, IDs: ids(70000), Sellers: []string{"s-1"}, ExcludeSellers: ids(3)}, false, DefaultMaxTermsCount)
	b, _ := json.Marshal(cl)
	var got []struct {
		Bool struct {
			Should  []map[string]map[string][]string `json:"should"`
			MustNot []map[string]map[string][]string `json:"must_not"`
		} `json:"bool"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Bool.Should) != 3 || len(got[1].Bool.MustNot) != 1 {
		t.Fatalf("clauses %s", b[:min(len(b), 300)])
	}
	sizes := []int{len(got[0].Bool.Should[0]["terms"]["seller_id"]), len(got[0].Bool.Should[1]["terms"]["id"]), len(got[0].Bool.Should[2]["terms"]["id"])}
	if sizes[0] != 1 || sizes[1] != DefaultMaxTermsCount || sizes[2] != 70000-DefaultMaxTermsCount {
		t.Errorf("chunk sizes %v", sizes)
	}
}
