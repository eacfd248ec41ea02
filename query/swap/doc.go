// Package swap is a query.Backend that can be switched to another backend
// while it serves, and that can write every batch to a second backend (a
// shadow) as well: the in-process half of a zero-downtime reindex.
//
// The API and the indexer share one *swap.Backend. Reads go to the current
// backend. Apply writes the current backend and, while a shadow is set, the
// shadow too (a tee), so that the shadow misses no write from the moment
// StartShadow returns. Promote makes the shadow current in one step for
// readers and writers: it runs with no Apply in flight, and the old backend
// is handed back only once no read uses it any more, so it can be closed
// without failing a search.
//
// Versions make the tee safe: each backend drops the changes older than the
// version it holds, independently, so a change written to both, a change
// written twice, or a backfill racing the stream ends in the same state.
//
// It owns no index and must not import a concrete backend, api, indexer or
// cmd.
package swap
