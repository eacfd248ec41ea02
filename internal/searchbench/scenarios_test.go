package searchbench

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/query"
)

// TestAPIPath checks that the API path of a request parses back, through
// the API's own parser, into the same request, so that --serve-rss warms
// serve up with the searches the bench measured.
func TestAPIPath(t *testing.T) {
	lo, hi := int64(2500), int64(10000)
	for _, r := range []query.Request{
		{Query: "black dress", Facets: benchFacets},
		{Query: "nike sneakers", Filters: query.Filters{Brands: []string{"Nike", "H&M"}, Sizes: []string{"10"}, PriceMin: &lo, PriceMax: &hi}, Facets: benchFacets},
		{Filters: query.Filters{Category: []string{"Kids", "Clothing", "Baby & Toddler Clothing"}}, Sort: query.SortPriceAsc, Facets: benchFacets},
		{Facets: benchFacets},
	} {
		p := apiPath(&r)
		path, raw, ok := strings.Cut(p, "?")
		if !ok || path != "/v1/search" {
			t.Fatalf("apiPath = %q", p)
		}
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := api.ParseSearch(v)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got.Now, got.Limit = r.Now, r.Limit
		if !reflect.DeepEqual(*got, r) {
			t.Errorf("%s parses to\n%+v, want\n%+v", p, *got, r)
		}
	}
	if p := apiPath(&query.Request{Cursor: "x"}); p != "" {
		t.Errorf("later page: apiPath = %q, want empty", p)
	}
}
