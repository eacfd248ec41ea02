package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
)

func i64(n int64) *int64 { return &n }

func TestParseSearch(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  query.Request
	}{
		{"empty is browse", "", query.Request{}},
		{"text", "q=red+midi+dress", query.Request{Query: "red midi dress"}},
		{"repeated filters are OR-ed values", "brand=Nike&brand=Adidas&size=M&size=L&condition=nwt&condition=good&color=red&color=blue",
			query.Request{Filters: query.Filters{Brands: []string{"Nike", "Adidas"}, Sizes: []string{"M", "L"}, Conditions: []string{"nwt", "good"}, Colors: []string{"red", "blue"}}}},
		{"brand with comma and space kept whole", "brand=Levi%27s%2C+Inc", query.Request{Filters: query.Filters{Brands: []string{"Levi's, Inc"}}}},
		{"category path", "category=Women/Dresses/Midi", query.Request{Filters: query.Filters{Category: []string{"Women", "Dresses", "Midi"}}}},
		{"category escaped slash and outer slashes", "category=%2FWomen%2FDresses%2F", query.Request{Filters: query.Filters{Category: []string{"Women", "Dresses"}}}},
		{"category root", "category=Women", query.Request{Filters: query.Filters{Category: []string{"Women"}}}},
		{"price range inclusive bounds", "price_min=2500&price_max=5000", query.Request{Filters: query.Filters{PriceMin: i64(2500), PriceMax: i64(5000)}}},
		{"price min equals max", "price_min=0&price_max=0", query.Request{Filters: query.Filters{PriceMin: i64(0), PriceMax: i64(0)}}},
		{"only max", "price_max=999", query.Request{Filters: query.Filters{PriceMax: i64(999)}}},
		{"sort relevance", "q=x&sort=relevance", query.Request{Query: "x", Sort: query.SortRelevance}},
		{"sort newest", "sort=newest", query.Request{Sort: query.SortNewest}},
		{"sort price_asc", "sort=price_asc", query.Request{Sort: query.SortPriceAsc}},
		{"sort price_desc", "sort=price_desc", query.Request{Sort: query.SortPriceDesc}},
		{"sort recently_shared", "sort=recently_shared", query.Request{Sort: query.SortRecentlyShared}},
		{"limit min", "limit=1", query.Request{Limit: 1}},
		{"limit max", "limit=100", query.Request{Limit: 100}},
		{"facets comma list", "facets=brand,category,size,condition,color,price",
			query.Request{Facets: []query.Facet{"brand", "category", "size", "condition", "color", "price"}}},
		{"facets repeated, spaces and blanks", "facets=brand,+size,&facets=price", query.Request{Facets: []query.Facet{"brand", "size", "price"}}},
		{"user", "user=u42", query.Request{User: "u42"}},
		{"empty values are absent", "q=&brand=&limit=&sort=&cursor=&price_min=&facets=&user=&category=", query.Request{}},
		{"empty repetition of a single param", "limit=&limit=10", query.Request{Limit: 10}},
		{"cursor is passed on opaque", "cursor=abc.def", query.Request{Cursor: "abc.def"}},
		{"facet limit", "facets=brand&facet_limit=500", query.Request{Facets: []query.Facet{"brand"}, FacetLimit: 500}},
		{"unicode text", "q=caf%C3%A9+%E2%9C%A8", query.Request{Query: "café ✨"}},
		{"q at the byte limit", "q=" + strings.Repeat("a", query.MaxQueryBytes), query.Request{Query: strings.Repeat("a", query.MaxQueryBytes)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSearch(v)
			if err != nil {
				t.Fatalf("ParseSearch(%q): %v", tt.query, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseSearch(%q)\n got %+v\nwant %+v", tt.query, *got, tt.want)
			}
		})
	}
}

// TestSearchBadInput: every bad parameter is a 400 with a stable code and
// the parameter's name, never a 500, and the backend is never called.
func TestSearchBadInput(t *testing.T) {
	b := &stubBackend{result: &query.Candidates{Total: 3, Hits: hits(rummage.Listing{ID: "l1", SellerID: "s", Title: "T", Status: "available"}), More: true}}
	s, _ := newTestServer(t, Config{}, b)
	nextCursor := func(target string) string {
		t.Helper()
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(do(t, s, http.MethodGet, target).body, &page); err != nil || page.NextCursor == "" {
			t.Fatalf("%s: no next cursor (%v)", target, err)
		}
		return page.NextCursor
	}
	newest := nextCursor("/v1/search?limit=1")
	forQ := nextCursor("/v1/search?q=dress&limit=1")
	forged := strings.Replace(newest, ".", "x.", 1)
	b.last = nil
	tests := []struct {
		name, query, code, field string
	}{
		{"unknown parameter", "q=x&prise_max=10", "unknown_parameter", "prise_max"},
		{"unknown parameter, first by name", "zzz=1&aaa=2", "unknown_parameter", "aaa"},
		{"parameter names are case sensitive", "Brand=Nike", "unknown_parameter", "Brand"},
		{"malformed escape", "q=%zz", "malformed_query", ""},
		{"semicolon separator", "q=a;limit=5", "malformed_query", ""},
		{"invalid UTF-8", "q=%ff%fe", "invalid_encoding", "q"},
		{"invalid UTF-8 in a filter", "brand=%c3", "invalid_encoding", "brand"},
		{"q repeated", "q=a&q=b", "repeated_parameter", "q"},
		{"limit repeated", "limit=1&limit=2", "repeated_parameter", "limit"},
		{"category repeated", "category=Women&category=Men", "repeated_parameter", "category"},
		{"q too long", "q=" + strings.Repeat("a", query.MaxQueryBytes+1), "query_too_long", "q"},
		{"limit zero", "limit=0", "invalid_limit", "limit"},
		{"limit negative", "limit=-1", "invalid_limit", "limit"},
		{"limit above max", "limit=101", "invalid_limit", "limit"},
		{"limit not a number", "limit=ten", "invalid_limit", "limit"},
		{"limit fraction", "limit=2.5", "invalid_limit", "limit"},
		{"limit overflow", "limit=99999999999999999999999", "invalid_limit", "limit"},
		{"price_min not a number", "price_min=cheap", "invalid_price", "price_min"},
		{"price_max decimal dollars", "price_max=25.00", "invalid_price", "price_max"},
		{"price_min overflow", "price_min=9223372036854775808", "invalid_price", "price_min"},
		{"price_min negative", "price_min=-1", "invalid_price", "price_min"},
		{"price_max negative", "price_max=-5", "invalid_price", "price_max"},
		{"min above max", "price_min=5000&price_max=2500", "invalid_price", "price_min"},
		{"unknown sort", "sort=cheapest", "invalid_sort", "sort"},
		{"sort is case sensitive", "sort=Newest", "invalid_sort", "sort"},
		{"unknown facet", "facets=brand,colour", "invalid_facet", "facets"},
		{"facet twice", "facets=brand,brand", "invalid_facet", "facets"},
		{"facet twice across repeats", "facets=size&facets=size", "invalid_facet", "facets"},
		{"unknown condition", "condition=mint", "invalid_value", "condition"},
		{"blank brand value", "brand=+", "invalid_value", "brand"},
		{"too many brands", "brand=" + strings.Repeat("b&brand=", query.MaxValues) + "b", "too_many_values", "brand"},
		{"over-long size value", "size=" + strings.Repeat("s", query.MaxQueryBytes+1), "invalid_value", "size"},
		{"empty category segment", "category=Women//Dresses", "invalid_value", "category"},
		{"blank category segment", "category=Women/+/Dresses", "invalid_value", "category"},
		{"user too long", "user=" + strings.Repeat("u", 129), "invalid_value", "user"},
		{"cursor not base64", "cursor=!!!", "invalid_cursor", "cursor"},
		{"cursor not signed", "cursor=" + "aGVsbG8", "invalid_cursor", "cursor"},
		{"cursor too long", "cursor=" + strings.Repeat("A", feed.MaxCursorBytes+1), "invalid_cursor", "cursor"},
		{"cursor forged", "cursor=" + forged, "invalid_cursor", "cursor"},
		{"cursor for another sort", "sort=price_asc&cursor=" + newest, "invalid_cursor", "cursor"},
		{"cursor for another query", "q=shoes&cursor=" + forQ, "invalid_cursor", "cursor"},
		{"cursor for other filters", "brand=Nike&cursor=" + newest, "invalid_cursor", "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, http.MethodGet, "/v1/search?"+tt.query)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.status, r.body)
			}
			e := apiErr(t, r)
			if e.Code != tt.code || e.Field != tt.field {
				t.Errorf("got code %q field %q (%s), want code %q field %q", e.Code, e.Field, e.Message, tt.code, tt.field)
			}
			if len(r.body) > 1024 {
				t.Errorf("error body is %d bytes; bad input must not be echoed whole", len(r.body))
			}
		})
	}
	if b.lastRequest() != nil {
		t.Errorf("backend called for bad input: %+v", b.lastRequest())
	}

	// The same cases through ParseSearch directly: always *query.InvalidError.
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			continue // the HTTP layer's malformed_query
		}
		_, err = ParseSearch(v)
		if strings.HasPrefix(tt.code, "invalid_cursor") {
			continue // the search surface checks cursors, not the parser
		}
		var ie *query.InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: ParseSearch error %T %v, want *query.InvalidError", tt.name, err, err)
		}
	}
}
