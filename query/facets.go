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
	if limit > 0 && len(vals) > 4*limit {
		return topFacetValues(vals, limit)
	}
	slices.SortFunc(vals, compareFacetValues)
	if len(vals) > limit {
		vals = vals[:limit]
	}
	return vals
}

// topFacetValues is the first limit of vals in SortFacet's order, picked
// through a heap of the limit best so far (its worst on top), then sorted:
// O(n log limit), where sorting every value (a brand facet holds
// thousands) was most of a party feed's facets.
func topFacetValues(vals []FacetValue, limit int) []FacetValue {
	h := make([]FacetValue, 0, limit)
	worse := func(i, j int) bool { return compareFacetValues(h[i], h[j]) > 0 }
	for _, v := range vals {
		if len(h) < limit {
			h = append(h, v)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !worse(i, p) {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if compareFacetValues(v, h[0]) >= 0 {
			continue // not better than the worst kept
		}
		h[0] = v
		for i := 0; ; {
			w, l, r := i, 2*i+1, 2*i+2
			if l < len(h) && worse(l, w) {
				w = l
			}
			if r < len(h) && worse(r, w) {
				w = r
			}
			if w == i {
				break
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	slices.SortFunc(h, compareFacetValues)
	return h
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
