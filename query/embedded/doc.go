// Package embedded is the in-process search backend (query.Backend): Bleve
// (scorch) for full text, and compact in-memory columns plus roaring bitmaps
// for everything else — filters, facets, visibility and sort keys.
//
// It owns the on-disk index under Config.Dir and its generations (layout.go:
// DIR, DIR.g000002, ... and DIR.CURRENT, which a zero-downtime reindex
// switches), the Bleve mapping and document layout, the column store, and
// the baseline that runs the same request through Bleve's own facet builder
// (SearchBleveFacets). It must not import api, indexer, fixtures or cmd, nor
// the other backends: the caller loads the brand aliases (Config.Aliases).
//
// # Why this split
//
// Bleve over 1M listings answers a 2-word query in a few milliseconds, but
// its facet builder costs ~200 ms for five facets (DESIGN.md). So Bleve
// only matches and scores text; a match is turned into an ordinal (a dense
// uint32 per listing id) and everything else is read from columns indexed by
// ordinal, or from a roaring bitmap of ordinals per filter value and per
// category node (a node's bitmap holds its whole subtree).
//
// # Text: postings bitmaps, not Bleve searchers
//
// Bleve reports a match as a global doc number: a segment's offset plus the
// local number. Looking the id up per hit (ExternalID, then a map) costs
// ~0.2 µs a hit, tens of milliseconds for a 100k-hit query. So every
// immutable segment gets, once, a []uint32 from local number to ordinal,
// cached by segment object and built by the writer before a snapshot is
// published (after each Apply, and every Config.RefreshInterval for
// segments Bleve merged in the background): queries never build one.
//
// Running Bleve's Searcher on the pinned snapshot with those maps was the
// first design; at 1M listings a 2-word query over four fields still cost
// ~8 ms of CPU in Bleve's disjunction and conjunction searchers (decoding
// frequencies and norms of every posting). Zap keeps each term's postings
// as a roaring bitmap of local doc numbers, so matchText evaluates the query
// per segment with bitmap operations instead (OR over fields and typo
// variants, AND across words, minus the segment's deleted docs) and visits
// only the final matches. BenchmarkHitMapping compares the three ways.
//
// Scoring is field-weighted idf, computed only for the relevance sort: per
// word, idf × the weight of the heaviest variant the document matched
// (brand 4, title 3, tags 2, description 1; a typo one edit off counts
// half, two edits a third); an alias clause that hits the brand exactly
// adds 6 × idf. Term frequencies and norms are not used; listings are short.
// Text scores therefore take few distinct values, which lets the relevance
// top-k visit hits by score group and stop early (topKRelevance).
//
// Every query word must match title, brand, tags or description, stemmed
// (English analyzer: "dresses" finds "dress"). A word of 4 to 7 letters may
// be one edit off, 8 or more two edits, on title and brand, but only when
// the word is rare (at most commonTerm documents): a word many listings use
// is spelled right, its neighbours are other words, and skipping the
// expansion keeps common queries cheap. Brand aliases (the alias file) add
// an exact match on brand_key, a lower-cased keyword of the whole brand.
//
// # Documents
//
// The mapping is explicit and lean: title, brand, tags and description as
// English text with no term vectors, doc values or _all; brand_key; and one
// stored, unindexed field holding the record: a binary header with the
// version and every column value, then the rest of the listing (binary too:
// encoding/json cost 25 µs a hit). Reopening reads only the headers, in
// parallel; hits and Get decode whole records, for the page only (a text
// query's page straight from the segment and local number its matches came
// from, without Document's _id lookup in every segment). A delete
// is written as a tombstone document (no indexed field, a record with the
// delete's version), so the version of every id, live or deleted, is
// durable in the same Bleve batch as the documents: no second store, no
// ordering problem between two stores.
//
// # Columns
//
// Per ordinal, a 64-byte row (brand, size, color set, category leaf,
// condition, status, price, times, likes, shares) serves sparse reads: a
// text query's few thousand hits cost one cache miss each. Plain arrays of
// brand, size, price, created and shared serve passes over large sets.
// Facets over a small set are counted in one pass over its rows, chunk by
// chunk with one tight loop per facet, so that the rows' cache misses
// overlap instead of coming one at a time (the relevance top-k reads its
// rows the same way); over a large set brand and size from their arrays and the few-valued fields by
// roaring cardinalities. Large browses page through presorted orders
// (order.go) merged with the listings written since they were built.
//
// # Writes and consistency
//
// Apply checks versions against the columns (below the held version of an
// id, live or tombstone, a change is stale; an equal version applies, and
// among equals the stream's order decides: docs/architecture.md,
// "Versions"), writes one Bleve batch (scorch
// returns only once the segment and its root are fsynced; unsafe_batch stays
// off), then takes the state lock briefly to update the columns and publish
// the new snapshot with its segment maps. Searches hold the lock shared for
// their run, so text matches, columns and the snapshot always belong to the
// same write; writers are serialized by their own mutex and do all slow work
// outside the state lock. Bulk keeps two batches in flight and publishes
// them in order.
//
// # Visibility
//
// Status available, and a drop's available_at not after the request's
// instant. Available listings with an available_at are kept in a bitmap;
// the visible set for an instant is cached together with the interval of
// instants it is valid for (between two consecutive drop instants), so a
// drop appears at its instant with no write, and queries in between share
// one bitmap.
package embedded
