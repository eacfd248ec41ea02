package elastic

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage/query"
)

// feedChunk is how many restricted ids one request of a feed walk checks.
const feedChunk = 512

// retrieveFeed answers a SortFeed retrieval. Elasticsearch cannot sort by
// keys it does not hold, so the order is assembled here from two sources:
// the ids, walked in their given (key) order in chunks, each chunk asking
// which of them match; and the included closets' listings, by listed_at
// from the cluster. A listing reachable both ways is taken from the source
// that gives its key (the larger), so that it comes once and always at the
// same place. Total and facets come from one request over the whole
// restriction.
func (b *Backend) retrieveFeed(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	head := *r
	head.N, head.Docs, head.Sort, head.After = 1, 0, query.SortNewest, nil
	out, err := b.retrieve(ctx, &head)
	if err != nil {
		return nil, err
	}
	rs := &r.Restrict
	idKey := make(map[string]int64, len(rs.IDs))
	for i, id := range rs.IDs {
		idKey[id] = rs.IDKeys[i]
	}
	included := func(seller string) bool { return slices.Contains(rs.Sellers, seller) }
	after := func(c *query.Candidate) bool {
		a := r.After
		return a == nil || c.Key < a.Key || (c.Key == a.Key && c.ID > a.ID)
	}
	want := r.N + 1

	// The ids, in key order, after the position.
	ids := rs.IDs
	if rs.MinKey != 0 {
		ids = idsFrom(rs, rs.MinKey)
	}
	var fromIDs []query.Candidate
	for lo := 0; lo < len(ids) && len(fromIDs) < want; lo += feedChunk {
		chunk := ids[lo:min(lo+feedChunk, len(ids))]
		if a := r.After; a != nil && idKey[chunk[len(chunk)-1]] > a.Key {
			continue // every id of the chunk comes before the position
		}
		part := *r
		part.Restrict = query.Restriction{Include: true, IDs: chunk, ExcludeSellers: rs.ExcludeSellers}
		part.Facets, part.Sort, part.After, part.N, part.Docs = nil, query.SortNewest, nil, len(chunk), 0
		got, err := b.retrieve(ctx, &part)
		if err != nil {
			return nil, err
		}
		matched := make(map[string]query.Candidate, len(got.Hits))
		for _, h := range got.Hits {
			matched[h.ID] = h
		}
		for _, id := range chunk {
			h, ok := matched[id]
			if !ok {
				continue
			}
			h.Key = idKey[id]
			if included(h.Seller) && h.ListedMs > h.Key {
				continue // its key is its listing's: the closets' source has it
			}
			if after(&h) {
				fromIDs = append(fromIDs, h)
			}
		}
	}

	// The included closets' listings, by listed_at, after the position.
	var fromSellers []query.Candidate
	if len(rs.Sellers) > 0 {
		part := *r
		part.Restrict = query.Restriction{Include: true, Sellers: rs.Sellers, ExcludeSellers: rs.ExcludeSellers}
		part.Facets, part.Sort, part.N, part.Docs = nil, query.SortNewest, want, 0
		if rs.MinKey != 0 {
			// SortFeed makes the restriction bound listed_at by MinKey;
			// without ids its order is listed_at's.
			part.Sort, part.Restrict.MinKey = query.SortFeed, rs.MinKey
		}
		for len(fromSellers) < want {
			body, ok := b.searchBody(&part)
			if !ok {
				break
			}
			body["sort"] = sortClauses(query.SortNewest)
			got, err := b.search(ctx, body, &part)
			if err != nil {
				return nil, err
			}
			for _, h := range got.Hits {
				h.Key = h.ListedMs
				if k, ok := idKey[h.ID]; ok && k > h.Key {
					continue // its key is a share's: the ids' source has it
				}
				fromSellers = append(fromSellers, h)
			}
			if !got.More || len(got.Hits) == 0 {
				break
			}
			last := got.Hits[len(got.Hits)-1]
			part.After = &query.Position{Key: last.ListedMs, ID: last.ID}
		}
	}

	all := append(fromIDs, fromSellers...)
	slices.SortFunc(all, func(a, b query.Candidate) int {
		if c := cmp.Compare(b.Key, a.Key); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(all) > r.N {
		all, out.More = all[:r.N], true
	} else {
		out.More = false
	}
	out.Hits = all
	if err := b.loadMissing(ctx, out, r.Docs); err != nil {
		return nil, err
	}
	return out, nil
}

// Drops lists the drops to come; see query.DropLister. One request: the
// available listings whose available_at is in (From, To], by exact instant
// with their brands.
func (b *Backend) Drops(ctx context.Context, r *query.DropsRequest) ([]query.DropInstant, error) {
	limit := r.BrandLimit
	if limit <= 0 {
		limit = 10
	}
	filter := []any{
		obj{"term": obj{"status": "available"}},
		obj{"range": obj{"available_at": obj{"gt": r.From.UnixMilli(), "lte": r.To.UnixMilli(), "format": "epoch_millis"}}},
	}
	q := obj{"bool": obj{"filter": filter}}
	if ex := termsChunks("seller_id", r.ExcludeSellers, b.cfg.MaxTermsCount); len(ex) > 0 {
		q["bool"].(obj)["must_not"] = ex
	}
	body := obj{
		"size": 0, "track_total_hits": false, "query": q,
		"aggs": obj{"drops": obj{
			"terms": obj{"field": "available_at", "size": maxDropInstants, "order": obj{"_key": "asc"}},
			"aggs":  obj{"brands": termsAgg(fieldBrandKeyword, limit)},
		}},
	}
	var res struct {
		Aggregations struct {
			Drops struct {
				Buckets []struct {
					Key      int64      `json:"key"`
					DocCount int        `json:"doc_count"`
					Brands   aggBuckets `json:"brands"`
				} `json:"buckets"`
			} `json:"drops"`
		} `json:"aggregations"`
	}
	if err := b.post(ctx, "drops in "+b.read, body, &res); err != nil {
		return nil, err
	}
	out := make([]query.DropInstant, 0, len(res.Aggregations.Drops.Buckets))
	for _, bk := range res.Aggregations.Drops.Buckets {
		brands, err := bucketValues("drops", query.FacetBrand, bk.Brands)
		if err != nil {
			return nil, err
		}
		out = append(out, query.DropInstant{At: time.UnixMilli(bk.Key).UTC(), Count: bk.DocCount, Brands: query.SortFacet(brands, limit)})
	}
	return out, nil
}

// maxDropInstants bounds the drop instants one answer lists.
const maxDropInstants = 1000

var _ query.DropLister = (*Backend)(nil)
