package query

import (
	"cmp"
	"slices"
	"strings"
)

// SortFacet orders terms facet values by count desc, then value asc, and
// keeps the first limit. It never returns nil.
func SortFacet(vals []FacetValue, limit int) []FacetValue {
	if vals == nil {
		vals = []FacetValue{}
	}
	slices.SortFunc(vals, compareFacetValues)
	if len(vals) > limit {
		vals = vals[:limit]
	}
	return vals
}

func compareFacetValues(a, b FacetValue) int {
	if a.Count != b.Count {
		return cmp.Compare(b.Count, a.Count)
	}
	return strings.Compare(a.Value, b.Value)
}

// WithSelected adds to a facet's top values the selected ones it lacks
// (with their counts, zero included), so that a ticked value never
// vanishes from its own facet, and keeps the count-desc order.
func WithSelected(top, selected []FacetValue) []FacetValue {
	added := false
	for _, s := range selected {
		if !slices.ContainsFunc(top, func(v FacetValue) bool { return v.Value == s.Value }) {
			top = append(top, s)
			added = true
		}
	}
	if added {
		slices.SortFunc(top, compareFacetValues)
	}
	return top
}

// PriceFacet is the price facet for counts per PriceBuckets: every bucket,
// in order, zero counts included, with from/to as the contract gives them.
func PriceFacet(counts []int) []FacetValue {
	out := make([]FacetValue, len(priceBuckets))
	for i, b := range priceBuckets {
		from := b.From
		out[i] = FacetValue{Key: b.Key, From: &from, Count: counts[i]}
		if b.To != 0 {
			to := b.To
			out[i].To = &to
		}
	}
	return out
}
