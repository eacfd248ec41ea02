package memory

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSortHits: the packed-key sort orders as the plain comparison does,
// ties (many: instants drawn from a few) by listing id.
func TestSortHits(t *testing.T) {
	st := newState()
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{5, 63, 64, 1000, 20_000} {
		hs := make([]hit, n)
		for i := range hs {
			hs[i] = hit{at: 1_700_000_000_000 + r.Int64N(int64(n/4+1)), lst: st.intern(fmt.Sprintf("l%d", r.IntN(10*n)))}
		}
		want := slices.Clone(hs)
		slices.SortStableFunc(want, func(a, b hit) int {
			if c := cmp.Compare(b.at, a.at); c != 0 {
				return c
			}
			return strings.Compare(st.strs[a.lst], st.strs[b.lst])
		})
		st.sortHits(hs)
		for i := range hs {
			if hs[i].at != want[i].at || st.strs[hs[i].lst] != st.strs[want[i].lst] {
				t.Fatalf("n=%d: hit %d is %v, want %v", n, i, hs[i], want[i])
			}
		}
	}
}
