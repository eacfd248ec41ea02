package embedded

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2"
	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/rummage/rummage/query"
)

// ErrNoBaseline is returned by SearchBleveFacets on an index built without
// Config.BaselineFacetFields.
var ErrNoBaseline = errors.New("embedded: index has no baseline facet fields (Config.BaselineFacetFields)")

// SearchBleveFacets runs req the way a plain Bleve application would: one
// bleve.SearchRequest whose query holds the text, the visibility rule and
// the filters, with Bleve's facet builder counting the requested facets
// (terms facets, and numeric ranges for price) and Bleve sorting by doc
// values. It is the baseline rummage bench search compares Search with, on
// the same documents. Its facets are not disjunctive (Bleve counts every
// facet over the filtered hits; making them disjunctive would take one more
// search per filtered facet, so the baseline errs in its own favour), its
// category facet counts every level below the filter, and cursors are
// ignored. Hits (req.N, documents for req.Docs of them) are read from the
// stored records as Retrieve does.
func (x *Index) SearchBleveFacets(ctx context.Context, req *query.Retrieval) (*query.Candidates, error) {
	if !x.baseline {
		return nil, ErrNoBaseline
	}
	instant := float64(req.Now.UnixMilli())
	must := []bq.Query{}
	if q := strings.TrimSpace(req.Query); q != "" {
		x.mu.RLock()
		tq, ok := x.bleveQuery(q, x.snap)
		x.mu.RUnlock()
		if !ok {
			return query.EmptyCandidates(req), nil
		}
		must = append(must, tq)
	}
	term := func(field, v string) bq.Query {
		t := bq.NewTermQuery(v)
		t.SetField(field)
		return t
	}
	any := func(field string, vals []string) {
		if len(vals) == 0 {
			return
		}
		qs := make([]bq.Query, len(vals))
		for i, v := range vals {
			qs[i] = term(field, v)
		}
		must = append(must, bq.NewDisjunctionQuery(qs))
	}
	must = append(must, term(fbStatus, "available"))
	f := &req.Filters
	any(fbBrand, f.Brands)
	any(fbSize, f.Sizes)
	any(fbCondition, f.Conditions)
	any(fbColor, f.Colors)
	if len(f.Category) > 0 {
		must = append(must, term(fbCategory, strings.Join(f.Category, "/")))
	}
	if f.PriceMin != nil || f.PriceMax != nil {
		var lo, hi *float64
		if f.PriceMin != nil {
			v := float64(*f.PriceMin)
			lo = &v
		}
		if f.PriceMax != nil {
			v := float64(*f.PriceMax)
			hi = &v
		}
		yes := true
		r := bq.NewNumericRangeInclusiveQuery(lo, hi, &yes, &yes)
		r.SetField(fbPrice)
		must = append(must, r)
	}
	no := false
	future := bq.NewNumericRangeInclusiveQuery(&instant, nil, &no, nil)
	future.SetField(fbAvail)
	bool := bq.NewBooleanQuery(must, nil, []bq.Query{future})

	sr := bleve.NewSearchRequestOptions(bool, req.N, 0, false)
	switch req.EffectiveSort() {
	case query.SortRelevance:
		sr.SortBy([]string{"-_score", "_id"})
	case query.SortNewest:
		sr.SortBy([]string{"-" + fbCreated, "_id"})
	case query.SortPriceAsc:
		sr.SortBy([]string{fbPrice, "_id"})
	case query.SortPriceDesc:
		sr.SortBy([]string{"-" + fbPrice, "_id"})
	case query.SortRecentlyShared:
		sr.SortBy([]string{"-" + fbShared, "_id"})
	}
	fields := map[query.Facet]string{
		query.FacetBrand: fbBrand, query.FacetSize: fbSize, query.FacetCondition: fbCondition,
		query.FacetColor: fbColor, query.FacetCategory: fbCategory,
	}
	for _, fc := range req.Facets {
		if fc == query.FacetPrice {
			fr := bleve.NewFacetRequest(fbPrice, query.NumPriceBuckets)
			for _, b := range query.PriceBuckets() {
				lo := float64(b.From)
				var hi *float64
				if b.To != 0 {
					v := float64(b.To)
					hi = &v
				}
				fr.AddNumericRange(b.Key, &lo, hi)
			}
			sr.AddFacet(string(fc), fr)
			continue
		}
		sr.AddFacet(string(fc), bleve.NewFacetRequest(fields[fc], req.EffectiveFacetLimit()))
	}
	res, err := x.bi.SearchInContext(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("embedded: baseline search: %w", err)
	}
	out := &query.Candidates{Total: int(res.Total), Facets: map[query.Facet][]query.FacetValue{}}
	for _, fc := range req.Facets {
		fr := res.Facets[string(fc)]
		if fr == nil {
			continue
		}
		if fc == query.FacetPrice {
			counts := make([]int, query.NumPriceBuckets)
			for _, r := range fr.NumericRanges {
				for i, b := range query.PriceBuckets() {
					if b.Key == r.Name {
						counts[i] = r.Count
					}
				}
			}
			out.Facets[fc] = query.PriceFacet(counts)
			continue
		}
		vals := []query.FacetValue{}
		for _, t := range fr.Terms.Terms() {
			vals = append(vals, query.FacetValue{Value: t.Term, Count: t.Count})
		}
		out.Facets[fc] = vals
	}
	out.Hits = make([]query.Candidate, len(res.Hits))
	for i, h := range res.Hits {
		out.Hits[i].ID = h.ID
	}
	n := min(req.Docs, len(res.Hits))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = res.Hits[i].ID
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	docs, err := x.loadDocs(x.snap, ids)
	if err != nil {
		return nil, err
	}
	for i := range docs {
		out.Hits[i].Doc = &docs[i]
	}
	return out, nil
}
