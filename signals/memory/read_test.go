package memory

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/signals"
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

// TestCollectWaysAgree: SharedBy gathering and sorting (with marks in the
// pooled array, past 8192 events) and merging through the heap answer the
// same.
func TestCollectWaysAgree(t *testing.T) {
	defer func(f int) { gatherFactor = f }(gatherFactor)
	s, _ := Open("")
	r := rand.New(rand.NewPCG(2, 2))
	var cs []signals.Change
	for i := 0; i < 30_000; i++ {
		cs = append(cs, signals.Change{Version: 1, Share: &signals.Share{ID: int64(i + 1), User: fmt.Sprintf("c%d", r.IntN(60)),
			Listing: fmt.Sprintf("l%d", r.IntN(8000)), At: time.UnixMilli(1_700_000_000_000 + int64(i)*7)}})
	}
	if err := s.Apply(context.Background(), signals.Batch{Changes: cs}); err != nil {
		t.Fatal(err)
	}
	closets := make([]string, 50)
	for i := range closets {
		closets[i] = fmt.Sprintf("c%d", i)
	}
	since, at := time.UnixMilli(1_700_000_000_000+20_000), time.UnixMilli(1_700_000_000_000+190_000)
	for _, limit := range []int{10, 5000, 20_000} {
		gatherFactor = 1 << 20
		g, _ := s.SharedBy(context.Background(), closets, since, at, limit)
		gatherFactor = 0
		h, _ := s.SharedBy(context.Background(), closets, since, at, limit)
		if len(g) == 0 || !slices.EqualFunc(g, h, func(a, b signals.ListingAt) bool { return a == b }) {
			t.Errorf("limit %d: gathered %d listings, merged %d, or they differ", limit, len(g), len(h))
		}
	}
}
