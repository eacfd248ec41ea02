package embedded

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/query"
)

// Presorted orders make the first page of a large result cheap. Sorting
// 900k visible listings for a browse by newest costs a pass over all of
// them (~9 ms); walking the listings in a prebuilt order and keeping those
// in the result costs ~k / density steps. An order is built off the write
// path from a copy of the sort columns; listings written since are "dirty":
// the walk skips them and a small heap over dirty ∩ result supplies them,
// and the two are merged. When too many listings are dirty the orders are
// rebuilt in the background.

// sortOrder is every ordinal at build time, by (value desc, id asc).
type sortOrder struct {
	ords []uint32
	vals []float64 // the value of ords[i] at build time
}

// orders are the presorted orders, one per sort that browsing uses.
type orders struct {
	by map[query.Sort]*sortOrder
	n  int // ordinals when built
}

var orderedSorts = []query.Sort{query.SortNewest, query.SortPriceAsc, query.SortPriceDesc, query.SortRecentlyShared}

// sortValue is the primary sort value of ordinal o (see candidates).
func (c *columns) sortValue(s query.Sort, o uint32) float64 {
	switch s {
	case query.SortPriceAsc:
		return -float64(c.priceCol[o])
	case query.SortPriceDesc:
		return float64(c.priceCol[o])
	case query.SortRecentlyShared:
		if c.sharedCol[o] == noTime {
			return neverShared
		}
		return float64(c.sharedCol[o])
	}
	return float64(c.listedCol[o])
}

// orderSource is what building orders needs, copied under the lock: the
// sort columns, and the orders in use with the listings written since they
// were built, from which the new orders are merged.
type orderSource struct {
	ids                            idList
	priceCol, listedCol, sharedCol []int64
	prev                           *orders         // nil: sort everything
	dirty                          *roaring.Bitmap // written since prev was built
}

func (c *columns) orderSource() *orderSource {
	src := &orderSource{
		ids:       c.ids.frozen(),
		priceCol:  slices.Clone(c.priceCol),
		listedCol: slices.Clone(c.listedCol),
		sharedCol: slices.Clone(c.sharedCol),
	}
	if c.ord != nil {
		src.prev, src.dirty = c.ord, c.dirty.Clone()
	}
	return src
}

// buildOrders orders every ordinal of src by each ordered sort. With
// previous orders it sorts only the listings written since (and ordinals
// new since) and merges them into the previous order without the stale
// entries: O(n + d log d) instead of O(n log n). At 1M listings a full
// sort of the four orders cost ~2.5 s of CPU, and a stream of 2,000
// changes/s made one every ~15 s; the merge costs a pass over the orders.
func buildOrders(src *orderSource) *orders {
	view := &columns{priceCol: src.priceCol, listedCol: src.listedCol, sharedCol: src.sharedCol}
	n := src.ids.len()
	out := &orders{by: map[query.Sort]*sortOrder{}, n: n}
	var changed []uint32 // sorted ordinals to (re)place; all of them without prev
	var isChanged []uint64
	if src.prev != nil {
		d := src.dirty.Clone()
		d.AddRange(uint64(src.prev.n), uint64(n))
		changed = d.ToArray()
		isChanged = make([]uint64, (n+63)/64)
		for _, o := range changed {
			isChanged[o/64] |= 1 << (o % 64)
		}
	} else {
		changed = make([]uint32, n)
		for i := range changed {
			changed[i] = uint32(i)
		}
	}
	// cmp orders (value desc, id asc).
	cmp := func(va float64, a uint32, vb float64, b uint32) int {
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return src.ids.compare(a, b)
	}
	for _, s := range orderedSorts {
		ch := &sortOrder{ords: slices.Clone(changed), vals: make([]float64, len(changed))}
		slices.SortFunc(ch.ords, func(a, b uint32) int { return cmp(view.sortValue(s, a), a, view.sortValue(s, b), b) })
		for i, o := range ch.ords {
			ch.vals[i] = view.sortValue(s, o)
		}
		if src.prev == nil {
			out.by[s] = ch
			continue
		}
		prev := src.prev.by[s]
		so := &sortOrder{ords: make([]uint32, 0, n), vals: make([]float64, 0, n)}
		j := 0
		for i, o := range prev.ords {
			if isChanged[o/64]&(1<<(o%64)) != 0 {
				continue // stale: its place comes from ch
			}
			v := prev.vals[i]
			for ; j < len(ch.ords) && cmp(ch.vals[j], ch.ords[j], v, o) < 0; j++ {
				so.ords, so.vals = append(so.ords, ch.ords[j]), append(so.vals, ch.vals[j])
			}
			so.ords, so.vals = append(so.ords, o), append(so.vals, v)
		}
		so.ords, so.vals = append(so.ords, ch.ords[j:]...), append(so.vals, ch.vals[j:]...)
		out.by[s] = so
	}
	return out
}

// topKOrdered is topK over all using a presorted order: the first k+1
// clean listings of all after the cursor from the order, merged with the
// first k+1 of the dirty ones from a heap.
func (c *columns) topKOrdered(st *budget, so *sortOrder, dirty *roaring.Bitmap, all *roaring.Bitmap, s query.Sort, after *query.Position, k int) ([]entry, bool) {
	start := 0
	if after != nil {
		cv := positionValue(s, after)
		start, _ = slices.BinarySearchFunc(so.vals, cv, func(v, target float64) int {
			// Entries strictly before the cursor value come first.
			if v > target {
				return -1
			}
			if v < target {
				return 1
			}
			return 0
		})
		// Within equal values, skip ids up to the cursor's.
		for start < len(so.ords) && so.vals[start] == cv && string(c.ids.at(so.ords[start])) <= after.ID {
			start++
		}
	}
	clean := make([]entry, 0, k+1)
	for i := start; i < len(so.ords) && len(clean) <= k && !st.spend(1); i++ {
		o := so.ords[i]
		if all.Contains(o) && !dirty.Contains(o) {
			clean = append(clean, entry{v: so.vals[i], ord: o})
		}
	}
	var dirtyTop []entry
	if !dirty.IsEmpty() {
		d := roaring.And(dirty, all)
		if !d.IsEmpty() {
			dirtyTop, _ = c.topK(func(yield func(entry)) {
				it := d.Iterator()
				for it.HasNext() && !st.spend(1) {
					o := it.Next()
					yield(entry{v: c.sortValue(s, o), ord: o})
				}
			}, after, s, k+1)
		}
	}
	merged := make([]entry, 0, len(clean)+len(dirtyTop))
	i, j := 0, 0
	for i < len(clean) || j < len(dirtyTop) {
		if j == len(dirtyTop) || (i < len(clean) && c.before(clean[i], dirtyTop[j])) {
			merged = append(merged, clean[i])
			i++
		} else {
			merged = append(merged, dirtyTop[j])
			j++
		}
	}
	if len(merged) > k {
		return merged[:k], true
	}
	return merged, false
}

// orderFrac: a presorted order is walked when the result holds at least
// 1/orderFrac of all listings (a walk then visits about orderFrac×k
// entries) and at most 1/orderDirtyFraction of the listings are dirty. A
// variable so tests can force either path.
var orderFrac = 16

// orderFor returns the presorted order to page a result by, or nil.
func (c *columns) orderFor(s query.Sort, text *textHits, all *roaring.Bitmap) *sortOrder {
	if c.ord == nil || (s == query.SortRelevance && text != nil) {
		return nil
	}
	n := uint64(c.ids.len())
	if all.GetCardinality()*uint64(orderFrac) < n || c.dirty.GetCardinality() > n/orderDirtyFraction {
		return nil
	}
	if s == query.SortRelevance {
		s = query.SortNewest // browsing: relevance is newest
	}
	return c.ord.by[s]
}
