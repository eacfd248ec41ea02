package memory

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/signals"
)

// TestSortHits: the packed-key sort orders as the plain comparison does,
// ties (many: instants drawn from a few) by listing id, among them ids
// longer than the 16 bytes sortByListing compares as integers, ids that
// are a prefix of others and ids with zero bytes (its padding).
func TestSortHits(t *testing.T) {
	st := newState()
	r := rand.New(rand.NewPCG(1, 1))
	forms := []string{"l%d", "listing-long-prefix-%d", "listing-long-pre%d", "l\x00%d", "%d"}
	for _, n := range []int{5, 63, 64, 1000, 20_000, -1000, -20_000} {
		merged := n < 0 // newest first already, ties in any order (a merge's output)
		n = max(n, -n)
		hs := make([]hit, n)
		for i := range hs {
			id := fmt.Sprintf(forms[r.IntN(len(forms))], r.IntN(10*n))
			hs[i] = hit{at: 1_700_000_000_000 + r.Int64N(int64(n/32+1)), lst: st.intern(id)}
		}
		if merged {
			slices.SortStableFunc(hs, func(a, b hit) int { return cmp.Compare(b.at, a.at) })
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

// TestSharedByAgreesWithMerge: SharedBy, gathering and sorting integers
// or merging through the heap, with no tie order but at the limit's cut,
// answers what Activity's way (the heap, then every instant's listings by
// id) answers, limits cutting inside an instant's listings included, over
// a catalog shared about 4 times per listing at a steady rate, one whose
// hot listings are re-shared ever more sparsely, and one whose newest
// shares are of a few hot listings. By is any closet that shared the
// listing at its instant; both answers are compared with the first of them.
func TestSharedByAgreesWithMerge(t *testing.T) {
	defer func(f int) { gatherFactor = f }(gatherFactor)
	catalogs := []struct {
		name      string
		listing   func(r *rand.Rand, i int) int
		ms        func(i int) int64
		since, at int64
	}{
		{"steady", func(_ *rand.Rand, i int) int { return i % 8000 }, func(i int) int64 { return int64(i/4) * 7 }, 5_000, 45_000},
		{"sparser", func(r *rand.Rand, _ int) int { return r.IntN(r.IntN(3000) + 1) }, func(i int) int64 { return int64(i) * int64(i) / 4000 }, 5_000, 200_000},
		{"hot then wide", func(r *rand.Rand, i int) int {
			if i > 21_000 {
				return r.IntN(20)
			}
			return 20 + r.IntN(5000)
		}, func(i int) int64 { return int64(i/4) * 7 }, 5_000, 52_000},
	}
	for _, cat := range catalogs {
		for _, factor := range []int{0, 1 << 20} { // merge; gather
			gatherFactor = factor
			sharedByAgrees(t, cat.name, cat.listing, cat.ms, cat.since, cat.at)
		}
	}
}

func sharedByAgrees(t *testing.T, name string, listing func(r *rand.Rand, i int) int, ms func(i int) int64, from, to int64) {
	t.Helper()
	const base = 1_700_000_000_000
	{
		s, _ := Open("")
		r := rand.New(rand.NewPCG(2, 2))
		var cs []signals.Change
		for i := 0; i < 30_000; i++ {
			cs = append(cs, signals.Change{Version: 1, Share: &signals.Share{ID: int64(i + 1), User: fmt.Sprintf("c%d", r.IntN(60)),
				Listing: fmt.Sprintf("l%d", listing(r, i)), At: time.UnixMilli(base + ms(i))}})
		}
		if err := s.Apply(context.Background(), signals.Batch{Changes: cs}); err != nil {
			t.Fatal(err)
		}
		closets := make([]string, 50)
		for i := range closets {
			closets[i] = fmt.Sprintf("c%d", i)
		}
		first := map[string]string{} // listing@instant → the first closet that shared it then
		sharedThen := map[string]bool{}
		for _, c := range cs {
			k := fmt.Sprint(c.Share.Listing, c.Share.At.UnixMilli())
			sharedThen[k+c.Share.User] = true
			if f, ok := first[k]; !ok || closetIndex(c.Share.User) < closetIndex(f) {
				first[k] = c.Share.User
			}
		}
		norm := func(las []signals.ListingAt) []signals.ListingAt {
			for i := range las {
				k := fmt.Sprint(las[i].Listing, las[i].At.UnixMilli())
				if !sharedThen[k+las[i].By] {
					t.Fatalf("%s: %v: %s did not share it then", name, las[i], las[i].By)
				}
				las[i].By = first[k]
			}
			return las
		}
		since, at := time.UnixMilli(base+from), time.UnixMilli(base+to)
		for _, limit := range []int{0, 10, 299, 500, 1500, 4999, 5000, 5001, 20_000} {
			f := gatherFactor
			gatherFactor = 0
			want := norm(s.st.finish(s.st.collect([]map[uint32][]uint32{s.st.timeline}, s.st.ids(closets), since.UnixMilli(), at.UnixMilli(), limit, all), limit, true))
			gatherFactor = f
			sh, _ := s.SharedBy(context.Background(), closets, since, at, limit)
			if !slices.IsSortedFunc(sh.At, func(a, b int64) int { return cmp.Compare(b, a) }) {
				t.Errorf("%s catalog, gather factor %d, limit %d: not newest first", name, f, limit)
			}
			got := norm(sh.Sorted(closets))
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s catalog, gather factor %d, limit %d: SharedBy gave %d listings, the merge %d, or they differ", name, f, limit, len(got), len(want))
				for i, g := range got {
					if i < len(want) && g != want[i] {
						t.Logf("first difference at %d: %v, want %v", i, g, want[i])
						break
					}
				}
			}
		}
	}
}

// TestOutOfOrderApply: shares and likes applied in listing order (a
// snapshot's) in big batches, with deletes among them, leave every
// timeline and party log sorted and answer as the same rows applied in
// time order.
func TestOutOfOrderApply(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 3))
	const base = 1_700_000_000_000
	var cs []signals.Change
	liked := map[[2]string]bool{} // one like per user and listing: which of two wins depends on the order
	for i := 0; i < 20_000; i++ {
		at := time.UnixMilli(base + r.Int64N(500_000))
		if i%3 == 0 {
			k := [2]string{fmt.Sprintf("c%d", r.IntN(40)), fmt.Sprintf("l%04d", r.IntN(3000))}
			if !liked[k] {
				liked[k] = true
				cs = append(cs, signals.Change{Version: 1, Like: &signals.Like{User: k[0], Listing: k[1], At: at}})
			}
			continue
		}
		party := ""
		if i%2 == 0 {
			party = fmt.Sprintf("p%d", r.IntN(3))
		}
		cs = append(cs, signals.Change{Version: 1, Share: &signals.Share{ID: int64(i + 1), User: fmt.Sprintf("c%d", r.IntN(40)),
			Listing: fmt.Sprintf("l%04d", r.IntN(3000)), Party: party, At: at}})
	}
	// Delete some shares (every 7th), after them in the stream.
	var dels []signals.Change
	for i := 0; i < len(cs); i += 7 {
		if sh := cs[i].Share; sh != nil {
			d := *sh
			dels = append(dels, signals.Change{Version: 2, Delete: true, Share: &d})
		}
	}
	key := func(c signals.Change) (string, int64) {
		if c.Share != nil {
			return c.Share.Listing, c.Share.At.UnixMilli()
		}
		return c.Like.Listing, c.Like.At.UnixMilli()
	}
	byTime := slices.Clone(cs)
	slices.SortStableFunc(byTime, func(a, b signals.Change) int { _, x := key(a); _, y := key(b); return cmp.Compare(x, y) })
	byListing := slices.Clone(cs)
	slices.SortStableFunc(byListing, func(a, b signals.Change) int { x, _ := key(a); y, _ := key(b); return strings.Compare(x, y) })

	load := func(order []signals.Change, batch int) *Store {
		s, _ := Open("")
		all := append(slices.Clone(order), dels...)
		for i := 0; i < len(all); i += batch {
			if err := s.Apply(ctx, signals.Batch{Changes: all[i:min(i+batch, len(all))]}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	want := load(byTime, 500)
	got := load(byListing, 5000)
	sorted := func(es []uint32) bool { return slices.IsSortedFunc(es, got.st.byTime) }
	for _, line := range []map[uint32][]uint32{got.st.timeline, got.st.likeline} {
		for u, tl := range line {
			if !sorted(tl) {
				t.Fatalf("timeline of %s is not sorted", got.st.strs[u])
			}
		}
	}
	for p, pl := range got.st.partyIx {
		if !sorted(pl.log) {
			t.Fatalf("log of party %s is not sorted", got.st.strs[p])
		}
	}
	same := func(what string, a, b []signals.ListingAt) {
		t.Helper()
		if len(a) == 0 || !slices.Equal(a, b) {
			t.Errorf("%s: %d listings in time order, %d in listing order, or they differ", what, len(a), len(b))
		}
	}
	closets := []string{"c1", "c2", "c3", "c5", "c8", "c13", "c21", "c34"}
	for _, w := range [][2]int64{{0, 500_000}, {100_000, 300_000}} {
		since, at := time.UnixMilli(base+w[0]), time.UnixMilli(base+w[1])
		sa, _ := want.SharedBy(ctx, closets, since, at, 0)
		sb, _ := got.SharedBy(ctx, closets, since, at, 0)
		same("SharedBy", sa.Sorted(closets), sb.Sorted(closets))
		a, _ := want.Activity(ctx, "c7", since, at, 0)
		b, _ := got.Activity(ctx, "c7", since, at, 0)
		same("Activity", a, b)
		for _, p := range []string{"p0", "p1", "p2"} {
			a, n, _ := want.PartyShares(ctx, p, since, at)
			b, m, _ := got.PartyShares(ctx, p, since, at)
			same("PartyShares "+p, a, b)
			if n != m {
				t.Errorf("PartyShares %s: %d shares in time order, %d in listing order", p, n, m)
			}
		}
	}
}

// closetIndex is the number of closet "c<n>".
func closetIndex(c string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(c, "c"))
	return n
}

// TestEventVersions: an event's version reads back whole, whether its high
// half is its span's or not.
func TestEventVersions(t *testing.T) {
	st := newState()
	r := rand.New(rand.NewPCG(4, 4))
	want := map[uint32]uint64{}
	for i := 0; i < 5000; i++ {
		v := uint64(7)<<32 | uint64(r.Uint32())
		switch i % 97 {
		case 0:
			v = r.Uint64()
		case 1:
			v = uint64(r.Uint32())
		}
		want[st.appendEvent(int64(i), v, 1, 2, 0)] = v
	}
	for e, v := range want {
		if got := st.verOf(e); got != v {
			t.Fatalf("event %d: version %#x, want %#x", e, got, v)
		}
	}
}
