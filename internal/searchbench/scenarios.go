package searchbench

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
)

// benchFacets are the five facets every scenario asks for. Color is the
// sixth facet of the contract and is left out: the targets are for
// five facets, and brand, category, size, condition and price are the ones
// a resale shopper sees first (price is the costliest for Bleve).
var benchFacets = []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetPrice}

func facetNames(fs []query.Facet) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// Text queries of two words. Each matches a few thousand to tens of
// thousands of listings at 1M (hit counts are in the report); the last is
// a brand typo, answered through fuzzy matching.
var textQueries = []string{
	"black dress",
	"nike sneakers",
	"leather jacket",
	"floral dress",
	"white sneakers",
	"vintage denim",
	"lululemom leggings",
}

// Browse shares aimed at, in visible hits per listing: ~10k and ~200k
// visible hits at 1M listings. About 88.5% of generated listings are
// visible (fixtures.CategoryNear).
const (
	visibleShare = 0.885
	smallHits    = 10000.0 / 1e6
	bigHits      = 200000.0 / 1e6
)

// Targets of issue 2 at 1M listings.
const (
	textP99Max     = 10 * time.Millisecond
	textMinRatio   = 20
	browseP99Max   = 20 * time.Millisecond
	matchAllP99Max = 50 * time.Millisecond
	// MinBuildRate is the build target in listings per second.
	MinBuildRate = 10000
	// MaxServeRSS is the memory target of serve at 1M listings.
	MaxServeRSS = 1536 << 20
	// TargetListings is the catalog size the targets are set for.
	TargetListings = 1000000
)

type variant struct {
	label string
	req   *query.Request
	hits  int // Rummage's total
}

type scenario struct {
	name, desc string
	target     Target
	variants   []variant
}

func (s *scenario) hitRange() (lo, hi int) {
	lo, hi = math.MaxInt, 0
	for _, v := range s.variants {
		lo, hi = min(lo, v.hits), max(hi, v.hits)
	}
	return lo, hi
}

// scenarios builds the fixed mix. Filters of the text+filters scenario and
// the cursors of later pages come from Rummage's answers to earlier
// requests (brand and size: the most frequent among the text hits), so
// that every variant has hits whatever the catalog size.
func scenarios(ctx context.Context, x *feed.Search, now time.Time) ([]scenario, error) {
	req := func(r query.Request) *query.Request {
		r.Now = now
		r.Facets = benchFacets
		return &r
	}
	var out []scenario

	text := scenario{name: "text", desc: "2-word text query, relevance, 5 facets",
		target: Target{Name: "text + 5 facets", P99Max: textP99Max, MinRatioP50: textMinRatio}}
	for _, q := range textQueries {
		text.variants = append(text.variants, variant{label: q, req: req(query.Request{Query: q})})
	}
	out = append(out, text)

	filtered := scenario{name: "text_filters", desc: "text + brand + size + price 25-100 USD, 5 facets",
		target: Target{Name: "text + 5 facets", P99Max: textP99Max, MinRatioP50: textMinRatio}}
	for _, q := range textQueries[:4] {
		r, err := x.Search(ctx, req(query.Request{Query: q, Limit: 1}))
		if err != nil {
			return nil, err
		}
		brand, size := topValue(r.Facets[query.FacetBrand]), topValue(r.Facets[query.FacetSize])
		lo, hi := int64(2500), int64(10000)
		f := query.Filters{PriceMin: &lo, PriceMax: &hi}
		label := q
		if brand != "" {
			f.Brands = []string{brand}
			label += " brand=" + brand
		}
		if size != "" {
			f.Sizes = []string{size}
			label += " size=" + size
		}
		filtered.variants = append(filtered.variants, variant{label: label + " price=2500-10000",
			req: req(query.Request{Query: q, Filters: f})})
	}
	out = append(out, filtered)

	small, err := categoriesNear(smallHits/visibleShare, 4)
	if err != nil {
		return nil, err
	}
	cat10k := scenario{name: "category_10k", desc: "category browse (~10k hits at 1M), newest, 5 facets",
		target: Target{Name: "category browse + 5 facets", P99Max: browseP99Max}}
	for _, p := range small {
		cat10k.variants = append(cat10k.variants, variant{label: strings.Join(p, "/"),
			req: req(query.Request{Filters: query.Filters{Category: p}})})
	}
	out = append(out, cat10k)

	big, _, err := fixtures.CategoryNear(bigHits / visibleShare)
	if err != nil {
		return nil, err
	}
	bigReq := func(s query.Sort) *query.Request {
		return req(query.Request{Sort: s, Filters: query.Filters{Category: big}})
	}
	pagesOf := func(r *query.Request, n int) ([]variant, error) {
		vs, err := pages(ctx, x, r, n)
		for i := range vs {
			vs[i].label = fmt.Sprintf("%s page %d", strings.Join(r.Filters.Category, "/"), i+1)
			if len(r.Filters.Category) == 0 {
				vs[i].label = fmt.Sprintf("all page %d", i+1)
			}
		}
		return vs, err
	}
	cat200k := scenario{name: "category_200k", desc: "category browse (~200k hits at 1M), newest, pages 1-3, 5 facets",
		target: Target{Name: "category browse + 5 facets", P99Max: browseP99Max}}
	if cat200k.variants, err = pagesOf(bigReq(""), 3); err != nil {
		return nil, err
	}
	out = append(out, cat200k)

	all := scenario{name: "match_all", desc: "match-all browse, newest, pages 1-3, 5 facets",
		target: Target{Name: "match-all + 5 facets", P99Max: matchAllP99Max}}
	if all.variants, err = pagesOf(req(query.Request{}), 3); err != nil {
		return nil, err
	}
	out = append(out, all)

	for _, s := range []query.Sort{query.SortNewest, query.SortPriceAsc, query.SortPriceDesc, query.SortRecentlyShared, query.SortRelevance} {
		sc := scenario{name: "sort_" + string(s), desc: fmt.Sprintf("sort %s on the ~200k category browse, pages 1-2, 5 facets", s),
			target: Target{Name: "category browse + 5 facets", P99Max: browseP99Max}}
		if sc.variants, err = pagesOf(bigReq(s), 2); err != nil {
			return nil, err
		}
		out = append(out, sc)
	}

	for i := range out {
		for j := range out[i].variants {
			v := &out[i].variants[j]
			if err := v.req.Validate(); err != nil {
				return nil, fmt.Errorf("searchbench: %s %q: %w", out[i].name, v.label, err)
			}
			if v.hits == 0 {
				r, err := x.Search(ctx, v.req)
				if err != nil {
					return nil, err
				}
				v.hits = r.Total
			}
		}
	}
	return out, nil
}

// pages returns the first n pages of r (fewer when the browse ends), each
// a variant with its cursor.
func pages(ctx context.Context, x *feed.Search, r *query.Request, n int) ([]variant, error) {
	var out []variant
	cur := r
	for len(out) < n {
		res, err := x.Search(ctx, cur)
		if err != nil {
			return nil, err
		}
		out = append(out, variant{req: cur, hits: res.Total})
		if res.NextCursor == "" {
			break
		}
		nr := *r
		nr.Cursor = res.NextCursor
		cur = &nr
	}
	return out, nil
}

// categoriesNear returns the n category nodes whose expected share is
// closest to share on a log scale.
func categoriesNear(share float64, n int) ([][]string, error) {
	all, err := fixtures.CategoryShares()
	if err != nil {
		return nil, err
	}
	dist := func(s fixtures.CategoryShare) float64 { return math.Abs(math.Log(s.Share / share)) }
	slices.SortStableFunc(all, func(a, b fixtures.CategoryShare) int { return cmp.Compare(dist(a), dist(b)) })
	out := make([][]string, 0, n)
	for _, s := range all[:min(n, len(all))] {
		out = append(out, s.Path)
	}
	return out, nil
}

func topValue(vs []query.FacetValue) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0].Value
}

// apiPath is the GET /v1/search request equivalent to r, or "" for a page
// after the first (cursors carry the instant of their first page, and serve
// evaluates at its own clock).
func apiPath(r *query.Request) string {
	if r.Cursor != "" {
		return ""
	}
	v := url.Values{}
	if r.Query != "" {
		v.Set("q", r.Query)
	}
	f := &r.Filters
	for _, b := range f.Brands {
		v.Add("brand", b)
	}
	for _, x := range f.Sizes {
		v.Add("size", x)
	}
	for _, x := range f.Conditions {
		v.Add("condition", x)
	}
	for _, x := range f.Colors {
		v.Add("color", x)
	}
	if len(f.Category) > 0 {
		v.Set("category", strings.Join(f.Category, "/"))
	}
	if f.PriceMin != nil {
		v.Set("price_min", strconv.FormatInt(*f.PriceMin, 10))
	}
	if f.PriceMax != nil {
		v.Set("price_max", strconv.FormatInt(*f.PriceMax, 10))
	}
	if r.Sort != "" {
		v.Set("sort", string(r.Sort))
	}
	if len(r.Facets) > 0 {
		v.Set("facets", strings.Join(facetNames(r.Facets), ","))
	}
	return "/v1/search?" + v.Encode()
}
