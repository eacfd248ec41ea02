package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage"
)

// Retrieval asks a backend which listings match, with the signals ranking
// needs: the first phase of a two-phase ranking (Vespa's first-phase, an
// Elasticsearch query before its rescore). The discovery layer above turns
// the candidates into pages: it owns the cursor, the page size and any
// second-phase re-ranking.
type Retrieval struct {
	Query   string  // free text; empty means browse
	Filters Filters // as in Request; values match case-insensitively
	// Scope, when set, is a base restriction in the shape of a search (a
	// party's theme): every candidate matches it, and facets count over it
	// without treating its filters as disjunctive.
	Scope *Scope
	// Restrict narrows the result further (feeds: followed closets, a
	// party's listings, viewer exclusions). Facets are counted over the
	// restricted set.
	Restrict Restriction
	Facets   []Facet
	// FacetLimit bounds the values of each terms facet, by count desc; 0
	// means DefaultFacetLimit. Selected filter values always appear in their
	// facet, beyond the limit if need be.
	FacetLimit int
	// Now is the instant visibility (status, drops) is evaluated at. The
	// discovery layer pins it for every page of a walk; required.
	Now time.Time
	// Sort is the order of the candidates. SortRelevance with a Query
	// orders by Score (below) and then id; SortRelevance without a Query
	// is SortNewest. Key orders are served from the backend's own sort
	// structures; ties are broken by id ascending. SortFeed orders by the
	// restriction's keys (see Restriction).
	Sort Sort
	// Score is the first-phase scorer for SortRelevance with a Query; nil
	// means the text score alone.
	Score Scorer
	// After, when set, starts the candidates strictly after this position
	// in Sort order (keyset paging).
	After *Position
	// N is the number of candidates wanted, 1..MaxCandidates.
	N int
	// Docs asks for the documents of the first Docs candidates
	// (Candidate.Doc), when the order is final and only they will be
	// shown. 0 loads none; callers then use Loader.Load for what they show.
	Docs int
}

// Restriction is (seller ∈ Sellers) ∪ (id ∈ IDs), minus the listings of
// ExcludeSellers. With Include false only the exclusion applies.
//
// For SortFeed each included listing has a key: IDKeys[i] for IDs[i] (a
// share time, in Unix ms), listed_at (Unix ms) for a listing included by
// its seller, the larger when both; candidates are ordered by key desc,
// then id asc, and those whose key is below MinKey are not in the result
// at all (nor in Total or the facets). With SortFeed, IDKeys has one key
// per id and IDs, each given once, are ordered by key desc, then id asc,
// unless Unordered says they are in no order (a following feed's shares:
// the backend keys every candidate of sellers and ids alike anyway, and
// ordering tens of thousands of shares only to hand them over was most of
// such a feed's cost).
//
// The slices are read-only once passed: a backend may keep them, and
// recognize the same slices passed again (the embedded index caches what
// it resolved a long list of ids to).
type Restriction struct {
	Include        bool
	Sellers        []string
	IDs            []string // up to MaxRestrictIDs
	IDKeys         []int64
	Unordered      bool
	MinKey         int64
	ExcludeSellers []string
}

// Scope is a base restriction in the shape of a search: text and filters
// every candidate must match (a party's theme).
type Scope struct {
	Query   string
	Filters Filters
}

// SortFeed orders a retrieval by its restriction's keys. It is not a sort a
// client asks for: the feed surfaces use it.
const SortFeed Sort = "feed"

// InKeyOrder returns r with its ids in key order (key desc, then id asc):
// r itself unless Unordered, else a copy with sorted copies of IDs and
// IDKeys (the caller's slices are read-only).
func (r Restriction) InKeyOrder() Restriction {
	if !r.Unordered {
		return r
	}
	order := make([]int, len(r.IDs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(r.IDKeys[b], r.IDKeys[a]); c != 0 {
			return c
		}
		return strings.Compare(r.IDs[a], r.IDs[b])
	})
	ids, keys := make([]string, len(order)), make([]int64, len(order))
	for i, j := range order {
		ids[i], keys[i] = r.IDs[j], r.IDKeys[j]
	}
	r.IDs, r.IDKeys, r.Unordered = ids, keys, false
	return r
}

// Active reports whether r narrows anything.
func (r *Restriction) Active() bool { return r.Include || len(r.ExcludeSellers) > 0 }

// Limits of a retrieval.
const (
	MaxCandidates = 1000
	// MaxRestrictIDs bounds a restriction's ids: a busy party's shared
	// listings (DESIGN.md sizes one at ≥ 200k; a party of 5M shares at the
	// generator's shape reaches ~300k), with room to spare.
	MaxRestrictIDs = 1_000_000
)

// Position is a place in a candidate order: the sort key (Key for key
// orders: price in cents, or a time in Unix ms, 0 for never shared) or the
// first-phase Score (relevance), and the id that breaks ties.
type Position struct {
	Key   int64
	Score float64
	ID    string
}

// Signals are what ranking knows of one candidate, read from the backend's
// columns (no document is loaded to rank).
type Signals struct {
	Text       float64 // text relevance, > 0 with a query; 0 when browsing
	CreatedMs  int64   // created_at, Unix ms
	ListedMs   int64   // max(created_at, available_at): when shoppers first saw it
	SharedMs   int64   // last_shared_at, Unix ms; 0 if never shared
	Likes      int64
	Shares     int64
	Seller     string
	Brand      string
	Size       string
	Category   string // path joined by "/"
	PriceCents int64
}

// Scorer is the first ranking phase, run by retrieval over every text match
// so that the candidates it hands up are the best by this score. Score must
// be pure: the same signals give the same score, and it must not read
// Signals.Seller (backends may leave it empty until they build the
// candidates they return). Bound returns an upper
// bound of Score over every candidate whose text score is text, and must be
// non-decreasing in text: retrieval visits text scores best first and stops
// once no remaining candidate can enter the top N.
type Scorer interface {
	Score(s *Signals) float64
	Bound(text float64) float64
}

// Candidate is one listing a retrieval returns.
type Candidate struct {
	ID    string
	Score float64 // first-phase score (SortRelevance with a Query)
	Key   int64   // the sort key in key orders, as in Position
	Signals
	Doc *rummage.Listing // set for the first Retrieval.Docs candidates
}

// Position returns the candidate's place in its order.
func (c *Candidate) Position() Position { return Position{Key: c.Key, Score: c.Score, ID: c.ID} }

// Candidates answer a Retrieval.
type Candidates struct {
	Total  int         // every listing that matches, exact
	Hits   []Candidate // the first N after the position, in order
	More   bool        // more candidates follow Hits in this order
	Facets map[Facet][]FacetValue
}

// Retriever is the retrieval capability of a backend.
type Retriever interface {
	// Retrieve runs a validated retrieval (see Retrieval.Validate). It
	// honours ctx's deadline on every path. A *InvalidError is a request
	// the client must fix.
	Retrieve(ctx context.Context, r *Retrieval) (*Candidates, error)
}

// Loader loads the documents of candidates the discovery layer shows.
type Loader interface {
	// Load returns the listing of each id, in order, whatever its status;
	// nil for an id the backend does not hold (deleted meanwhile).
	Load(ctx context.Context, ids []string) ([]*rummage.Listing, error)
}

// Getter returns one listing.
type Getter interface {
	// Get returns one listing whatever its status, or ErrNotFound.
	Get(ctx context.Context, id string) (*rummage.Listing, error)
}

// Writer applies versioned changes.
type Writer interface {
	// Apply writes a batch. When it returns nil the batch is durable: a
	// crash afterwards loses none of it. A change whose version is below the
	// held version of its id (a delete's included) is skipped and counted as
	// stale; an equal version is applied (see Change). On error nothing may
	// be assumed about the batch, and the caller retries it whole (Apply is
	// idempotent thanks to versions).
	Apply(ctx context.Context, batch []Change) (ApplyStats, error)
}

// Counters are one listing's popularity counters (rummage.Listing's
// like_count, share_count and last_shared_at), absolute values derived by
// the indexer from the signals store: writing them twice is harmless.
type Counters struct {
	ID            string
	Likes, Shares int64
	LastSharedAt  *time.Time // nil: never shared
}

// CountersOf returns l's counters.
func CountersOf(l *rummage.Listing) Counters {
	return Counters{ID: l.ID, Likes: l.LikeCount, Shares: l.ShareCount, LastSharedAt: l.LastSharedAt}
}

// Set writes c onto l and reports whether that changed l.
func (c Counters) Set(l *rummage.Listing) bool {
	same := l.LikeCount == c.Likes && l.ShareCount == c.Shares &&
		(l.LastSharedAt == nil) == (c.LastSharedAt == nil) && (c.LastSharedAt == nil || l.LastSharedAt.Equal(*c.LastSharedAt))
	l.LikeCount, l.ShareCount, l.LastSharedAt = c.Likes, c.Shares, nil
	if c.LastSharedAt != nil {
		t := c.LastSharedAt.UTC()
		l.LastSharedAt = &t
	}
	return !same
}

// CounterWriter is the optional capability of a backend whose counters the
// indexer keeps (migration 0004 took them off the listing row): the
// listings' like and share counters live in the signals store, and the
// indexer writes them after each batch whose likes or shares are durable
// there.
type CounterWriter interface {
	// ApplyCounters sets the counters of the listings the backend holds,
	// leaving every other field and the listing's version as they are; an
	// id it does not hold (not seen yet, or deleted) is skipped: the
	// listing's upsert brings its counters when it comes. When it returns
	// nil the counters are durable; on error the caller retries.
	ApplyCounters(ctx context.Context, cs []Counters) error
}

// Stater describes an index.
type Stater interface {
	Stats(ctx context.Context) (Stats, error)
}

// Backend is a whole index: what cmd wires and what the conformance suite
// runs against. Consumers declare the part they use. Implementations must be
// safe for concurrent use.
type Backend interface {
	Retriever
	Loader
	Getter
	Writer
	Stater
}

// Validate checks a retrieval. Backends may assume a validated one.
func (r *Retrieval) Validate() error {
	probe := Request{Query: r.Query, Filters: r.Filters, Facets: r.Facets, FacetLimit: r.FacetLimit}
	if err := probe.Validate(); err != nil {
		return err
	}
	if r.Scope != nil {
		scope := Request{Query: r.Scope.Query, Filters: r.Scope.Filters}
		if err := scope.Validate(); err != nil {
			return err
		}
	}
	if r.Sort == SortFeed {
		if err := r.Restrict.validateKeys(); err != nil {
			return err
		}
	}
	switch {
	case r.Sort != "" && r.Sort != SortFeed && !validSort(r.Sort):
		return invalid("invalid_sort", "sort", "unknown sort %q", r.Sort)
	case r.N < 1 || r.N > MaxCandidates:
		return fmt.Errorf("query: retrieval of %d candidates; want 1..%d", r.N, MaxCandidates)
	case r.Docs < 0:
		return fmt.Errorf("query: retrieval Docs must be >= 0")
	case r.Now.IsZero():
		return fmt.Errorf("query: retrieval without an instant")
	case len(r.Restrict.IDs) > MaxRestrictIDs:
		return invalid("too_many_values", "ids", "at most %d ids in a restriction", MaxRestrictIDs)
	}
	return nil
}

// validateKeys checks the keys of a SortFeed restriction.
func (rs *Restriction) validateKeys() error {
	switch {
	case !rs.Include:
		return fmt.Errorf("query: SortFeed without an included set")
	case len(rs.IDKeys) != len(rs.IDs):
		return fmt.Errorf("query: %d keys for %d ids", len(rs.IDKeys), len(rs.IDs))
	case rs.Unordered:
		return nil // each id once is the caller's promise: checking it would cost a set
	}
	for i := 1; i < len(rs.IDs); i++ {
		if k, p := rs.IDKeys[i], rs.IDKeys[i-1]; k > p || (k == p && rs.IDs[i] <= rs.IDs[i-1]) {
			return fmt.Errorf("query: SortFeed ids are not ordered by key desc, id asc at %d (%s)", i, rs.IDs[i])
		}
	}
	return nil
}

// EffectiveSort is the sort after defaults: relevance with a query, newest
// without; relevance without a query is newest.
func (r *Retrieval) EffectiveSort() Sort {
	s := r.Sort
	if s == "" {
		s = SortRelevance
	}
	if s == SortRelevance && !hasText(r.Query) {
		return SortNewest
	}
	return s
}

// EffectiveFacetLimit is the facet size after defaults.
func (r *Retrieval) EffectiveFacetLimit() int {
	if r.FacetLimit == 0 {
		return DefaultFacetLimit
	}
	return r.FacetLimit
}

// WantsFacet reports whether facet f was asked for.
func (r *Retrieval) WantsFacet(f Facet) bool { return slices.Contains(r.Facets, f) }

// DropInstant is one scheduled drop: the listings that become visible at
// one instant, counted, and their brands. It never names a listing.
type DropInstant struct {
	At     time.Time    `json:"at"`
	Count  int          `json:"count"`
	Brands []FacetValue `json:"brands"`
}

// DropLister is the optional capability of listing the drops to come.
type DropLister interface {
	// Drops returns the instants in (From, To] at which available
	// listings (not of ExcludeSellers) become visible, soonest first, each
	// with its count and brands (by count desc, at most BrandLimit).
	Drops(ctx context.Context, r *DropsRequest) ([]DropInstant, error)
}

// DropsRequest asks for the drops in (From, To].
type DropsRequest struct {
	From, To       time.Time
	ExcludeSellers []string
	BrandLimit     int // 0 means 10
}

// TextScorer is the Scorer that orders by the text score alone.
type TextScorer struct{}

// Score implements Scorer.
func (TextScorer) Score(s *Signals) float64 { return s.Text }

// Bound implements Scorer.
func (TextScorer) Bound(text float64) float64 { return text }
