package embedded

import (
	"cmp"
	"container/heap"
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// field indexes the filterable fields for disjunctive facets.
type field int

const (
	fieldBrand field = iota
	fieldSize
	fieldCondition
	fieldColor
	fieldCategory
	fieldPrice
	numFields
)

var facetField = map[query.Facet]field{
	query.FacetBrand:     fieldBrand,
	query.FacetSize:      fieldSize,
	query.FacetCondition: fieldCondition,
	query.FacetColor:     fieldColor,
	query.FacetCategory:  fieldCategory,
	query.FacetPrice:     fieldPrice,
}

// Retrieve runs a validated retrieval. See query.Retriever.
func (x *Index) Retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	nowMs := r.Now.UnixMilli()
	sortBy := r.EffectiveSort()
	scorer := r.Score
	if scorer == nil {
		scorer = query.TextScorer{}
	}

	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	c := x.cols

	base := c.visibleAt(&x.vis, nowMs)
	var fk *feedKeys
	if r.Restrict.Active() {
		base, fk = c.restrict(x, base, &r.Restrict, sortBy == query.SortFeed)
		defer fk.release()
	}
	if r.Scope != nil {
		var err error
		if base, err = x.scope(ctx, base, r.Scope); err != nil {
			return nil, err
		}
	}
	var text *textHits
	if q := strings.TrimSpace(r.Query); q != "" {
		clauses, ok, err := x.planText(q, x.snap)
		if err != nil {
			return nil, err
		}
		if !ok {
			// Only stop words or punctuation: nothing matches, but the
			// facets still answer, selected values included.
			text = &textHits{}
		} else if text, err = x.matchText(ctx, x.snap, x.segs, clauses, sortBy == query.SortRelevance); err != nil {
			return nil, err
		}
		tb := roaring.New()
		tb.AddMany(sortedCopy(text.ords))
		base = roaring.And(base, tb)
	}

	filters, sel := c.filterSets(base, &r.Filters)
	// all = base ∩ every filter, smallest first.
	active := make([]*roaring.Bitmap, 0, numFields)
	for _, b := range filters {
		if b != nil {
			active = append(active, b)
		}
	}
	all := intersect(base, active)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	st := &budget{ctx: ctx}
	res := &query.Candidates{Total: int(all.GetCardinality())}
	if len(r.Facets) > 0 {
		res.Facets = x.facets(st, r, base, filters, sel, all)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}

	var page []entry
	if fk != nil {
		page, res.More = c.topKFeed(st, fk, all, r.After, r.N)
	} else if so := c.orderFor(sortBy, text, all); so != nil {
		page, res.More = c.topKOrdered(st, so, c.dirty, all, sortBy, r.After, r.N)
	} else if sortBy == query.SortRelevance && text != nil && relevancePruning {
		page, res.More = c.topKRelevance(st, text, all, r.After, r.N, scorer)
	} else {
		page, res.More = c.topK(x.candidates(st, sortBy, text, all, scorer), r.After, sortBy, r.N)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Hits = make([]query.Candidate, len(page))
	for i, e := range page {
		h := &res.Hits[i]
		h.ID = c.ids.str(e.ord)
		c.signals(e.ord, &h.Signals)
		h.Seller = c.sellerOf(e.ord)
		if sortBy == query.SortRelevance {
			h.Score = e.v
			h.Text = e.text
		} else {
			h.Key = cursorKey(sortBy, e.v)
		}
	}
	if n := min(r.Docs, len(page)); n > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ids := make([]string, n)
		for i := range ids {
			ids[i] = res.Hits[i].ID
		}
		var docs []rummage.Listing
		var err error
		if text != nil && len(text.docs) == len(text.ords) {
			docs, err = x.loadDocsAt(x.snap, x.segs, ids, pageDocs(page[:n], text))
		} else {
			docs, err = x.loadDocs(x.snap, ids)
		}
		if err != nil {
			return nil, err
		}
		for i := range docs {
			res.Hits[i].Doc = &docs[i]
		}
	}
	return res, nil
}

// signals fills what ranking knows of ordinal o from its row but the
// seller (the text score is the caller's; the seller, a string built from
// its arena, is set on the returned candidates only).
func (c *columns) signals(o uint32, s *query.Signals) {
	c.rowSignals(o, s)
	c.labels(o, s)
}

// rowSignals fills the numbers of signals: one read of the row, no
// dependent loads, so that a loop over many rows keeps many cache misses
// in flight.
func (c *columns) rowSignals(o uint32, s *query.Signals) {
	r := &c.rows[o]
	s.CreatedMs, s.ListedMs = r.created, r.listed()
	s.Likes, s.Shares = int64(r.likes), int64(r.shares)
	s.PriceCents = r.price
	s.SharedMs = 0
	if r.shared != noTime {
		s.SharedMs = r.shared
	}
}

// labels fills the strings of signals but the seller: brand, size and
// category, looked up from the row's codes.
func (c *columns) labels(o uint32, s *query.Signals) {
	r := &c.rows[o]
	s.Brand, s.Size = c.brands.vals[r.brand], c.sizes.vals[r.size]
	s.Category = c.nodes[r.node].path
}

// restrict narrows base to (seller ∈ Sellers) ∪ (id ∈ IDs) when Include is
// set, minus the listings of ExcludeSellers. Seller and listing ids match
// exactly. For SortFeed it also returns the restriction's keys (feed.go).
func (c *columns) restrict(x *Index, base *roaring.Bitmap, rs *query.Restriction, feed bool) (*roaring.Bitmap, *feedKeys) {
	out := base
	var fk *feedKeys
	if rs.Include {
		var parts []*roaring.Bitmap
		sellers := c.cachedSellerBitmap(&x.sellersBM, rs.Sellers)
		if sellers != nil {
			parts = append(parts, sellers)
		}
		if feed {
			fk = &feedKeys{sellers: sellers}
		}
		if len(rs.IDs) > 0 {
			var keys []int64
			if fk != nil {
				keys = rs.IDKeys
			}
			res := c.resolveIDs(&x.restricted, rs.IDs, keys)
			if fk != nil {
				fk.ords, fk.keys = res.ords, res.okeys
			}
			parts = append(parts, res.bitmap)
		}
		switch len(parts) {
		case 0:
			return roaring.New(), fk
		case 1:
			out = roaring.And(out, parts[0])
		default:
			out = roaring.And(out, roaring.FastOr(parts...))
		}
	}
	if ex := c.cachedSellerBitmap(&x.sellersBM, rs.ExcludeSellers); ex != nil {
		out = roaring.AndNot(out, ex)
	}
	if fk != nil && rs.MinKey != 0 {
		out = c.keyAtLeast(out, fk, rs.MinKey)
	}
	return out, fk
}

// selection holds the dictionary ids (condition: codes) that the filter
// values matched, so that they appear in their facet whatever their count.
type selection [numFields][]uint32

// filterSets returns one bitmap per active filter (nil when the field is
// not filtered) and the values each filter matched. Values match
// case-insensitively.
func (c *columns) filterSets(base *roaring.Bitmap, f *query.Filters) ([numFields]*roaring.Bitmap, selection) {
	var filters [numFields]*roaring.Bitmap
	var sel selection
	filters[fieldBrand], sel[fieldBrand] = c.union(c.brandBM, &c.brands, f.Brands)
	filters[fieldSize], sel[fieldSize] = c.union(c.sizeBM, &c.sizes, f.Sizes)
	filters[fieldColor], sel[fieldColor] = c.union(c.colorBM, &c.colorVals, f.Colors)
	if len(f.Conditions) > 0 {
		b := roaring.New()
		for _, v := range f.Conditions {
			if code := conditionCode(strings.ToLower(v)); code > 0 {
				b.Or(c.condBM[code])
				sel[fieldCondition] = append(sel[fieldCondition], uint32(code))
			}
		}
		filters[fieldCondition] = b
	}
	if len(f.Category) > 0 {
		var parts []*roaring.Bitmap
		for _, n := range c.nodeByLower[strings.ToLower(strings.Join(f.Category, "/"))] {
			if int(n) < len(c.nodeBM) {
				parts = append(parts, c.nodeBM[n])
			}
		}
		switch len(parts) {
		case 0:
			filters[fieldCategory] = roaring.New()
		case 1:
			filters[fieldCategory] = parts[0]
		default:
			filters[fieldCategory] = roaring.FastOr(parts...)
		}
	}
	if f.PriceMin != nil || f.PriceMax != nil {
		filters[fieldPrice] = c.priceRange(base, f.PriceMin, f.PriceMax)
	}
	return filters, sel
}

// pageDocs returns the global doc number of each page entry, from the text
// hits (one pass, a bitset test per hit).
func pageDocs(page []entry, text *textHits) []uint64 {
	var in [1024]uint64
	at := make(map[uint32]int, len(page))
	for i, e := range page {
		at[e.ord] = i
		in[e.ord&(1<<16-1)>>6] |= 1 << (e.ord & 63)
	}
	docs := make([]uint64, len(page))
	for i, o := range text.ords {
		if in[o&(1<<16-1)>>6]&(1<<(o&63)) == 0 {
			continue
		}
		if j, ok := at[o]; ok {
			docs[j] = text.docs[i]
		}
	}
	return docs
}

func sortedCopy(a []uint32) []uint32 {
	b := slices.Clone(a)
	slices.Sort(b)
	return b
}

// union ORs the bitmaps of every spelling of the given values (ignoring
// case), and returns the ids matched; nil when no value is given. A
// spelling no document holds any more (the dictionary never forgets one)
// is not a value: it matches nothing and is not selected.
func (c *columns) union(bms []*roaring.Bitmap, d *dict, vals []string) (*roaring.Bitmap, []uint32) {
	if len(vals) == 0 {
		return nil, nil
	}
	var parts []*roaring.Bitmap
	var ids []uint32
	for _, v := range vals {
		for _, id := range d.match(v) {
			if id != 0 && int(id) < len(bms) && !bms[id].IsEmpty() && !slices.Contains(ids, id) {
				parts = append(parts, bms[id])
				ids = append(ids, id)
			}
		}
	}
	switch len(parts) {
	case 0:
		return roaring.New(), ids
	case 1:
		return parts[0], ids
	}
	return roaring.FastOr(parts...), ids
}

// priceRange returns the ordinals of in whose price is within [min, max].
func (c *columns) priceRange(in *roaring.Bitmap, lo, hi *int64) *roaring.Bitmap {
	l, h := int64(-1<<63), int64(1<<63-1)
	if lo != nil {
		l = *lo
	}
	if hi != nil {
		h = *hi
	}
	out := make([]uint32, 0, 1024)
	buf := make([]uint32, 4096)
	it := in.ManyIterator()
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			if p := c.rows[o].price; p >= l && p <= h {
				out = append(out, o)
			}
		}
	}
	b := roaring.New()
	b.AddMany(out)
	return b
}

// intersect returns base ∩ each of bms, without modifying any input.
func intersect(base *roaring.Bitmap, bms []*roaring.Bitmap) *roaring.Bitmap {
	if len(bms) == 0 {
		return base
	}
	all := append([]*roaring.Bitmap{base}, bms...)
	return roaring.FastAnd(all...)
}

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

// candidates yields every ordinal of all with its primary sort value (and
// text score): hits are ordered by it descending, then by id ascending.
// Ascending sorts negate; never-shared listings sort after every shared
// one. For relevance with text the candidates are the text hits (whose
// scores are at hand) that are in all, scored by the first phase.
func (x *Index) candidates(st *budget, s query.Sort, text *textHits, all *roaring.Bitmap, scorer query.Scorer) func(yield func(entry)) {
	c := x.cols
	scan := func(key func(o uint32) float64) func(yield func(entry)) {
		return func(yield func(entry)) {
			buf := make([]uint32, 4096)
			it := all.ManyIterator()
			for n := it.NextMany(buf); n > 0 && !st.spend(n); n = it.NextMany(buf) {
				for _, o := range buf[:n] {
					yield(entry{v: key(o), ord: o})
				}
			}
		}
	}
	switch s {
	case query.SortPriceAsc, query.SortPriceDesc, query.SortRecentlyShared:
		return scan(func(o uint32) float64 { return c.sortValue(s, o) })
	case query.SortRelevance:
		if text == nil {
			break // browsing: relevance is newest
		}
		return func(yield func(entry)) {
			var sig query.Signals
			for i, o := range text.ords {
				if st.spend(1) {
					return
				}
				if !all.Contains(o) {
					continue
				}
				c.signals(o, &sig)
				sig.Text = text.scores[i]
				yield(entry{v: scorer.Score(&sig), text: sig.Text, ord: o})
			}
		}
	}
	return scan(func(o uint32) float64 { return float64(c.listedCol[o]) })
}

// neverShared sorts below any real share instant.
const neverShared = -1 << 62

// cursorKey stores a primary sort value in a cursor key.
func cursorKey(s query.Sort, v float64) int64 {
	switch s {
	case query.SortPriceAsc:
		return int64(-v)
	case query.SortRecentlyShared:
		if v == neverShared {
			return 0
		}
	}
	return int64(v)
}

// cursorValue reads a cursor key back as a primary sort value.
func cursorValue(s query.Sort, key int64) float64 {
	switch s {
	case query.SortPriceAsc:
		return -float64(key)
	case query.SortRecentlyShared:
		if key == 0 {
			return neverShared
		}
	}
	return float64(key)
}

type entry struct {
	v    float64 // the primary sort value (first-phase score for relevance)
	text float64 // the text score, for relevance
	ord  uint32
}

// before reports whether a comes before b: higher value first, then id.
func (c *columns) before(a, b entry) bool {
	if a.v != b.v {
		return a.v > b.v
	}
	return c.ids.compare(a.ord, b.ord) < 0
}

// pageHeap keeps the best k entries seen after a cursor position; its root
// is the worst of them. remaining counts every entry offered after the
// cursor, so that the caller can tell whether a next page exists.
type pageHeap struct {
	c         *columns
	e         []entry
	k         int
	after     bool
	cur       entry
	curID     string
	remaining int
}

// newPage returns an empty page of k entries after the position (nil:
// from the start) in sort s.
func (c *columns) newPage(after *query.Position, s query.Sort, k int) *pageHeap {
	h := &pageHeap{c: c, e: make([]entry, 0, k+1), k: k}
	if after != nil {
		h.after, h.cur.v, h.curID = true, positionValue(s, after), after.ID
	}
	return h
}

// positionValue is the primary sort value of a position.
func positionValue(s query.Sort, p *query.Position) float64 {
	if s == query.SortRelevance {
		return p.Score
	}
	return cursorValue(s, p.Key)
}

// offer considers one entry for the page.
func (h *pageHeap) offer(e entry) {
	if h.after && (e.v > h.cur.v || (e.v == h.cur.v && string(h.c.ids.at(e.ord)) <= h.curID)) {
		return
	}
	h.remaining++
	if len(h.e) < h.k {
		heap.Push(h, e)
	} else if h.c.before(e, h.e[0]) {
		h.e[0] = e
		heap.Fix(h, 0)
	}
}

// result returns the page in sort order, and whether more entries remain
// after it.
func (h *pageHeap) result() ([]entry, bool) {
	out := make([]entry, len(h.e))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(entry)
	}
	return out, h.remaining > h.k
}

func (h *pageHeap) Len() int           { return len(h.e) }
func (h *pageHeap) Less(i, j int) bool { return h.c.before(h.e[j], h.e[i]) }
func (h *pageHeap) Swap(i, j int)      { h.e[i], h.e[j] = h.e[j], h.e[i] }
func (h *pageHeap) Push(v any)         { h.e = append(h.e, v.(entry)) }
func (h *pageHeap) Pop() any {
	v := h.e[len(h.e)-1]
	h.e = h.e[:len(h.e)-1]
	return v
}

// relevancePruning is off only in tests comparing it with a full pass.
var relevancePruning = true

// topKRelevance is topK for relevance with text. Text scores take few
// distinct values (sums of field weights × idf), so hits are grouped by
// score and visited best group first; once the page is full and a group's
// best possible first-phase score (scorer.Bound) is below the page's worst,
// that group and all after it are skipped without reading their rows or
// scoring. A broad word matching 130k listings then scores a few thousand.
func (c *columns) topKRelevance(st *budget, text *textHits, all *roaring.Bitmap, after *query.Position, k int, scorer query.Scorer) ([]entry, bool) {
	g := groupPool.Get().(*scoreGroups)
	defer groupPool.Put(g)
	if !g.build(st, c.ids.len(), text, all) {
		return nil, false
	}
	h := c.newPage(after, query.SortRelevance, k)
	// The scorer is an interface, so the signals it reads escape: a
	// pooled buffer instead of a 33 KB array per query.
	sp := signalBufs.Get().(*[256]query.Signals)
	defer signalBufs.Put(sp)
	sigs := sp[:]
	for gi, sc := range g.scores {
		if len(h.e) == k && scorer.Bound(sc) < h.e[0].v {
			// Every listing left scores below the page's worst, which is
			// after the cursor: they are all after it too.
			h.remaining += len(g.ords) - g.start[gi]
			break
		}
		grp := g.ords[g.start[gi]:g.start[gi+1]]
		for lo := 0; lo < len(grp) && !st.spend(len(sigs)); lo += len(sigs) {
			chunk := grp[lo:min(lo+len(sigs), len(grp))]
			// Read the rows first in a tight loop, so that their cache
			// misses overlap, then (rows in cache) label and blend.
			for i, o := range chunk {
				c.rowSignals(o, &sigs[i])
			}
			for i, o := range chunk {
				s := &sigs[i]
				c.labels(o, s)
				s.Text = sc
				h.offer(entry{v: scorer.Score(s), text: sc, ord: o})
			}
		}
	}
	return h.result()
}

// scoreGroups are the text hits in a result grouped by text score, best
// first: group i is ords[start[i]:start[i+1]], of score scores[i], its hits
// in text order. Pooled: its slices keep their capacity between queries,
// so grouping allocates nothing once warm.
type scoreGroups struct {
	scores []float64 // descending
	start  []int     // len(scores)+1
	ords   []uint32
	// Scratch of build.
	seen   []float64 // the scores in first-seen order
	hitOrd []uint32
	hitGrp []int32 // the group of each hitOrd, in first-seen order
	count  []int
	perm   []int32
	rank   []int32
	index  map[float64]int32
}

var groupPool = sync.Pool{New: func() any { return &scoreGroups{index: map[float64]int32{}} }}

// build groups the hits of text that are in all (a set of ordinals below
// n). It reports false when the budget ran out.
func (g *scoreGroups) build(st *budget, n int, text *textHits, all *roaring.Bitmap) bool {
	// Membership in all through a bitset over ordinals (a load and a
	// shift) instead of a roaring Contains per hit.
	in := getBitset(n)
	defer putBitset(in, all)
	buf := make([]uint32, 1024)
	it := all.ManyIterator()
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			in[o>>6] |= 1 << (o & 63)
		}
	}
	clear(g.index)
	scores, count := g.seen[:0], g.count[:0]
	hitOrd, hitGrp := g.hitOrd[:0], g.hitGrp[:0]
	// Consecutive hits mostly share a score: check the last group first.
	lastSc, last := math.NaN(), int32(-1)
	for lo := 0; lo < len(text.ords); lo += checkEvery {
		hi := min(lo+checkEvery, len(text.ords))
		if st.spend(hi - lo) {
			return false
		}
		for i, o := range text.ords[lo:hi] {
			if in[o>>6]&(1<<(o&63)) == 0 {
				continue
			}
			if sc := text.scores[lo+i]; sc != lastSc {
				gi, ok := g.index[sc]
				if !ok {
					gi = int32(len(scores))
					g.index[sc] = gi
					scores, count = append(scores, sc), append(count, 0)
				}
				lastSc, last = sc, gi
			}
			count[last]++
			hitOrd, hitGrp = append(hitOrd, o), append(hitGrp, last)
		}
	}
	// Order the groups best first; rank maps a first-seen group to its
	// place.
	perm := g.perm[:0]
	for i := range scores {
		perm = append(perm, int32(i))
	}
	slices.SortFunc(perm, func(a, b int32) int { return cmp.Compare(scores[b], scores[a]) })
	rank := slices.Grow(g.rank[:0], len(perm))[:len(perm)]
	g.scores = slices.Grow(g.scores[:0], len(perm))[:len(perm)]
	g.start = slices.Grow(g.start[:0], len(perm)+1)[:len(perm)+1]
	at := 0
	for r, gi := range perm {
		rank[gi] = int32(r)
		g.scores[r] = scores[gi]
		g.start[r] = at
		at += count[gi]
	}
	g.start[len(perm)] = at
	// Scatter the hits into their groups, keeping text order; count
	// becomes each group's next slot.
	for r := range perm {
		count[r] = g.start[r]
	}
	g.ords = slices.Grow(g.ords[:0], len(hitOrd))[:len(hitOrd)]
	for i, o := range hitOrd {
		r := rank[hitGrp[i]]
		g.ords[count[r]] = o
		count[r]++
	}
	g.seen, g.count, g.hitOrd, g.hitGrp, g.perm, g.rank = scores, count, hitOrd, hitGrp, perm, rank
	return true
}

var bitsets sync.Pool // of *[]uint64, all zero

// signalBufs pools the signal buffers of topKRelevance.
var signalBufs = sync.Pool{New: func() any { return new([256]query.Signals) }}

// getBitset returns a zeroed bitset of at least n bits.
func getBitset(n int) []uint64 {
	words := (n + 63) / 64
	if p, ok := bitsets.Get().(*[]uint64); ok && len(*p) >= words {
		return *p
	}
	return make([]uint64, words)
}

// putBitset clears the bits of set in b and pools b.
func putBitset(b []uint64, set *roaring.Bitmap) {
	if set.GetCardinality() > uint64(len(b)) {
		clear(b)
	} else {
		buf := make([]uint32, 1024)
		it := set.ManyIterator()
		for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
			for _, o := range buf[:n] {
				b[o>>6] = 0
			}
		}
	}
	bitsets.Put(&b)
}

// topK returns the first k candidates after the position in sort order,
// and whether more remain after them.
func (c *columns) topK(cands func(yield func(entry)), after *query.Position, s query.Sort, k int) ([]entry, bool) {
	h := c.newPage(after, s, k)
	cands(h.offer)
	return h.result()
}
