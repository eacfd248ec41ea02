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
	return float64(c.createdCol[o])
}

// orderSource is what building orders needs, copied under the lock.
type orderSource struct {
	ids                             idList
	priceCol, createdCol, sharedCol []int64
}

func (c *columns) orderSource() *orderSource {
	return &orderSource{
		ids:        c.ids.frozen(),
		priceCol:   slices.Clone(c.priceCol),
		createdCol: slices.Clone(c.createdCol),
		sharedCol:  slices.Clone(c.sharedCol),
	}
}

// buildOrders sorts every ordinal of src by each ordered sort.
func buildOrders(src *orderSource) *orders {
	view := &columns{priceCol: src.priceCol, createdCol: src.createdCol, sharedCol: src.sharedCol}
	n := src.ids.len()
	out := &orders{by: map[query.Sort]*sortOrder{}, n: n}
	for _, s := range orderedSorts {
		so := &sortOrder{ords: make([]uint32, n), vals: make([]float64, n)}
		for i := range so.ords {
			so.ords[i] = uint32(i)
		}
		slices.SortFunc(so.ords, func(a, b uint32) int {
			va, vb := view.sortValue(s, a), view.sortValue(s, b)
			switch {
			case va > vb:
				return -1
			case va < vb:
				return 1
			}
			return src.ids.compare(a, b)
		})
		for i, o := range so.ords {
			so.vals[i] = view.sortValue(s, o)
		}
		out.by[s] = so
	}
	return out
}

// topKOrdered is topK over all using a presorted order: the first k+1
// clean listings of all after the cursor from the order, merged with the
// first k+1 of the dirty ones from a heap.
func (c *columns) topKOrdered(so *sortOrder, dirty *roaring.Bitmap, all *roaring.Bitmap, s query.Sort, after *query.Cursor, k int) ([]entry, bool) {
	start := 0
	if after != nil {
		cv := cursorValue(s, after.Key)
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
	for i := start; i < len(so.ords) && len(clean) <= k; i++ {
		o := so.ords[i]
		if all.Contains(o) && !dirty.Contains(o) {
			clean = append(clean, entry{v: so.vals[i], ord: o})
		}
	}
	var dirtyTop []entry
	if !dirty.IsEmpty() {
		d := roaring.And(dirty, all)
		if !d.IsEmpty() {
			dirtyTop, _ = c.topK(func(yield func(uint32, float64)) {
				it := d.Iterator()
				for it.HasNext() {
					o := it.Next()
					yield(o, c.sortValue(s, o))
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
