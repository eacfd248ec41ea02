package elastic

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rummage/rummage/query"
)

// TestFeedRequestsGolden pins the requests of a feed retrieval: the total
// and facets over the whole restriction, the ids walked in key order, and
// the included closets' listings by listed_at; and checks the merged
// order.
func TestFeedRequestsGolden(t *testing.T) {
	day := int64(24 * 3600 * 1000)
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	// file is the golden file, when not the case's name: ids handed over
	// in no order (a following feed's shares) make the same requests.
	cases := []struct {
		name string
		r    *query.Retrieval
		want []string
		file string
	}{
		{"party", ret(query.Retrieval{Sort: query.SortFeed, N: 2, Facets: []query.Facet{query.FacetBrand},
			Scope: &query.Scope{Filters: query.Filters{Brands: []string{"Nike"}}},
			Restrict: query.Restriction{Include: true, IDs: []string{"l-3", "l-9", "l-2"}, IDKeys: []int64{base - day, base - 2*day, base - 3*day},
				ExcludeSellers: []string{"s-x"}}}), []string{"l-3", "l-9"}, ""},
		{"following", ret(query.Retrieval{Sort: query.SortFeed, N: 3, Filters: query.Filters{Sizes: []string{"M"}},
			Restrict: query.Restriction{Include: true, Sellers: []string{"s-1", "s-9"}, IDs: []string{"l-3", "l-2"}, IDKeys: []int64{base - day, base - 3*day + 12*3600*1000},
				MinKey: base - 30*day, ExcludeSellers: []string{"u-1"}}}), []string{"l-3", "l-9", "l-2"}, ""},
		{"following_unordered", ret(query.Retrieval{Sort: query.SortFeed, N: 3, Filters: query.Filters{Sizes: []string{"M"}},
			Restrict: query.Restriction{Include: true, Sellers: []string{"s-1", "s-9"}, IDs: []string{"l-2", "l-3"}, IDKeys: []int64{base - 3*day + 12*3600*1000, base - day},
				Unordered: true, MinKey: base - 30*day, ExcludeSellers: []string{"u-1"}}}), []string{"l-3", "l-9", "l-2"}, "following"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.r.Validate(); err != nil {
				t.Fatal(err)
			}
			f := newFake(t, map[string][]reply{
				"POST /rummage-listings/_search": {{200, "search_feed.json"}},
				"POST /rummage-listings/_mget":   {{200, "mget.json"}},
			})
			b := f.backend(t, nil)
			c.r.Docs = 0
			res, err := b.Retrieve(context.Background(), c.r)
			if err != nil {
				t.Fatal(err)
			}
			var all []json.RawMessage
			for _, rq := range f.requests() {
				var body any
				_ = json.Unmarshal([]byte(rq.Body), &body)
				b, _ := json.Marshal(map[string]any{"method": rq.Method, "path": rq.Path, "body": elideLong(body)})
				all = append(all, b)
			}
			out, _ := json.MarshalIndent(all, "", "  ")
			file := c.name
			if c.file != "" {
				file = c.file
			}
			golden(t, "requests/feed_"+file+".json", append(out, '\n'))
			if got := IDsOf(res.Hits); !equal(got, c.want) || res.Total != 3 {
				t.Errorf("hits %v total %d, want %v total 3", got, res.Total, c.want)
			}
		})
	}
}

// IDsOf are the ids of candidates, in order.
func IDsOf(hits []query.Candidate) []string {
	out := make([]string, len(hits))
	for i := range hits {
		out[i] = hits[i].ID
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDrops(t *testing.T) {
	f := newFake(t, map[string][]reply{"POST /rummage-listings/_search": {{200, "drops.json"}}})
	b := f.backend(t, nil)
	ds, err := b.Drops(context.Background(), &query.DropsRequest{From: testNow, To: testNow.Add(30 * 24 * time.Hour), ExcludeSellers: []string{"s-9"}, BrandLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Count != 120 || !ds[0].At.Equal(time.Date(2025, 6, 1, 15, 0, 0, 0, time.UTC)) || ds[0].Brands[0] != (query.FacetValue{Value: "Nike", Count: 100}) {
		t.Errorf("drops %+v", ds)
	}
	goldenRequest(t, "requests/drops.json", f.requests()[0])
}
