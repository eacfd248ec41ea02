// Package ranking owns everything that orders candidates: the field
// weights, the relevance blend of text score, freshness and popularity, and
// (as the discovery layer grows) personalization, share bumps and
// diversity. Its functions are pure — no I/O, no clock: callers pass the
// instant — so that every backend ranks alike: retrieval runs the first
// phase it is handed (Blend, a query.Scorer) and the discovery layer
// re-ranks above it.
//
// It imports only the standard library, the root package and query (for
// the candidate signals); never a backend, the API or anything with I/O.
package ranking
