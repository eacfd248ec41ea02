package feed

import (
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// Retriever is what the surfaces need of a backend: candidates, and the
// documents of those they show.
type Retriever interface {
	query.Retriever
	query.Loader
}

// Hit is one listing of a page, with what a surface adds to it.
type Hit struct {
	rummage.Listing
	// PartySharedAt is the listing's latest share into the party (party
	// feed).
	PartySharedAt *time.Time `json:"party_shared_at,omitempty"`
	// FeedAt and FeedReason say why a listing is in a following or home
	// feed, and when.
	FeedAt     *time.Time `json:"feed_at,omitempty"`
	FeedReason *Reason    `json:"feed_reason,omitempty"`
}

// Reason is a feed_reason: an open enum (listed, shared, affinity,
// trending, fresh, more later) with the closet By or the Value it is about.
type Reason struct {
	Type  string `json:"type"`
	By    string `json:"by,omitempty"`
	Value string `json:"value,omitempty"`
}

// Reason types.
const (
	ReasonListed   = "listed"
	ReasonShared   = "shared"
	ReasonAffinity = "affinity"
	ReasonTrending = "trending"
	ReasonFresh    = "fresh"
)

// Page is one page of a listing surface: the shape of /v1/search, which
// every listing list shares.
type Page struct {
	Total      int
	Hits       []Hit
	Facets     map[query.Facet][]query.FacetValue
	NextCursor string // empty on the last page
	// Restarted says the home feed's ranked snapshot had expired: the
	// walk started again from the first page.
	Restarted bool
}

// hits are the page's hits from candidates that carry their documents
// (deleted meanwhile: left out), dressed by dress when it is set.
func hits(cands []query.Candidate, dress func(c *query.Candidate, h *Hit)) []Hit {
	out := make([]Hit, 0, len(cands))
	for i := range cands {
		c := &cands[i]
		if c.Doc == nil {
			continue
		}
		h := Hit{Listing: *c.Doc}
		if dress != nil {
			dress(c, &h)
		}
		out = append(out, h)
	}
	return out
}

// msTime is a Unix millisecond instant as a UTC time.
func msTime(ms int64) *time.Time {
	t := time.UnixMilli(ms).UTC()
	return &t
}
