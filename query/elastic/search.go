package elastic

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/elastic/go-elasticsearch/v8/esapi"

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
		if r.Restrict.Unordered { // the feed walks the ids in key order
			ordered := *r
			ordered.Restrict = r.Restrict.InKeyOrder()
			r = &ordered
		}
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
