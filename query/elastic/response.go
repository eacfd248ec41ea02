package elastic

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// The _search response: hits into candidates, aggregations into facets.

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
