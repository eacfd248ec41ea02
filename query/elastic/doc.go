// Package elastic is the Elasticsearch 8 implementation of query.Backend.
//
// It owns everything Rummage says to a cluster: the index template (explicit
// mappings and English analysis), the translation of a query.Request into one _search body (bool query,
// post_filter with per-facet filtered aggregations for disjunctive facets, the
// hierarchical category facet, price ranges, sorts with search_after), the
// mapping of the response back into the same query.Result the embedded
// backend returns, versioned bulk writes, and the alias operations behind a
// zero-downtime reindex.
//
// # Indices and aliases
//
// Documents live in versioned physical indices named <prefix>-v000001,
// <prefix>-v000002, ... Searches and Get read through the read alias
// (<prefix>); Apply writes through the write alias (<prefix>-write) with
// require_alias, so a missing alias is an error instead of a silently
// auto-created index with guessed mappings.
//
// A reindex (wired by `rummage reindex`) runs:
//
//  1. name, err := b.CreateIndex(ctx) — a new empty physical index (the
//     template is (re)installed first, so mapping changes take effect).
//  2. nb := b.ForIndex(name) — a Backend that reads and writes that index
//     directly; backfill it from a consistent snapshot, each document at the
//     snapshot's LSN, then catch it up from the change stream. The old index
//     keeps serving and taking writes meanwhile.
//  3. old, err := b.SwapAliases(ctx, name) — one atomic _aliases request moves
//     both the read and the write alias to the new index.
//  4. b.DeleteIndex(ctx, o) for each old index, once nothing reads it.
//
// External versions (the commit LSN) make every step idempotent: a change
// applied twice, or to both indices around the swap, ends in the same state.
//
// # Writes and durability
//
// Apply sends one bulk request per batch through esutil.BulkIndexer with
// version_type=external_gte, for deletes too: the query.Change contract
// applies an equal version (one transaction's changes share its commit LSN),
// and external_gte is Elasticsearch's name for exactly that rule. A 409
// version conflict means the index already holds a newer version: it is
// counted as stale.
// Rejections (429) and unavailable shards are retried; any other failed item
// makes Apply return a *BulkError, so the indexer does not commit its Kafka
// offset past it. Elasticsearch acknowledges a bulk item only after its
// translog is fsynced (index.translog.durability=request, the default), so an
// acknowledged batch survives a node crash. Refresh (Config.Refresh) only
// decides when the writes become visible to search.
//
// Deletes are real deletes with an external version. Elasticsearch remembers
// the version of a deleted document for index.gc_deletes (Config.GCDeletes,
// default 24h here instead of Elasticsearch's 60s): an older upsert replayed
// later than that would bring the document back. The CDC keeps its own
// confirmed LSN, so replays are bounded to minutes, far inside that window.
//
// # Differences from the embedded backend
//
// Filters, facets, sorts, cursors and visibility give the same results, and
// the text query has the same shape: every word must match (stemmed, with
// the same typo tolerance: none below 4 letters, one edit up to 7, two from
// 8, on brand, title and tags), and a brand alias from the alias file
// (Config.Aliases) also matches its brand exactly. The aliases are expanded
// in the query rather than by a synonym filter in the index, so the alias
// file can change without a reindex. Stop words are Lucene's English set, a
// little smaller than Bleve's. Text relevance does not match score for score: Elasticsearch scores text with
// BM25, Bleve with its own TF-IDF variant. The blend on top is the same
// function as ranking.Relevance, expressed as a function_score (an exp decay
// on fresh_at with a 14-day half-life, a log1p popularity on engagement, both
// summed with 1 and multiplied into the text score); only listings created in
// the future differ (the decay treats them as aged). Terms facet counts are
// exact with one shard (the template's default); with more shards they can be
// approximate, as terms aggregations are.
//
// It must not import api, indexer, fixtures or cmd: the caller loads the
// brand aliases (Config.Aliases).
package elastic
