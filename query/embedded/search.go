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
	"github.com/rummage/rummage/ranking"
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

// Search runs a validated request. See query.Backend.
func (x *Index) Search(ctx context.Context, req *query.Request) (*query.Result, error) {
	instant := req.Instant()
	nowMs := instant.UnixMilli()
	sortBy := req.EffectiveSort()

	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	c := x.cols

	base := c.visibleAt(&x.vis, nowMs)
	var text *textHits
	if q := strings.TrimSpace(req.Query); q != "" {
		clauses, ok, err := x.planText(q, x.snap)
		if err != nil {
			return nil, err
		}
		if !ok {
			return query.EmptyResult(req), nil
		}
		if text, err = x.matchText(ctx, x.snap, x.segs, clauses, sortBy == query.SortRelevance); err != nil {
			return nil, err
		}
		tb := roaring.New()
		tb.AddMany(sortedCopy(text.ords))
		base = roaring.And(base, tb)
	}

	// One bitmap per active filter; nil when the field is not filtered.
	var filters [numFields]*roaring.Bitmap
	f := &req.Filters
	filters[fieldBrand] = c.union(c.brandBM, &c.brands, f.Brands)
	filters[fieldSize] = c.union(c.sizeBM, &c.sizes, f.Sizes)
	filters[fieldColor] = c.union(c.colorBM, &c.colorVals, f.Colors)
	if len(f.Conditions) > 0 {
		b := roaring.New()
		for _, v := range f.Conditions {
			if code := conditionCode(v); code > 0 {
				b.Or(c.condBM[code])
			}
		}
		filters[fieldCondition] = b
	}
	if len(f.Category) > 0 {
		if n, ok := c.nodeByPath[strings.Join(f.Category, "/")]; ok && n != 0 && int(n) < len(c.nodeBM) {
			filters[fieldCategory] = c.nodeBM[n]
		} else {
			filters[fieldCategory] = roaring.New()
		}
	}
	if f.PriceMin != nil || f.PriceMax != nil {
		filters[fieldPrice] = c.priceRange(base, f.PriceMin, f.PriceMax)
	}

	// all = base ∩ every filter, smallest first.
	active := make([]*roaring.Bitmap, 0, numFields)
	for _, b := range filters {
		if b != nil {
			active = append(active, b)
		}
	}
	all := intersect(base, active)

	res := &query.Result{Total: int(all.GetCardinality())}
	if len(req.Facets) > 0 {
		res.Facets = x.facets(req, base, filters, all)
	}

	limit := req.EffectiveLimit()
	var page []entry
	var more bool
	if so := c.orderFor(sortBy, text, all); so != nil {
		page, more = c.topKOrdered(so, c.dirty, all, sortBy, req.After, limit)
	} else if sortBy == query.SortRelevance && text != nil && relevancePruning {
		page, more = c.topKRelevance(text, all, req.After, limit, nowMs)
	} else {
		page, more = c.topK(x.candidates(sortBy, text, all, nowMs), req.After, sortBy, limit)
	}
	ids := make([]string, len(page))
	for i, e := range page {
		ids[i] = c.ids.str(e.ord)
	}
	var hits []rummage.Listing
	var err error
	if text != nil && len(text.docs) == len(text.ords) {
		hits, err = x.loadDocsAt(x.snap, x.segs, ids, pageDocs(page, text))
	} else {
		hits, err = x.loadDocs(x.snap, ids)
	}
	if err != nil {
		return nil, err
	}
	res.Hits = hits
	if more && len(page) > 0 {
		last := page[len(page)-1]
		res.NextCursor = req.NewCursor(instant, cursorKey(sortBy, last.v), c.ids.str(last.ord))
	}
	return res, nil
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

// union ORs the bitmaps of the given values; nil when no value is given.
func (c *columns) union(bms []*roaring.Bitmap, d *dict, vals []string) *roaring.Bitmap {
	if len(vals) == 0 {
		return nil
	}
	var parts []*roaring.Bitmap
	for _, v := range vals {
		if id, ok := d.ids[v]; ok && id != 0 && int(id) < len(bms) {
			parts = append(parts, bms[id])
		}
	}
	switch len(parts) {
	case 0:
		return roaring.New()
	case 1:
		return parts[0]
	}
	return roaring.FastOr(parts...)
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
func (x *Index) facets(req *query.Request, base *roaring.Bitmap, filters [numFields]*roaring.Bitmap, all *roaring.Bitmap) map[query.Facet][]query.FacetValue {
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
	catNode := uint32(0)
	if len(req.Filters.Category) > 0 {
		n, ok := c.nodeByPath[strings.Join(req.Filters.Category, "/")]
		if !ok {
			catNode = noNode
		} else {
			catNode = n
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
			c.countColumns(g.set, want, counts)
			c.bitmapFacets(g.set, want&^(1<<fieldBrand|1<<fieldSize), catNode, counts)
		} else {
			c.scanFacets(g.set, want, catNode, counts)
		}
	}
	out := make(map[query.Facet][]query.FacetValue, len(req.Facets))
	for _, fc := range req.Facets {
		switch fc {
		case query.FacetBrand:
			out[fc] = termFacet(counts.brand, c.brands.vals)
		case query.FacetSize:
			out[fc] = termFacet(counts.size, c.sizes.vals)
		case query.FacetCondition:
			out[fc] = termFacet(counts.cond, append([]string{""}, rummage.Conditions...))
		case query.FacetColor:
			out[fc] = termFacet(counts.color, c.colorVals.vals)
		case query.FacetCategory:
			var vals []query.FacetValue
			for n, k := range counts.cat {
				if k > 0 {
					vals = append(vals, query.FacetValue{Value: c.nodes[n].path, Count: k})
				}
			}
			out[fc] = sortFacet(vals)
		case query.FacetPrice:
			if counts.price == nil {
				counts.price = make([]int, len(query.PriceBuckets))
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
		fc.price = make([]int, len(query.PriceBuckets))
		for i, b := range c.priceBM {
			fc.price[i] = int(set.AndCardinality(b))
		}
	}
}

// scanFacets counts the wanted facets in one pass over set, reading each
// document's columns.
func (c *columns) scanFacets(set *roaring.Bitmap, want facetMask, catNode uint32, fc *facetCounts) {
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
		price = make([]int, len(query.PriceBuckets))
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
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
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
func (c *columns) countColumns(set *roaring.Bitmap, want facetMask, fc *facetCounts) {
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
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
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

// termFacet turns counts per dictionary id into the top MaxTermFacet values,
// by count desc then value asc. Id 0 (no value) is not a facet value.
func termFacet(counts []int, names []string) []query.FacetValue {
	vals := []query.FacetValue{}
	for id := 1; id < len(counts); id++ {
		if counts[id] > 0 {
			vals = append(vals, query.FacetValue{Value: names[id], Count: counts[id]})
		}
	}
	return sortFacet(vals)
}

func sortFacet(vals []query.FacetValue) []query.FacetValue {
	if vals == nil {
		vals = []query.FacetValue{}
	}
	slices.SortFunc(vals, func(a, b query.FacetValue) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return strings.Compare(a.Value, b.Value)
	})
	if len(vals) > query.MaxTermFacet {
		vals = vals[:query.MaxTermFacet]
	}
	return vals
}

// candidates yields every ordinal of all with its primary sort value: hits
// are ordered by it descending, then by id ascending. Ascending sorts
// negate; never-shared listings sort after every shared one. For relevance
// with text the candidates are the text hits (whose scores are at hand)
// that are in all.
func (x *Index) candidates(s query.Sort, text *textHits, all *roaring.Bitmap, nowMs int64) func(yield func(uint32, float64)) {
	c := x.cols
	scan := func(key func(o uint32) float64) func(yield func(uint32, float64)) {
		return func(yield func(uint32, float64)) {
			buf := make([]uint32, 4096)
			it := all.ManyIterator()
			for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
				for _, o := range buf[:n] {
					yield(o, key(o))
				}
			}
		}
	}
	switch s {
	case query.SortPriceAsc:
		return scan(func(o uint32) float64 { return -float64(c.priceCol[o]) })
	case query.SortPriceDesc:
		return scan(func(o uint32) float64 { return float64(c.priceCol[o]) })
	case query.SortRecentlyShared:
		return scan(func(o uint32) float64 {
			if c.sharedCol[o] == noTime {
				return neverShared
			}
			return float64(c.sharedCol[o])
		})
	case query.SortRelevance:
		if text == nil {
			break // browsing: relevance is newest
		}
		return func(yield func(uint32, float64)) {
			for i, o := range text.ords {
				if !all.Contains(o) {
					continue
				}
				sig := ranking.Signals{Text: text.scores[i], CreatedMs: c.rows[o].created, Likes: int64(c.rows[o].likes), Shares: int64(c.rows[o].shares)}
				if c.rows[o].shared != noTime {
					sig.SharedMs = c.rows[o].shared
				}
				yield(o, ranking.Relevance(sig, nowMs))
			}
		}
	}
	return scan(func(o uint32) float64 { return float64(c.createdCol[o]) })
}

// neverShared sorts below any real share instant.
const neverShared = -1 << 62

// cursorKey stores a primary sort value in a cursor key.
func cursorKey(s query.Sort, v float64) int64 {
	switch s {
	case query.SortRelevance:
		return query.ScoreKey(v)
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
	case query.SortRelevance:
		return query.KeyScore(key)
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
	v   float64
	ord uint32
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

// newPage returns an empty page of k entries after the cursor (nil: from
// the start) in sort s.
func (c *columns) newPage(after *query.Cursor, s query.Sort, k int) *pageHeap {
	h := &pageHeap{c: c, e: make([]entry, 0, k+1), k: k}
	if after != nil {
		h.after, h.cur.v, h.curID = true, cursorValue(s, after.Key), after.ID
	}
	return h
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

// maxBlend bounds ranking.Relevance / text score: freshness and popularity
// are each at most 1.
const maxBlend = (1 + ranking.FreshnessWeight + ranking.PopularityWeight) * (1 + 1e-9)

// topKRelevance is topK for relevance with text. Text scores take few
// distinct values (sums of field weights × idf), so hits are grouped by
// score and visited best group first; once the page is full and a group's
// best possible blended score is below the page's worst, that group and all
// after it are skipped without reading their rows or blending. A broad word
// matching 130k listings then blends a few thousand.
func (c *columns) topKRelevance(text *textHits, all *roaring.Bitmap, after *query.Cursor, k int, nowMs int64) ([]entry, bool) {
	// Membership in all through a bitset over ordinals (a load and a
	// shift) instead of a roaring Contains per hit.
	in := getBitset(c.ids.len())
	defer putBitset(in, all)
	buf := make([]uint32, 1024)
	it := all.ManyIterator()
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			in[o>>6] |= 1 << (o & 63)
		}
	}
	// Consecutive hits mostly share a score: check the last group first.
	groups := map[float64][]uint32{}
	var last []uint32
	lastSc := math.NaN()
	for i, o := range text.ords {
		if in[o>>6]&(1<<(o&63)) == 0 {
			continue
		}
		if sc := text.scores[i]; sc != lastSc {
			if !math.IsNaN(lastSc) {
				groups[lastSc] = last
			}
			lastSc, last = sc, groups[sc]
		}
		last = append(last, o)
	}
	if !math.IsNaN(lastSc) {
		groups[lastSc] = last
	}
	scores := make([]float64, 0, len(groups))
	for sc := range groups {
		scores = append(scores, sc)
	}
	slices.SortFunc(scores, func(a, b float64) int { return cmp.Compare(b, a) })
	h := c.newPage(after, query.SortRelevance, k)
	var sigs [256]ranking.Signals
	for gi, sc := range scores {
		if len(h.e) == k && sc*maxBlend < h.e[0].v {
			// Every listing left scores below the page's worst, which is
			// after the cursor: they are all after it too.
			for _, rest := range scores[gi:] {
				h.remaining += len(groups[rest])
			}
			break
		}
		g := groups[sc]
		for lo := 0; lo < len(g); lo += len(sigs) {
			chunk := g[lo:min(lo+len(sigs), len(g))]
			// Read the rows first in a tight loop, so that their cache
			// misses overlap, then blend.
			for i, o := range chunk {
				r := &c.rows[o]
				sigs[i] = ranking.Signals{Text: sc, CreatedMs: r.created, Likes: int64(r.likes), Shares: int64(r.shares)}
				if r.shared != noTime {
					sigs[i].SharedMs = r.shared
				}
			}
			for i, o := range chunk {
				h.offer(entry{v: ranking.Relevance(sigs[i], nowMs), ord: o})
			}
		}
	}
	return h.result()
}

var bitsets sync.Pool // of *[]uint64, all zero

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

// topK returns the first k candidates after the cursor in sort order, and
// whether more remain after them.
func (c *columns) topK(cands func(yield func(uint32, float64)), after *query.Cursor, s query.Sort, k int) ([]entry, bool) {
	h := c.newPage(after, s, k)
	cands(func(o uint32, v float64) { h.offer(entry{v: v, ord: o}) })
	return h.result()
}
