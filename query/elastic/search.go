package elastic

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
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
	// fuzziness is query.TypoEdits: no edit below 4 runes, one up to 7,
	// two from 8.
	fuzziness = "AUTO:4,8"
)

// Retrieve runs a validated retrieval. Key orders are pushed down
// (search_after on the sort key and id). Relevance with text fetches the
// best RelevanceWindow hits by Elasticsearch's text score with their
// signals, and the first-phase scorer runs over them in Go: ranking is not
// mirrored in a function_score, so both backends rank with the same code.
// Candidates below the window are not retrieved (the discovery layer pages
// ranked orders to query.MaxCandidates at most); Total stays exact.
func (b *Backend) Retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	if r.EffectiveSort() == query.SortFeed {
		return b.retrieveFeed(ctx, r)
	}
	return b.retrieve(ctx, r)
}

// retrieve is one _search: the candidates, total and facets of r.
func (b *Backend) retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	sb, ok := b.searchBody(r)
	if !ok {
		return query.EmptyCandidates(r), nil
	}
	out, err := b.search(ctx, sb, r)
	if err != nil {
		return nil, err
	}
	if err := b.loadMissing(ctx, out, r.Docs); err != nil {
		return nil, err
	}
	return out, nil
}

// search sends a _search body made for r and reads its candidates.
func (b *Backend) search(ctx context.Context, sb obj, r *query.Retrieval) (*query.Candidates, error) {
	var res searchResponse
	if err := b.post(ctx, "search "+b.read, sb, &res); err != nil {
		return nil, err
	}
	return res.candidates("search "+b.read, r)
}

// post sends a _search body on the read alias and decodes the answer.
func (b *Backend) post(ctx context.Context, op string, sb obj, out any) error {
	body, err := json.Marshal(sb)
	if err != nil {
		return err
	}
	_, err = b.do(ctx, op, esapi.SearchRequest{Index: []string{b.read}, Body: bytes.NewReader(body)}, out)
	return err
}

// signalFields are the _source fields a candidate's signals come from,
// fetched alone when the hits' documents are not all wanted.
var signalFields = []string{"seller_id", "brand", "size", "category", "price_cents", "created_at", "available_at", "last_shared_at", "like_count", "share_count"}

// ranked reports whether r is ordered by the first-phase score.
func ranked(r *query.Retrieval) bool { return r.EffectiveSort() == query.SortRelevance }

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
			Score  *float64          `json:"_score"`
			Source json.RawMessage   `json:"_source"`
			Sort   []json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations map[string]struct {
		Values   aggBuckets `json:"values"`
		Selected aggBuckets `json:"selected"`
	} `json:"aggregations"`
}

type aggBuckets struct {
	Buckets []struct {
		Key      json.RawMessage `json:"key"`
		DocCount int             `json:"doc_count"`
	} `json:"buckets"`
}

// candidates maps the response to the candidates the embedded backend
// gives for r: for relevance, the window scored by r.Score and cut after
// r.After; for key orders, the page as Elasticsearch sorted it.
func (r *searchResponse) candidates(op string, req *query.Retrieval) (*query.Candidates, error) {
	if r.TimedOut {
		return nil, fmt.Errorf("%s: elasticsearch timed out; the result would be partial", op)
	}
	if r.Shards.Failed > 0 {
		return nil, fmt.Errorf("%s: %d of %d shards failed; the result would be partial", op, r.Shards.Failed, r.Shards.Total)
	}
	if r.Hits.Total.Relation != "" && r.Hits.Total.Relation != "eq" {
		return nil, fmt.Errorf("%s: elasticsearch gave a lower bound on the total (relation %q)", op, r.Hits.Total.Relation)
	}
	out := &query.Candidates{Total: r.Hits.Total.Value}
	full := !ranked(req) && req.Docs >= req.N
	hits := make([]query.Candidate, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		var l rummage.Listing
		if err := json.Unmarshal(h.Source, &l); err != nil {
			return nil, fmt.Errorf("%s: hit %s: %w", op, h.ID, err)
		}
		if l.ID == "" {
			l.ID = h.ID
		}
		c := query.Candidate{ID: l.ID, Signals: signalsOf(&l)}
		if ranked(req) {
			if h.Score == nil {
				return nil, fmt.Errorf("%s: hit %s has no score", op, h.ID)
			}
			c.Text = *h.Score
		} else {
			key, err := sortKey(h.Sort)
			if err != nil {
				return nil, fmt.Errorf("%s: hit %s: %w", op, h.ID, err)
			}
			c.Key = key
		}
		if full {
			c.Doc = &l
		}
		hits = append(hits, c)
	}
	if ranked(req) {
		hits = rankWindow(hits, req)
	}
	if len(hits) > req.N {
		hits, out.More = hits[:req.N], true
	}
	for i := range hits {
		if i >= req.Docs {
			hits[i].Doc = nil
		}
	}
	out.Hits = hits
	if err := r.facets(op, req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// rankWindow scores the window with the first phase, orders it (score
// desc, id asc) and keeps what follows req.After.
func rankWindow(hits []query.Candidate, req *query.Retrieval) []query.Candidate {
	sc := req.Score
	if sc == nil {
		sc = query.TextScorer{}
	}
	for i := range hits {
		hits[i].Score = sc.Score(&hits[i].Signals)
	}
	slices.SortFunc(hits, func(a, b query.Candidate) int {
		if a.Score != b.Score {
			return cmp.Compare(b.Score, a.Score)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if a := req.After; a != nil {
		i := 0
		for i < len(hits) && (hits[i].Score > a.Score || (hits[i].Score == a.Score && hits[i].ID <= a.ID)) {
			i++
		}
		hits = hits[i:]
	}
	return hits
}

// signalsOf reads a candidate's signals from its (possibly partial) source.
func signalsOf(l *rummage.Listing) query.Signals {
	s := query.Signals{
		CreatedMs: l.CreatedAt.UnixMilli(), ListedMs: l.ListedAt().UnixMilli(),
		Likes: l.LikeCount, Shares: l.ShareCount,
		Seller: l.SellerID, Brand: l.Brand, Size: l.Size, Category: l.CategoryPath(), PriceCents: l.PriceCents,
	}
	if l.LastSharedAt != nil {
		s.SharedMs = l.LastSharedAt.UnixMilli()
	}
	return s
}

// facets reads the asked-for facets from the aggregations.
func (r *searchResponse) facets(op string, req *query.Retrieval, out *query.Candidates) error {
	if len(req.Facets) > 0 {
		out.Facets = map[query.Facet][]query.FacetValue{}
	}
	limit := req.EffectiveFacetLimit()
	for _, facet := range req.Facets {
		agg, ok := r.Aggregations[aggName(facet)]
		if !ok && facet != query.FacetCategory {
			return fmt.Errorf("%s: the answer lacks the %s facet", op, facet)
		}
		if facet == query.FacetPrice {
			counts := make([]int, query.NumPriceBuckets)
			for _, bk := range agg.Values.Buckets {
				var key string
				_ = json.Unmarshal(bk.Key, &key)
				for i, pb := range query.PriceBuckets() {
					if pb.Key == key {
						counts[i] = bk.DocCount
					}
				}
			}
			out.Facets[facet] = query.PriceFacet(counts)
			continue
		}
		vals, err := bucketValues(op, facet, agg.Values)
		if err != nil {
			return err
		}
		sel, err := bucketValues(op, facet, agg.Selected)
		if err != nil {
			return err
		}
		out.Facets[facet] = query.WithSelected(query.SortFacet(vals, limit), sel)
	}
	return nil
}

func bucketValues(op string, facet query.Facet, a aggBuckets) ([]query.FacetValue, error) {
	vals := make([]query.FacetValue, 0, len(a.Buckets))
	for _, bk := range a.Buckets {
		var v string
		if err := json.Unmarshal(bk.Key, &v); err != nil {
			return nil, fmt.Errorf("%s: facet %s: bucket key %s is not a string", op, facet, bk.Key)
		}
		vals = append(vals, query.FacetValue{Value: v, Count: bk.DocCount})
	}
	return vals, nil
}

// sortKey reads a key order's sort value from a hit's sort values.
func sortKey(sort []json.RawMessage) (int64, error) {
	if len(sort) != 2 {
		return 0, fmt.Errorf("want 2 sort values, got %d", len(sort))
	}
	k, err := strconv.ParseInt(strings.Trim(string(sort[0]), `"`), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad sort value %s", sort[0])
	}
	return k, nil
}

// loadMissing loads the documents of the first docs candidates that came
// without one (a ranked window fetches signal fields only).
func (b *Backend) loadMissing(ctx context.Context, c *query.Candidates, docs int) error {
	var ids []string
	var at []int
	for i := 0; i < min(docs, len(c.Hits)); i++ {
		if c.Hits[i].Doc == nil {
			ids = append(ids, c.Hits[i].ID)
			at = append(at, i)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ls, err := b.Load(ctx, ids)
	if err != nil {
		return err
	}
	for j, i := range at {
		c.Hits[i].Doc = ls[j]
	}
	return nil
}
