package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
)

type obj = map[string]any

// Boosts of the text query, as in the embedded backend: brand and title
// matter more than tags, tags more than description; a typo match scores
// half an exact one; an alias hit on the whole brand beats them all.
var (
	exactFields = []string{"brand^4", "title^3", "tags^2", "description"}
	fuzzyFields = []string{"brand^2", "title^1.5", "tags"}
)

const (
	boostAlias = 12.0
	// fuzziness as the embedded backend's: no edit below 4 runes, one up to
	// 7, two from 8.
	fuzziness = "AUTO:4,8"
)

// Search runs a validated request.
func (b *Backend) Search(ctx context.Context, req *query.Request) (*query.Result, error) {
	now := req.Instant()
	sb, ok := searchBody(req, now, b.cfg.Aliases)
	if !ok {
		return query.EmptyResult(req), nil
	}
	body, err := json.Marshal(sb)
	if err != nil {
		return nil, err
	}
	var res searchResponse
	op := "search " + b.read
	if _, err := b.do(ctx, op, esapi.SearchRequest{Index: []string{b.read}, Body: bytes.NewReader(body)}, &res); err != nil {
		return nil, err
	}
	return res.result(op, req, now)
}

// searchBody translates a request into a _search body. Filters on fields
// whose facet is asked for go into post_filter, so that each facet's
// aggregation can count with every filter but its own (disjunctive facets);
// the others go into the query, where they also narrow the aggregations.
//
// ok is false when q has words but none is searchable (only stop words or
// punctuation): such a query matches nothing, as in the embedded backend.
func searchBody(req *query.Request, now time.Time, aliases query.Aliases) (body obj, ok bool) {
	f := filterClauses(&req.Filters)
	post := map[query.Facet]obj{}
	var queryFilters []any
	queryFilters = append(queryFilters, visibility(now)...)
	for _, facet := range filterOrder {
		c, ok := f[facet]
		if !ok {
			continue
		}
		if req.WantsFacet(facet) && facet != query.FacetCategory {
			post[facet] = c
		} else {
			queryFilters = append(queryFilters, c)
		}
	}

	boolQ := obj{"filter": queryFilters}
	text := strings.TrimSpace(req.Query) != ""
	if text {
		m := textClauses(req.Query, aliases)
		if len(m) == 0 {
			return nil, false
		}
		boolQ["must"] = m
	}
	var q obj = obj{"bool": boolQ}
	sort := req.EffectiveSort()
	if sort == query.SortRelevance && text {
		q = relevance(q, now)
	}

	body = obj{
		"size":             req.EffectiveLimit() + 1, // one more tells whether a next page exists
		"track_total_hits": true,
		"query":            q,
		"sort":             sortClauses(sort, text),
	}
	if len(post) > 0 {
		body["post_filter"] = andFilters(post, "")
	}
	if aggs := aggregations(req, post, f); len(aggs) > 0 {
		body["aggs"] = aggs
	}
	if req.After != nil {
		body["search_after"] = searchAfter(req.After, text)
	}
	return body, true
}

// filterOrder fixes the order filters appear in, for stable request bodies.
var filterOrder = []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}

// filterClauses returns one clause per filtered field, keyed by the facet of
// that field.
func filterClauses(f *query.Filters) map[query.Facet]obj {
	out := map[query.Facet]obj{}
	terms := func(facet query.Facet, field string, vals []string) {
		if len(vals) > 0 {
			out[facet] = obj{"terms": obj{field: vals}}
		}
	}
	terms(query.FacetBrand, fieldBrandKeyword, f.Brands)
	terms(query.FacetSize, "size", f.Sizes)
	terms(query.FacetCondition, "condition", f.Conditions)
	terms(query.FacetColor, "colors", f.Colors)
	if len(f.Category) > 0 {
		out[query.FacetCategory] = obj{"term": obj{fieldCategoryPath: strings.Join(f.Category, "/")}}
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

// relevance wraps q in the blend of ranking.Relevance:
// text × (1 + FreshnessWeight·freshness + PopularityWeight·popularity), with
// freshness an exponential decay halving every FreshnessHalfLifeDays from
// fresh_at, and popularity log(1+engagement)/log(1+500) on the capped
// engagement. field_value_factor's log1p is log10(1+x), hence the weight.
func relevance(q obj, now time.Time) obj {
	popWeight := ranking.PopularityWeight / math.Log10(1+engagementCap)
	return obj{"function_score": obj{
		"query": q,
		"functions": []any{
			obj{"weight": 1},
			obj{"exp": obj{fieldFreshAt: obj{
				"origin": now.UTC().Format("2006-01-02T15:04:05.000Z"),
				"scale":  fmt.Sprintf("%gd", ranking.FreshnessHalfLifeDays),
				"decay":  0.5,
			}}, "weight": ranking.FreshnessWeight},
			obj{"field_value_factor": obj{"field": fieldEngagement, "modifier": "log1p", "missing": 0}, "weight": popWeight},
		},
		"score_mode": "sum",
		"boost_mode": "multiply",
	}}
}

// sortClauses: the sort key of each contract sort, then id ascending as the
// tiebreaker that makes search_after stable.
// Relevance without text is newest, as in the embedded backend.
func sortClauses(s query.Sort, text bool) []any {
	var key obj
	switch {
	case s == query.SortRelevance && text:
		key = obj{"_score": obj{"order": "desc"}}
	case s == query.SortNewest, s == query.SortRelevance:
		key = obj{"created_at": obj{"order": "desc"}} // sort values are Unix ms
	case s == query.SortPriceAsc:
		key = obj{"price_cents": obj{"order": "asc"}}
	case s == query.SortPriceDesc:
		key = obj{"price_cents": obj{"order": "desc"}}
	case s == query.SortRecentlyShared:
		key = obj{fieldSharedMs: obj{"order": "desc", "missing": 0}}
	}
	return []any{key, obj{"id": obj{"order": "asc"}}}
}

// searchAfter is the position of a cursor in sort-value form. A relevance
// cursor holds a score as float bits (for browsing, the created_at
// milliseconds as a float, like the embedded backend's).
func searchAfter(c *query.Cursor, text bool) []any {
	if c.Sort == query.SortRelevance {
		if text {
			return []any{query.KeyScore(c.Key), c.ID}
		}
		return []any{int64(query.KeyScore(c.Key)), c.ID}
	}
	return []any{c.Key, c.ID}
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
func aggregations(req *query.Request, post, all map[query.Facet]obj) obj {
	aggs := obj{}
	for _, facet := range req.Facets {
		var values obj
		switch facet {
		case query.FacetBrand:
			values = termsAgg(fieldBrandKeyword)
		case query.FacetSize:
			values = termsAgg("size")
		case query.FacetCondition:
			values = termsAgg("condition")
		case query.FacetColor:
			values = termsAgg("colors")
		case query.FacetCategory:
			// children of the selected path, or the roots; the category filter
			// itself is in the query (the children lie inside it anyway).
			depth := len(req.Filters.Category)
			if depth >= MaxCategoryDepth {
				continue
			}
			values = termsAgg(levelField(depth))
		case query.FacetPrice:
			ranges := make([]any, len(query.PriceBuckets))
			for i, pb := range query.PriceBuckets {
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
		aggs[aggName(facet)] = obj{
			"filter": andFilters(post, facet),
			"aggs":   obj{"values": values},
		}
	}
	return aggs
}

func termsAgg(field string) obj {
	return obj{"terms": obj{
		"field": field,
		"size":  query.MaxTermFacet,
		"order": []any{obj{"_count": "desc"}, obj{"_key": "asc"}},
	}}
}

func aggName(f query.Facet) string { return "facet_" + string(f) }

// searchResponse is the part of an Elasticsearch 8 search response Rummage
// reads.
type searchResponse struct {
	TimedOut bool `json:"timed_out"`
	Shards   struct {
		Total  int `json:"total"`
		Failed int `json:"failed"`
	} `json:"_shards"`
	Hits struct {
		Total struct {
			Value    int    `json:"value"`
			Relation string `json:"relation"`
		} `json:"total"`
		Hits []struct {
			ID     string            `json:"_id"`
			Source json.RawMessage   `json:"_source"`
			Sort   []json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations map[string]struct {
		Values struct {
			Buckets []struct {
				Key      json.RawMessage `json:"key"`
				DocCount int             `json:"doc_count"`
			} `json:"buckets"`
		} `json:"values"`
	} `json:"aggregations"`
}

// result maps the response to the same query.Result the embedded backend
// gives for req.
func (r *searchResponse) result(op string, req *query.Request, now time.Time) (*query.Result, error) {
	if r.TimedOut {
		return nil, fmt.Errorf("%s: elasticsearch timed out; the result would be partial", op)
	}
	if r.Shards.Failed > 0 {
		return nil, fmt.Errorf("%s: %d of %d shards failed; the result would be partial", op, r.Shards.Failed, r.Shards.Total)
	}
	if r.Hits.Total.Relation != "" && r.Hits.Total.Relation != "eq" {
		return nil, fmt.Errorf("%s: elasticsearch gave a lower bound on the total (relation %q)", op, r.Hits.Total.Relation)
	}
	limit := req.EffectiveLimit()
	out := &query.Result{Total: r.Hits.Total.Value, Hits: make([]query.Hit, 0, min(len(r.Hits.Hits), limit))}
	for i, h := range r.Hits.Hits {
		if i == limit {
			last := r.Hits.Hits[i-1]
			key, err := cursorKey(req.EffectiveSort(), strings.TrimSpace(req.Query) != "", last.Sort)
			if err != nil {
				return nil, fmt.Errorf("%s: hit %s: %w", op, last.ID, err)
			}
			out.NextCursor = req.NewCursor(now, key, out.Hits[i-1].ID)
			break
		}
		var l rummage.Listing
		if err := json.Unmarshal(h.Source, &l); err != nil {
			return nil, fmt.Errorf("%s: hit %s: %w", op, h.ID, err)
		}
		if l.ID == "" {
			l.ID = h.ID
		}
		out.Hits = append(out.Hits, l)
	}
	if len(req.Facets) > 0 {
		out.Facets = map[query.Facet][]query.FacetValue{}
	}
	for _, facet := range req.Facets {
		agg, ok := r.Aggregations[aggName(facet)]
		if !ok && facet != query.FacetCategory {
			return nil, fmt.Errorf("%s: the answer lacks the %s facet", op, facet)
		}
		if facet == query.FacetPrice {
			counts := make([]int, len(query.PriceBuckets))
			for _, bk := range agg.Values.Buckets {
				var key string
				_ = json.Unmarshal(bk.Key, &key)
				for i, pb := range query.PriceBuckets {
					if pb.Key == key {
						counts[i] = bk.DocCount
					}
				}
			}
			out.Facets[facet] = query.PriceFacet(counts)
			continue
		}
		vals := make([]query.FacetValue, 0, len(agg.Values.Buckets))
		for _, bk := range agg.Values.Buckets {
			var v string
			if err := json.Unmarshal(bk.Key, &v); err != nil {
				return nil, fmt.Errorf("%s: facet %s: bucket key %s is not a string", op, facet, bk.Key)
			}
			vals = append(vals, query.FacetValue{Value: v, Count: bk.DocCount})
		}
		out.Facets[facet] = vals
	}
	return out, nil
}

// cursorKey reads the cursor key from a hit's sort values: the score as
// float bits for relevance, the integer sort value otherwise.
func cursorKey(s query.Sort, text bool, sort []json.RawMessage) (int64, error) {
	if len(sort) != 2 {
		return 0, fmt.Errorf("want 2 sort values, got %d", len(sort))
	}
	if s == query.SortRelevance && text {
		f, err := strconv.ParseFloat(string(sort[0]), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("bad score sort value %s", sort[0])
		}
		return query.ScoreKey(f), nil
	}
	k, err := strconv.ParseInt(strings.Trim(string(sort[0]), `"`), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad sort value %s", sort[0])
	}
	if s == query.SortRelevance {
		return query.ScoreKey(float64(k)), nil
	}
	return k, nil
}
