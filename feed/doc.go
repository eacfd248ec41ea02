// Package feed is the discovery layer: the listing surfaces (search, and
// the party, following, home and drop feeds as they come) assembled from
// retrieval (query), social state (signals) and ranking. It owns what a
// client pages through: the page size, the second-phase ranking, and the
// signed, versioned cursor that pins a walk's instant.
//
// It knows no backend (Bleve, Elasticsearch) and no transport (HTTP): the
// api package renders its pages.
package feed
