package elastic

import (
	"strings"
	"time"
	"unicode"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// The _search request: a retrieval as a query, post_filter, sort and
// aggregations.

// searchBody translates a retrieval into a _search body. Filters on fields
// whose facet is asked for go into post_filter, so that each facet's
// aggregation can count with every filter but its own (disjunctive facets);
// the others, the visibility rule and the restriction go into the query,
// where they also narrow the aggregations.
//
// A q whose words are all unsearchable (only stop words or punctuation)
// matches nothing, as in the embedded backend: ok is false, and the answer
// needs no request, unless a filtered field's facet is asked for — its
// selected values still appear (with their zero counts), which takes the
// cluster's spelling of them, so the query is sent as match_none.
func (b *Backend) searchBody(r *query.Retrieval) (body obj, ok bool) {
	f := filterClauses(&r.Filters)
	post := map[query.Facet]obj{}
	var queryFilters []any
	queryFilters = append(queryFilters, visibility(r.Now)...)
	queryFilters = append(queryFilters, restriction(&r.Restrict, r.EffectiveSort() == query.SortFeed, b.cfg.MaxTermsCount)...)
	var scopeText []any
	if sc := r.Scope; sc != nil {
		for _, facet := range filterOrder {
			if c, ok := filterClauses(&sc.Filters)[facet]; ok {
				queryFilters = append(queryFilters, c)
			}
		}
		if strings.TrimSpace(sc.Query) != "" {
			if scopeText = textClauses(sc.Query, b.cfg.Aliases); len(scopeText) == 0 {
				scopeText = []any{obj{"match_none": obj{}}}
			}
		}
	}
	for _, facet := range filterOrder {
		c, ok := f[facet]
		if !ok {
			continue
		}
		if r.WantsFacet(facet) && facet != query.FacetCategory {
			post[facet] = c
		} else {
			queryFilters = append(queryFilters, c)
		}
	}

	boolQ := obj{"filter": queryFilters}
	text := strings.TrimSpace(r.Query) != ""
	if text {
		m := textClauses(r.Query, b.cfg.Aliases)
		if len(m) == 0 {
			if len(post) == 0 {
				return nil, false
			}
			m = []any{obj{"match_none": obj{}}}
		}
		boolQ["must"] = m
	}
	if len(scopeText) > 0 {
		must, _ := boolQ["must"].([]any)
		boolQ["must"] = append(must, scopeText...)
	}
	sort := r.EffectiveSort()
	size := r.N + 1 // one more tells whether more follow
	if ranked(r) {
		size = b.cfg.RelevanceWindow
	}
	body = obj{
		"size":             size,
		"track_total_hits": true,
		"query":            obj{"bool": boolQ},
		"sort":             sortClauses(sort),
	}
	if ranked(r) || r.Docs < r.N {
		body["_source"] = signalFields
	}
	if len(post) > 0 {
		body["post_filter"] = andFilters(post, "")
	}
	if aggs := aggregations(r, post); len(aggs) > 0 {
		body["aggs"] = aggs
	}
	if r.After != nil && !ranked(r) {
		body["search_after"] = []any{r.After.Key, r.After.ID}
	}
	return body, true
}

// restriction is the clauses of a restriction: (seller ∈ S) ∪ (id ∈ I) as
// a should of terms, minus the excluded sellers. A terms query takes at
// most index.max_terms_count values (65,536 by default), so long lists are
// split into several. For SortFeed with a MinKey, a closet's listings count
// from listed_at MinKey on, and ids whose key is below it are left out.
func restriction(rs *query.Restriction, feed bool, maxTerms int) []any {
	var out []any
	if rs.Include {
		sellers := termsChunks("seller_id", rs.Sellers, maxTerms)
		ids := rs.IDs
		if feed && rs.MinKey != 0 {
			ids = idsFrom(rs, rs.MinKey)
			for i, c := range sellers {
				sellers[i] = obj{"bool": obj{"filter": []any{c, obj{"range": obj{fieldListedAt: obj{"gte": rs.MinKey, "format": "epoch_millis"}}}}}}
			}
		}
		should := append(sellers, termsChunks("id", ids, maxTerms)...)
		if len(should) == 0 {
			should = []any{obj{"match_none": obj{}}}
		}
		out = append(out, obj{"bool": obj{"should": should, "minimum_should_match": 1}})
	}
	if ex := termsChunks("seller_id", rs.ExcludeSellers, maxTerms); len(ex) > 0 {
		out = append(out, obj{"bool": obj{"must_not": ex}})
	}
	return out
}

// idsFrom returns the ids of a SortFeed restriction whose key is at least
// min (they are ordered by key desc).
func idsFrom(rs *query.Restriction, min int64) []string {
	n := 0
	for n < len(rs.IDKeys) && rs.IDKeys[n] >= min {
		n++
	}
	return rs.IDs[:n]
}

// termsChunks is one terms clause per chunk of at most max values.
func termsChunks(field string, vals []string, max int) []any {
	var out []any
	for lo := 0; lo < len(vals); lo += max {
		out = append(out, obj{"terms": obj{field: vals[lo:min(lo+max, len(vals))]}})
	}
	return out
}

// filterOrder fixes the order filters appear in, for stable request bodies.
var filterOrder = []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}

// filterClauses returns one clause per filtered field, keyed by the facet of
// that field. Values match case-insensitively (a term query per value with
// case_insensitive; a terms query has no such option); conditions are
// lower-case codes.
func filterClauses(f *query.Filters) map[query.Facet]obj {
	out := map[query.Facet]obj{}
	anyOf := func(facet query.Facet, field string, vals []string) {
		if len(vals) == 0 {
			return
		}
		should := make([]any, len(vals))
		for i, v := range vals {
			should[i] = obj{"term": obj{field: obj{"value": v, "case_insensitive": true}}}
		}
		if len(should) == 1 {
			out[facet] = should[0].(obj)
			return
		}
		out[facet] = obj{"bool": obj{"should": should, "minimum_should_match": 1}}
	}
	anyOf(query.FacetBrand, fieldBrandKeyword, f.Brands)
	anyOf(query.FacetSize, "size", f.Sizes)
	if len(f.Conditions) > 0 {
		conds := make([]string, len(f.Conditions))
		for i, c := range f.Conditions {
			conds[i] = strings.ToLower(c)
		}
		out[query.FacetCondition] = obj{"terms": obj{"condition": conds}}
	}
	anyOf(query.FacetColor, "colors", f.Colors)
	if len(f.Category) > 0 {
		out[query.FacetCategory] = obj{"term": obj{fieldCategoryPath: obj{"value": strings.Join(f.Category, "/"), "case_insensitive": true}}}
	}
	if f.PriceMin != nil || f.PriceMax != nil {
		r := obj{}
		if f.PriceMin != nil {
			r["gte"] = *f.PriceMin
		}
		if f.PriceMax != nil {
			r["lte"] = *f.PriceMax
		}
		out[query.FacetPrice] = obj{"range": obj{"price_cents": r}}
	}
	return out
}

// visibility keeps what a shopper may see at now: available listings whose
// drop (available_at) has started or that are no drop at all. It is a query
// clause, not a stored flag, so a drop appears at its instant with no write.
func visibility(now time.Time) []any {
	return []any{
		obj{"term": obj{"status": rummage.StatusAvailable}},
		obj{"bool": obj{"should": []any{
			obj{"range": obj{"available_at": obj{"lte": now.UnixMilli(), "format": "epoch_millis"}}},
			obj{"bool": obj{"must_not": []any{obj{"exists": obj{"field": "available_at"}}}}},
		}, "minimum_should_match": 1}},
	}
}

// textClauses mirrors the embedded backend's text query: every whitespace
// word of q must match, in brand, title, tags or description (stemmed), or
// with a typo in brand, title or tags; a run of up to query.MaxAliasWords
// words that is a brand alias may instead match that brand exactly. Stop
// words are dropped; nil means no word is searchable.
func textClauses(q string, aliases query.Aliases) []any {
	words := strings.Fields(strings.ToLower(q))
	var out []any
	for i := 0; i < len(words) && len(out) < maxWords; {
		n, brand := aliasAt(aliases, words[i:])
		if n > 0 {
			alias := obj{"term": obj{fieldBrandKeyword: obj{"value": brand, "case_insensitive": true, "boost": boostAlias}}}
			var sub []any
			for _, w := range words[i : i+n] {
				if c := wordClause(w); c != nil {
					sub = append(sub, c)
				}
			}
			if len(sub) == 0 {
				out = append(out, alias)
			} else {
				out = append(out, obj{"bool": obj{"should": []any{alias, conj(sub)}, "minimum_should_match": 1}})
			}
			i += n
			continue
		}
		if c := wordClause(words[i]); c != nil {
			out = append(out, c)
		}
		i++
	}
	return out
}

// maxWords bounds the clauses of one query (q is at most
// query.MaxQueryBytes long anyway).
const maxWords = 32

// aliasAt returns the number of leading words that form the longest alias,
// and its brand.
func aliasAt(aliases query.Aliases, words []string) (int, string) {
	for n := min(len(words), query.MaxAliasWords); n > 0; n-- {
		if b, ok := aliases[strings.Join(words[:n], " ")]; ok {
			return n, b
		}
	}
	return 0, ""
}

// wordClause matches one word exactly in any text field or with a typo in
// brand, title or tags; nil for a stop word or punctuation. Within a word
// that analyzes to several tokens ("a&f"), all must match (operator and).
func wordClause(w string) any {
	if !searchable(w) {
		return nil
	}
	return obj{"bool": obj{"should": []any{
		obj{"multi_match": obj{"query": w, "fields": exactFields, "operator": "and"}},
		obj{"multi_match": obj{"query": w, "fields": fuzzyFields, "operator": "and", "fuzziness": fuzziness, "boost": 0.5}},
	}, "minimum_should_match": 1}}
}

func conj(clauses []any) any {
	if len(clauses) == 1 {
		return clauses[0]
	}
	return obj{"bool": obj{"must": clauses}}
}

// searchable reports whether w has a token the analyzer keeps.
func searchable(w string) bool {
	for _, tok := range strings.FieldsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !englishStop[tok] {
			return true
		}
	}
	return false
}

// sortClauses: the sort key of each order, then id ascending as the
// tiebreaker that makes search_after stable. "newest" is listed_at
// (max(created_at, available_at)), so a drop lands at the top at its instant.
func sortClauses(s query.Sort) []any {
	var key obj
	switch s {
	case query.SortRelevance:
		key = obj{"_score": obj{"order": "desc"}}
	case query.SortPriceAsc:
		key = obj{"price_cents": obj{"order": "asc"}}
	case query.SortPriceDesc:
		key = obj{"price_cents": obj{"order": "desc"}}
	case query.SortRecentlyShared:
		key = obj{fieldSharedMs: obj{"order": "desc", "missing": 0}}
	default:
		key = obj{fieldListedAt: obj{"order": "desc"}} // sort values are Unix ms
	}
	return []any{key, obj{"id": obj{"order": "asc"}}}
}

// andFilters is the conjunction of the clauses, leaving out the one of
// facet except; match_all when nothing is left.
func andFilters(clauses map[query.Facet]obj, except query.Facet) obj {
	var list []any
	for _, f := range filterOrder {
		if c, ok := clauses[f]; ok && f != except {
			list = append(list, c)
		}
	}
	if len(list) == 0 {
		return obj{"match_all": obj{}}
	}
	return obj{"bool": obj{"filter": list}}
}

// aggregations: one filter aggregation per asked facet, filtered by the
// post_filter clauses of the other fields, wrapping the counting
// aggregation "values".
//
// A terms facet whose field is filtered also gets "selected": the filter's
// values (any case) whatever their rank, so that a ticked value never
// vanishes from its own facet.
func aggregations(req *query.Retrieval, post map[query.Facet]obj) obj {
	aggs := obj{}
	limit := req.EffectiveFacetLimit()
	for _, facet := range req.Facets {
		var values, selected obj
		switch facet {
		case query.FacetBrand:
			values, selected = termsAgg(fieldBrandKeyword, limit), selectedAgg(fieldBrandKeyword, req.Filters.Brands)
		case query.FacetSize:
			values, selected = termsAgg("size", limit), selectedAgg("size", req.Filters.Sizes)
		case query.FacetCondition:
			values, selected = termsAgg("condition", limit), selectedAgg("condition", req.Filters.Conditions)
		case query.FacetColor:
			values, selected = termsAgg("colors", limit), selectedAgg("colors", req.Filters.Colors)
		case query.FacetCategory:
			// children of the selected path, or the roots; the category filter
			// itself is in the query (the children lie inside it anyway).
			depth := len(req.Filters.Category)
			if depth >= MaxCategoryDepth {
				continue
			}
			values = termsAgg(levelField(depth), limit)
		case query.FacetPrice:
			ranges := make([]any, query.NumPriceBuckets)
			for i, pb := range query.PriceBuckets() {
				r := obj{"key": pb.Key, "from": pb.From}
				if pb.To != 0 {
					r["to"] = pb.To
				}
				ranges[i] = r
			}
			values = obj{"range": obj{"field": "price_cents", "ranges": ranges}}
		default:
			continue
		}
		sub := obj{"values": values}
		if selected != nil {
			sub["selected"] = selected
		}
		aggs[aggName(facet)] = obj{
			"filter": andFilters(post, facet),
			"aggs":   sub,
		}
	}
	return aggs
}

func termsAgg(field string, size int) obj {
	return obj{"terms": obj{
		"field": field,
		"size":  size,
		"order": []any{obj{"_count": "desc"}, obj{"_key": "asc"}},
	}}
}

// selectedAgg counts the filter values vals on field, matching any case
// (the include pattern spells each letter both ways); nil without values.
func selectedAgg(field string, vals []string) obj {
	if len(vals) == 0 {
		return nil
	}
	alts := make([]string, len(vals))
	for i, v := range vals {
		alts[i] = anyCase(v)
	}
	return obj{"terms": obj{"field": field, "size": 4 * len(vals), "include": strings.Join(alts, "|"), "min_doc_count": 0}}
}

// anyCase is a Lucene regular expression matching s in any letter case.
func anyCase(s string) string {
	var sb strings.Builder
	for _, r := range s {
		lo, up := unicode.ToLower(r), unicode.ToUpper(r)
		switch {
		case lo != up:
			sb.WriteString("[" + string(lo) + string(up) + "]")
		case strings.ContainsRune(`.?+*|{}[]()"\#@&<>~`, r):
			sb.WriteString(`\` + string(r))
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func aggName(f query.Facet) string { return "facet_" + string(f) }
