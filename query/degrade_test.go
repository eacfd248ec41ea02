package query_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rummage/rummage/query"
)

func TestDegradationApply(t *testing.T) {
	for _, c := range []struct {
		name      string
		d         query.Degradation
		req       query.Request
		want      []string
		facets    int
		wantLimit int
	}{
		{"none", query.Degradation{}, query.Request{Facets: []query.Facet{query.FacetBrand}, Limit: 100}, nil, 1, 100},
		{"drop facets", query.Degradation{DropFacets: true}, query.Request{Facets: []query.Facet{query.FacetBrand}}, []string{"facets"}, 0, 0},
		{"no facets asked", query.Degradation{DropFacets: true, MaxLimit: 24}, query.Request{}, nil, 0, 0},
		{"cap", query.Degradation{MaxLimit: 24}, query.Request{Limit: 100}, []string{"limit"}, 0, 24},
		{"under the cap", query.Degradation{MaxLimit: 24}, query.Request{Limit: 10}, nil, 0, 10},
		{"default limit over a smaller cap", query.Degradation{MaxLimit: 10}, query.Request{}, []string{"limit"}, 0, 10},
		{"both", query.Degradation{DropFacets: true, MaxLimit: 24}, query.Request{Facets: query.Facets(), Limit: 50}, []string{"limit", "facets"}, 0, 24},
	} {
		req := c.req
		got := c.d.Apply(&req)
		if !slices.Equal(got, c.want) || len(req.Facets) != c.facets || req.Limit != c.wantLimit {
			t.Errorf("%s: gave %v, facets %d, limit %d; want %v, %d, %d", c.name, got, len(req.Facets), req.Limit, c.want, c.facets, c.wantLimit)
		}
	}
	ctx := query.WithDegradation(context.Background(), query.Degradation{DropFacets: true})
	if !query.DegradationFrom(ctx).DropFacets || query.DegradationFrom(context.Background()) != (query.Degradation{}) {
		t.Error("context round trip")
	}
}
