package query

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortFacetTopK: SortFacet picking the top values through a heap
// answers what sorting every value and cutting does, ties in count
// included.
func TestSortFacetTopK(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{0, 3, 10, 41, 400, 5000} {
		for _, limit := range []int{1, 5, 10, 100} {
			vals := make([]FacetValue, n)
			for i := range vals {
				vals[i] = FacetValue{Value: fmt.Sprintf("v%d", r.IntN(100*n+1)*1000+i), Count: r.IntN(20)}
			}
			want := slices.Clone(vals)
			slices.SortFunc(want, compareFacetValues)
			want = want[:min(limit, len(want))]
			got := SortFacet(slices.Clone(vals), limit)
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d limit=%d: %v, want %v", n, limit, got, want)
			}
		}
	}
}
