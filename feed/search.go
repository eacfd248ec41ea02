package feed

import (
	"context"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
)

// DefaultRankedDepth is how deep a ranked order (relevance) pages by
// default: candidates beyond it are not reachable through the cursor,
// while Total stays exact. Key orders page to the end.
const DefaultRankedDepth = query.MaxCandidates

// SearchConfig configures the search surface.
type SearchConfig struct {
	// Cursors signs cursors; nil means a random key of this Search (its
	// cursors then mean nothing to another process).
	Cursors *Cursors
	// Aliases map brand shorthand in the brand filter ("brand=lulu") to the
	// brand, as text search does for words.
	Aliases query.Aliases
	// RankedDepth bounds how deep relevance pages; 0 means
	// DefaultRankedDepth, at most query.MaxCandidates.
	RankedDepth int
	// Exclude, when set, returns the closets a viewer (user, "" for an
	// anonymous one) must never see: suspended sellers and the closets
	// they blocked.
	Exclude func(ctx context.Context, user string) ([]string, error)
}

// Search is the search surface (/v1/search): one retrieval per page, the
// relevance blend as its first phase, and the cursor.
type Search struct {
	r   Retriever
	cfg SearchConfig
}

// NewSearch returns the search surface over r.
func NewSearch(r Retriever, cfg SearchConfig) *Search {
	if cfg.Cursors == nil {
		cfg.Cursors = NewRandomCursors()
	}
	if cfg.RankedDepth <= 0 || cfg.RankedDepth > query.MaxCandidates {
		cfg.RankedDepth = DefaultRankedDepth
	}
	return &Search{r: r, cfg: cfg}
}

// Search answers one page of a validated request (see
// query.Request.Validate). A bad cursor is a *query.InvalidError.
func (s *Search) Search(ctx context.Context, req *query.Request) (*Page, error) {
	fp := fingerprint(req)
	var cur *cursorState
	if req.Cursor != "" {
		var err error
		if cur, err = s.cfg.Cursors.decode(req.Cursor, surfaceSearch, fp, req.Now); err != nil {
			return nil, err
		}
	}
	now := s.instant(req, cur)
	r := SearchRetrieval(req, now, s.cfg.Aliases)
	served := 0
	if cur != nil {
		r.After = &query.Position{Key: cur.Key, Score: cur.Score, ID: cur.ID}
		served = cur.Served
	}
	ranked := r.EffectiveSort() == query.SortRelevance
	if ranked {
		r.Score = ranking.Blend{NowMs: now.UnixMilli()}
		r.N = min(r.N, s.cfg.RankedDepth-served)
	}
	if r.N <= 0 { // a forged-looking but validly signed end of walk
		r.N = 1
	}
	r.Docs = r.N
	if s.cfg.Exclude != nil {
		ex, err := s.cfg.Exclude(ctx, req.User)
		if err != nil {
			return nil, err
		}
		r.Restrict.ExcludeSellers = ex
	}
	cands, err := s.r.Retrieve(ctx, r)
	if err != nil {
		return nil, err
	}
	page := &Page{Total: cands.Total, Facets: cands.Facets, Hits: hits(cands.Hits, nil)}
	served += len(cands.Hits)
	if n := len(cands.Hits); n > 0 && cands.More && (!ranked || served < s.cfg.RankedDepth) {
		last := &cands.Hits[n-1]
		page.NextCursor = s.cfg.Cursors.encode(&cursorState{
			Surface: surfaceSearch, Sort: r.EffectiveSort(), At: now.UnixMilli(), Req: fp,
			Key: last.Key, Score: last.Score, ID: last.ID, Served: served,
		})
	}
	return page, nil
}

// instant is the instant a page is evaluated at: the cursor's, else the
// request's, else the clock (to the millisecond, as the cursor keeps it).
func (s *Search) instant(req *query.Request, cur *cursorState) time.Time {
	switch {
	case cur != nil:
		return time.UnixMilli(cur.At).UTC()
	case !req.Now.IsZero():
		return req.Now
	}
	return time.UnixMilli(s.cfg.Cursors.Now().UnixMilli()).UTC()
}

// SearchRetrieval is the retrieval of the first page of req evaluated at
// now, brand aliases resolved, without the ranking phase and documents the
// search surface adds.
func SearchRetrieval(req *query.Request, now time.Time, aliases query.Aliases) *query.Retrieval {
	f := req.Filters
	f.Brands = withAliases(f.Brands, aliases)
	return &query.Retrieval{
		Query: req.Query, Filters: f, Facets: req.Facets, FacetLimit: req.FacetLimit,
		Now: now, Sort: req.EffectiveSort(), N: req.EffectiveLimit(),
	}
}

// withAliases adds the brand each alias value stands for: OR within a
// field makes "brand=lulu" the same as "brand=Lululemon".
func withAliases(brands []string, aliases query.Aliases) []string {
	var out []string
	for _, b := range brands {
		if canon, ok := aliases.Lookup(b); ok {
			if out == nil {
				out = append(make([]string, 0, len(brands)+1), brands...)
			}
			out = append(out, canon)
		}
	}
	if out == nil {
		return brands
	}
	return out
}
