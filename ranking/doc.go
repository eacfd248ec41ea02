// Package ranking holds the pure functions that order candidates: the
// relevance blend of text score, freshness and popularity. No I/O, no clock:
// callers pass the instant. Backends call it for the relevance sort, so the
// embedded and Elasticsearch backends rank alike.
//
// It imports only the standard library.
package ranking
