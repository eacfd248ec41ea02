package query

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortFacetSelects checks the bounded selection against a full sort,
// over counts with many ties (which the value breaks).
func TestSortFacetSelects(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 60 {
		for _, limit := range []int{0, 1, 3, 10, 100} {
			vals := make([]FacetValue, n)
			for i := range vals {
				vals[i] = FacetValue{Value: fmt.Sprintf("v%03d", rng.IntN(1000)), Count: rng.IntN(5)}
			}
			want := slices.Clone(vals)
			slices.SortFunc(want, compareFacetValues)
			want = want[:min(limit, len(want))]
			got := SortFacet(slices.Clone(vals), limit)
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d limit=%d: got %v, want %v", n, limit, got, want)
			}
		}
	}
	if got := SortFacet(nil, 10); got == nil || len(got) != 0 {
		t.Fatalf("SortFacet(nil) = %#v, want an empty slice", got)
	}
}
