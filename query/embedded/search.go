package embedded

import (
	"context"
	"slices"
	"strings"

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
			fk = &feedKeys{sellers: sellers, unordered: rs.Unordered}
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
