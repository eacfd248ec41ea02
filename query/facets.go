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
	if limit >= 0 && len(vals) > limit {
		// Only the first limit are kept: select them (a bounded heap, one
		// compare for most of the rest), then sort just those.
		vals = selectFirst(vals, limit)
	}
	slices.SortFunc(vals, compareFacetValues)
	return vals
}

// selectFirst moves the k values that sort first (compareFacetValues) to
// the front of vals, in no order, and returns them. vals[:k] is kept as a
// heap with the one that sorts last at its root.
func selectFirst(vals []FacetValue, k int) []FacetValue {
	if k == 0 {
		return vals[:0]
	}
	h := vals[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftLast(h, i)
	}
	for i := k; i < len(vals); i++ {
		if compareFacetValues(vals[i], h[0]) < 0 {
			h[0], vals[i] = vals[i], h[0]
			siftLast(h, 0)
		}
	}
	return h
}

// siftLast restores the heap h below i: every parent sorts after (or
// with) its children.
func siftLast(h []FacetValue, i int) {
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && compareFacetValues(h[l], h[worst]) > 0 {
			worst = l
		}
		if r < len(h) && compareFacetValues(h[r], h[worst]) > 0 {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
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
