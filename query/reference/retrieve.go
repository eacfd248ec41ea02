package reference

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// Retrieve answers r by scanning every document held. See doc.go for the
// rules.
func (e *Engine) Retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	docs := e.docs()
	sortBy := r.EffectiveSort()

	var tq *textQuery
	searchable := true // false for a query of stop words and punctuation: it matches nothing
	if strings.TrimSpace(r.Query) != "" {
		tq, searchable = e.planText(r.Query, docs)
	}
	// A scope is a text query and filters every candidate must match.
	var scopeText *textQuery
	var scopeFilters *filters
	if sc := r.Scope; sc != nil {
		if strings.TrimSpace(sc.Query) != "" {
			var ok bool
			if scopeText, ok = e.planText(sc.Query, docs); !ok {
				searchable = false
			}
		}
		scopeFilters = newFilters(&sc.Filters)
	}
	feed := sortBy == query.SortFeed
	idKeys := map[string]int64{}
	if feed {
		for i, id := range r.Restrict.IDs {
			idKeys[id] = r.Restrict.IDKeys[i]
		}
	}
	feedKey := func(d *doc) (int64, bool) {
		k, ok := idKeys[d.l.ID]
		if slices.Contains(r.Restrict.Sellers, d.l.SellerID) && (!ok || d.listedMs > k) {
			k, ok = d.listedMs, true
		}
		return k, ok
	}
	// base: visible, restricted and matching the text; text scores by id.
	var base []*doc
	text := map[string]float64{}
	nowMs := r.Now.UnixMilli()
	for _, d := range docs {
		if !searchable || !visible(d, nowMs) || !restricted(d, &r.Restrict) {
			continue
		}
		if feed && r.Restrict.MinKey != 0 {
			if k, _ := feedKey(d); k < r.Restrict.MinKey {
				continue
			}
		}
		if scopeText != nil {
			if ok, _ := scopeText.match(d); !ok {
				continue
			}
		}
		if scopeFilters != nil && !scopeFilters.pass(d, "") {
			continue
		}
		if tq != nil {
			ok, score := tq.match(d)
			if !ok {
				continue
			}
			text[d.l.ID] = score
		}
		base = append(base, d)
	}
	f := newFilters(&r.Filters)
	var all []*doc
	for _, d := range base {
		if f.pass(d, "") {
			all = append(all, d)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &query.Candidates{Total: len(all), Hits: []query.Candidate{}}
	if len(r.Facets) > 0 {
		res.Facets = map[query.Facet][]query.FacetValue{}
		for _, fc := range r.Facets {
			res.Facets[fc] = e.facet(r, fc, base, f, docs)
		}
	}

	scorer := r.Score
	if scorer == nil {
		scorer = query.TextScorer{}
	}
	cands := make([]query.Candidate, len(all))
	for i, d := range all {
		c := &cands[i]
		c.ID = d.l.ID
		c.Signals = signals(d)
		if tq != nil {
			c.Text = text[d.l.ID]
		}
		switch {
		case sortBy == query.SortRelevance:
			c.Score = scorer.Score(&c.Signals)
		case feed:
			c.Key, _ = feedKey(d)
		default:
			c.Key = sortKey(sortBy, d)
		}
	}
	slices.SortFunc(cands, func(a, b query.Candidate) int { return compare(sortBy, a.Position(), b.Position()) })
	if r.After != nil {
		cands = slices.DeleteFunc(cands, func(c query.Candidate) bool { return compare(sortBy, c.Position(), *r.After) <= 0 })
	}
	res.More = len(cands) > r.N
	res.Hits = cands[:min(r.N, len(cands))]
	for i := range res.Hits[:min(r.Docs, len(res.Hits))] {
		res.Hits[i].Doc = clone(e.held[res.Hits[i].ID].doc.l)
	}
	return res, nil
}

func visible(d *doc, nowMs int64) bool {
	return d.l.Status == rummage.StatusAvailable && (!d.hasAvail || d.availMs <= nowMs)
}

func restricted(d *doc, rs *query.Restriction) bool {
	if rs.Include && !slices.Contains(rs.Sellers, d.l.SellerID) && !slices.Contains(rs.IDs, d.l.ID) {
		return false
	}
	return !slices.Contains(rs.ExcludeSellers, d.l.SellerID)
}

// sortKey is the Position key of d in a key order.
func sortKey(s query.Sort, d *doc) int64 {
	switch s {
	case query.SortPriceAsc, query.SortPriceDesc:
		return d.l.PriceCents
	case query.SortRecentlyShared:
		return d.sharedMs
	}
	return d.listedMs
}

// compare orders two positions in sort s: negative when a comes first.
func compare(s query.Sort, a, b query.Position) int {
	var c int
	switch s {
	case query.SortRelevance:
		c = cmp.Compare(b.Score, a.Score)
	case query.SortPriceAsc:
		c = cmp.Compare(a.Key, b.Key)
	case query.SortRecentlyShared:
		// Key 0 is never shared: after every shared listing.
		switch {
		case a.Key == 0 && b.Key != 0:
			c = 1
		case a.Key != 0 && b.Key == 0:
			c = -1
		default:
			c = cmp.Compare(b.Key, a.Key)
		}
	default: // newest, price_desc, feed
		c = cmp.Compare(b.Key, a.Key)
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func signals(d *doc) query.Signals {
	l := d.l
	return query.Signals{
		CreatedMs:  l.CreatedAt.UnixMilli(),
		ListedMs:   d.listedMs,
		SharedMs:   d.sharedMs,
		Likes:      l.LikeCount,
		Shares:     l.ShareCount,
		Seller:     l.SellerID,
		Brand:      l.Brand,
		Size:       l.Size,
		Category:   l.CategoryPath(),
		PriceCents: l.PriceCents,
	}
}

// filters are a request's filters, keyed by the facet of their field, with
// their values lower-cased.
type filters struct {
	values   map[query.Facet][]string // the terms fields and the category path; absent: not filtered
	min, max *int64
}

func newFilters(f *query.Filters) *filters {
	out := &filters{values: map[query.Facet][]string{}, min: f.PriceMin, max: f.PriceMax}
	for fc, vals := range map[query.Facet][]string{query.FacetBrand: f.Brands, query.FacetSize: f.Sizes, query.FacetCondition: f.Conditions, query.FacetColor: f.Colors} {
		for _, v := range vals {
			out.values[fc] = append(out.values[fc], strings.ToLower(v))
		}
	}
	if len(f.Category) > 0 {
		out.values[query.FacetCategory] = []string{strings.ToLower(strings.Join(f.Category, "/"))}
	}
	return out
}

// pass reports whether d passes every filter but the one of facet except
// ("": every filter).
func (f *filters) pass(d *doc, except query.Facet) bool {
	in := func(fc query.Facet, have ...string) bool {
		want, ok := f.values[fc]
		if fc == except || !ok {
			return true
		}
		for _, h := range have {
			if slices.Contains(want, h) {
				return true
			}
		}
		return false
	}
	if !in(query.FacetBrand, d.brandLower) || !in(query.FacetSize, d.sizeLower) || !in(query.FacetCondition, d.l.Condition) ||
		!in(query.FacetColor, d.colorsLower...) || !in(query.FacetCategory, d.pathsLower...) {
		return false
	}
	if except != query.FacetPrice {
		if p := d.l.PriceCents; (f.min != nil && p < *f.min) || (f.max != nil && p > *f.max) {
			return false
		}
	}
	return true
}

// facet counts facet fc over the documents of base that pass every filter
// but fc's own. held is every document held, for the spellings of the
// selected values.
func (e *Engine) facet(r *query.Retrieval, fc query.Facet, base []*doc, f *filters, held []*doc) []query.FacetValue {
	var set []*doc
	for _, d := range base {
		if f.pass(d, fc) {
			set = append(set, d)
		}
	}
	limit := r.EffectiveFacetLimit()
	switch fc {
	case query.FacetPrice:
		counts := make([]int, query.NumPriceBuckets)
		for _, d := range set {
			for i, b := range query.PriceBuckets() {
				if p := d.l.PriceCents; p >= b.From && (b.To == 0 || p < b.To) {
					counts[i]++
				}
			}
		}
		return query.PriceFacet(counts)
	case query.FacetCategory:
		return query.SortFacet(e.categoryFacet(r, set), limit)
	}
	// Terms: count each spelling as listed.
	values := func(l *rummage.Listing) []string {
		switch fc {
		case query.FacetBrand:
			return []string{l.Brand}
		case query.FacetSize:
			return []string{l.Size}
		case query.FacetCondition:
			return []string{l.Condition}
		}
		return l.Colors
	}
	counts := map[string]int{}
	for _, d := range set {
		for _, v := range uniq(values(d.l)) {
			if v != "" {
				counts[v]++
			}
		}
	}
	var vals []query.FacetValue
	for v, n := range counts {
		vals = append(vals, query.FacetValue{Value: v, Count: n})
	}
	// The selected values, in every spelling a held document uses.
	var spellings []string
	if want, ok := f.values[fc]; ok {
		for _, d := range held {
			for _, v := range values(d.l) {
				if v != "" && slices.Contains(want, strings.ToLower(v)) {
					spellings = append(spellings, v)
				}
			}
		}
		if fc == query.FacetCondition { // a condition needs no listing to exist
			for _, c := range rummage.Conditions() {
				if slices.Contains(want, c) {
					spellings = append(spellings, c)
				}
			}
		}
	}
	var selected []query.FacetValue
	for _, v := range uniq(spellings) {
		selected = append(selected, query.FacetValue{Value: v, Count: counts[v]})
	}
	return query.WithSelected(query.SortFacet(vals, limit), selected)
}

// categoryFacet counts the children of the selected category node over set,
// or the top-level nodes without a category filter. The selected node is
// the first-seen spelling of the filter's path.
func (e *Engine) categoryFacet(r *query.Retrieval, set []*doc) []query.FacetValue {
	depth, node := 0, ""
	if len(r.Filters.Category) > 0 {
		p, ok := e.firstPath[strings.ToLower(strings.Join(r.Filters.Category, "/"))]
		if !ok {
			return nil
		}
		depth, node = strings.Count(p, "/")+1, p
	}
	counts := map[string]int{}
	for _, d := range set {
		cat := d.l.Category
		if len(cat) > depth && strings.Join(cat[:depth], "/") == node {
			counts[strings.Join(cat[:depth+1], "/")]++
		}
	}
	var vals []query.FacetValue
	for v, n := range counts {
		vals = append(vals, query.FacetValue{Value: v, Count: n})
	}
	return vals
}

// uniq returns the distinct values of s, in first-seen order.
func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Drops lists the drops to come; see query.DropLister.
func (e *Engine) Drops(ctx context.Context, r *query.DropsRequest) ([]query.DropInstant, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	from, to := r.From.UnixMilli(), r.To.UnixMilli()
	counts := map[int64]int{}
	brands := map[int64]map[string]int{}
	for _, d := range e.docs() {
		if d.l.Status != rummage.StatusAvailable || !d.hasAvail || d.availMs <= from || d.availMs > to || slices.Contains(r.ExcludeSellers, d.l.SellerID) {
			continue
		}
		counts[d.availMs]++
		if brands[d.availMs] == nil {
			brands[d.availMs] = map[string]int{}
		}
		if d.l.Brand != "" {
			brands[d.availMs][d.l.Brand]++
		}
	}
	limit := r.BrandLimit
	if limit <= 0 {
		limit = 10
	}
	var out []query.DropInstant
	for ms, n := range counts {
		var vals []query.FacetValue
		for b, k := range brands[ms] {
			vals = append(vals, query.FacetValue{Value: b, Count: k})
		}
		out = append(out, query.DropInstant{At: time.UnixMilli(ms).UTC(), Count: n, Brands: query.SortFacet(vals, limit)})
	}
	slices.SortFunc(out, func(a, b query.DropInstant) int { return a.At.Compare(b.At) })
	return out, nil
}
