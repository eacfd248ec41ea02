package embedded

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/query"
)

// Facets: disjunctive counts over the filtered set (facets), by bitmap
// cardinalities, row scans or column passes depending on the set's size.

// facets counts the requested facets. Each is disjunctive: counted over base
// ∩ every filter but its own. Facets whose field is not filtered share the
// set all. Over a set that is small next to the index, one pass reads the
// rows of its documents for every facet sharing that set (one cache miss a
// document). Over a large set, brand and size (many values) are counted in
// one pass over their 4-byte columns, and the few-valued fields by
// cardinalities of the set ∩ each value's bitmap, which cost per value, not
// per document.
func (x *Index) facets(st *budget, req *query.Retrieval, base *roaring.Bitmap, filters [numFields]*roaring.Bitmap, sel selection, all *roaring.Bitmap) map[query.Facet][]query.FacetValue {
	c := x.cols
	setFor := func(fld field) *roaring.Bitmap {
		if filters[fld] == nil {
			return all
		}
		var others []*roaring.Bitmap
		for i, b := range filters {
			if b != nil && field(i) != fld {
				others = append(others, b)
			}
		}
		return intersect(base, others)
	}
	// The category facet lists the children of the selected node (its
	// first-seen spelling when several differ only in case).
	catNode := uint32(0)
	if len(req.Filters.Category) > 0 {
		catNode = noNode
		if ns := c.nodeByLower[strings.ToLower(strings.Join(req.Filters.Category, "/"))]; len(ns) > 0 {
			catNode = ns[0]
		}
	}
	// Group the facets by the set they are counted over.
	type group struct {
		set  *roaring.Bitmap
		want facetMask
	}
	var groups []group
	for _, fc := range req.Facets {
		set := setFor(facetField[fc])
		i := slices.IndexFunc(groups, func(g group) bool { return g.set == set })
		if i < 0 {
			groups = append(groups, group{set: set})
			i = len(groups) - 1
		}
		groups[i].want |= 1 << facetField[fc]
	}
	small := uint64(c.ids.len()) / facetScanFraction
	counts := &facetCounts{}
	for _, g := range groups {
		want := g.want
		if g.set.GetCardinality() > small {
			c.countColumns(st, g.set, want, counts)
			c.bitmapFacets(g.set, want&^(1<<fieldBrand|1<<fieldSize), catNode, counts)
		} else {
			c.scanFacets(st, g.set, want, catNode, counts)
		}
		if st.done {
			return nil // Retrieve answers with the context's error
		}
	}
	limit := req.EffectiveFacetLimit()
	out := make(map[query.Facet][]query.FacetValue, len(req.Facets))
	for _, fc := range req.Facets {
		switch fc {
		case query.FacetBrand:
			out[fc] = termFacet(counts.brand, c.brands.vals, limit, sel[fieldBrand])
		case query.FacetSize:
			out[fc] = termFacet(counts.size, c.sizes.vals, limit, sel[fieldSize])
		case query.FacetCondition:
			out[fc] = termFacet(counts.cond, append([]string{""}, conditionNames...), limit, sel[fieldCondition])
		case query.FacetColor:
			out[fc] = termFacet(counts.color, c.colorVals.vals, limit, sel[fieldColor])
		case query.FacetCategory:
			var vals []query.FacetValue
			for n, k := range counts.cat {
				if k > 0 {
					vals = append(vals, query.FacetValue{Value: c.nodes[n].path, Count: k})
				}
			}
			out[fc] = query.SortFacet(vals, limit)
		case query.FacetPrice:
			if counts.price == nil {
				counts.price = make([]int, query.NumPriceBuckets)
			}
			out[fc] = query.PriceFacet(counts.price)
		}
	}
	return out
}

// facetScanFraction: a set holding more than 1/facetScanFraction of all
// ordinals is counted with bitmaps, a smaller one by reading its rows. A variable so
// tests can force either path.
var facetScanFraction uint64 = 16

// noNode stands for a category filter naming no node.
const noNode = math.MaxUint32

// facetMask has bit f set for each field f whose facet is wanted.
type facetMask uint

// facetCounts are counts per dictionary id (category: per node id; price:
// per bucket).
type facetCounts struct {
	brand, size, cond, color, cat, price []int
}

// catChildren returns the children of node whose counts the category facet
// reports: the top level for node 0, none for noNode.
func (c *columns) catChildren(node uint32) []uint32 {
	if node == noNode {
		return nil
	}
	return c.nodes[node].children
}

// bitmapFacets counts condition, color, category and price (as wanted) by
// cardinalities of set ∩ the value bitmaps.
func (c *columns) bitmapFacets(set *roaring.Bitmap, want facetMask, catNode uint32, fc *facetCounts) {

	if want&(1<<fieldCondition) != 0 {
		fc.cond = make([]int, len(c.condBM))
		for code := 1; code < len(c.condBM); code++ {
			fc.cond[code] = int(set.AndCardinality(c.condBM[code]))
		}
	}
	if want&(1<<fieldColor) != 0 {
		fc.color = make([]int, len(c.colorVals.vals))
		for id := 1; id < len(c.colorBM); id++ {
			fc.color[id] = int(set.AndCardinality(c.colorBM[id]))
		}
	}
	if want&(1<<fieldCategory) != 0 {
		fc.cat = make([]int, len(c.nodes))
		for _, ch := range c.catChildren(catNode) {
			if int(ch) < len(c.nodeBM) {
				fc.cat[ch] = int(set.AndCardinality(c.nodeBM[ch]))
			}
		}
	}
	if want&(1<<fieldPrice) != 0 {
		fc.price = make([]int, query.NumPriceBuckets)
		for i, b := range c.priceBM {
			fc.price[i] = int(set.AndCardinality(b))
		}
	}
}

// scanFacets counts the wanted facets in one pass over set, reading each
// document's columns.
func (c *columns) scanFacets(st *budget, set *roaring.Bitmap, want facetMask, catNode uint32, fc *facetCounts) {
	has := func(f field) bool { return want&(1<<f) != 0 }
	var brand, size, cond, color, cat, price []int
	if has(fieldBrand) {
		brand = make([]int, len(c.brands.vals))
		fc.brand = brand
	}
	if has(fieldSize) {
		size = make([]int, len(c.sizes.vals))
		fc.size = size
	}
	if has(fieldCondition) {
		cond = make([]int, len(c.condBM))
		fc.cond = cond
	}
	if has(fieldColor) {
		color = make([]int, len(c.colorVals.vals))
		fc.color = color
	}
	catDepth := 0
	if has(fieldCategory) {
		cat = make([]int, len(c.nodes))
		fc.cat = cat
		if catNode == noNode {
			cat = nil // nothing under a node that does not exist
		} else if catNode != 0 {
			catDepth = len(c.nodes[catNode].anc)
		}
	}
	if has(fieldPrice) {
		price = make([]int, query.NumPriceBuckets)
		fc.price = price
	}
	// One loop per facet over a chunk of the set: the first loop's row
	// reads are independent of each other, so their cache misses overlap
	// (a text query's hits are one miss each), and the later loops find
	// the chunk's rows in cache. A fused loop did one miss at a time.
	rows := c.rows
	buf := make([]uint32, 1024)
	var sink uint32
	it := set.ManyIterator()
	for n := it.NextMany(buf); n > 0 && !st.spend(n); n = it.NextMany(buf) {
		b := buf[:n]
		if brand != nil {
			for _, o := range b {
				brand[rows[o].brand]++
			}
		} else {
			for _, o := range b {
				sink += rows[o].size
			}
		}
		if size != nil {
			for _, o := range b {
				size[rows[o].size]++
			}
		}
		if cond != nil {
			for _, o := range b {
				cond[rows[o].cond]++
			}
		}
		if color != nil {
			for _, o := range b {
				for _, id := range c.colorSetIDs[rows[o].colors] {
					color[id]++
				}
			}
		}
		if cat != nil {
			for _, o := range b {
				if anc := c.nodes[rows[o].node].anc; len(anc) > catDepth && (catDepth == 0 || anc[catDepth-1] == catNode) {
					cat[anc[catDepth]]++
				}
			}
		}
		if price != nil {
			for _, o := range b {
				if b := priceBucket(rows[o].price); b >= 0 {
					price[b]++
				}
			}
		}
	}
	scanSink.Store(sink)
}

// scanSink keeps the touch loop of scanFacets from being optimized away.
var scanSink atomic.Uint32

// countColumns counts brand and size (as wanted) in one pass over their
// columns.
func (c *columns) countColumns(st *budget, set *roaring.Bitmap, want facetMask, fc *facetCounts) {
	var brand, size []int
	if want&(1<<fieldBrand) != 0 {
		brand = make([]int, len(c.brands.vals))
		fc.brand = brand
	}
	if want&(1<<fieldSize) != 0 {
		size = make([]int, len(c.sizes.vals))
		fc.size = size
	}
	if brand == nil && size == nil {
		return
	}
	buf := make([]uint32, 4096)
	it := set.ManyIterator()
	for n := it.NextMany(buf); n > 0 && !st.spend(n); n = it.NextMany(buf) {
		switch {
		case size == nil:
			for _, o := range buf[:n] {
				brand[c.brandCol[o]]++
			}
		case brand == nil:
			for _, o := range buf[:n] {
				size[c.sizeCol[o]]++
			}
		default:
			for _, o := range buf[:n] {
				brand[c.brandCol[o]]++
				size[c.sizeCol[o]]++
			}
		}
	}
}

// termFacet turns counts per dictionary id into the top limit values, by
// count desc then value asc, plus the selected ids wherever they rank. Id 0
// (no value) is not a facet value.
func termFacet(counts []int, names []string, limit int, selected []uint32) []query.FacetValue {
	vals := []query.FacetValue{}
	for id := 1; id < len(counts); id++ {
		if counts[id] > 0 {
			vals = append(vals, query.FacetValue{Value: names[id], Count: counts[id]})
		}
	}
	var must []query.FacetValue
	for _, id := range selected {
		if id != 0 && int(id) < len(names) {
			n := 0
			if int(id) < len(counts) {
				n = counts[id]
			}
			must = append(must, query.FacetValue{Value: names[id], Count: n})
		}
	}
	return query.WithSelected(query.SortFacet(vals, limit), must)
}
