// Package embedded is the in-process search backend (query.Backend): Bleve
// (scorch) for full text, and compact in-memory columns plus roaring bitmaps
// for everything else — filters, facets, visibility and sort keys.
//
// It owns the on-disk index under Config.Dir, the Bleve mapping and document
// layout, the column store, and the baseline that runs the same request
// through Bleve's own facet builder (SearchBleveFacets). It must not import
// api, indexer or cmd, nor the other backends.
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
// # Hits to ordinals
//
// Bleve reports a match as a global doc number: a segment's offset plus the
// local number. Looking the id up per hit (ExternalID, then a map) costs
// ~0.2 µs a hit; for a 100k-hit text query that is tens of milliseconds.
// Instead every immutable segment gets, once, a []uint32 from local number to
// ordinal, cached by segment object; the query's Searcher runs directly on the
// pinned scorch snapshot and each match costs a slice read
// (BenchmarkHitMapping). Maps are built by the writer before a new snapshot
// is published (after each Apply, and every Config.RefreshInterval for
// segments Bleve merged in the background), so queries never build one.
//
// # Documents
//
// The mapping is explicit and lean: title, brand, description and tags as
// English text (stemmed), brand again as one lower-cased keyword (brand_key,
// for alias hits), and one stored, unindexed field holding the record: a
// binary header with the version and every column value, then the rest of
// the listing. Reopening reads only the headers; hits and Get decode whole
// records, and only for the page. A delete is written as a tombstone
// document (no indexed field, a record with the delete's version), so the
// version of every id, live or deleted, is durable in the same Bleve batch as
// the documents: no second store, no ordering problem between two stores.
//
// # Writes and consistency
//
// Apply checks versions against the columns, writes one Bleve batch (scorch
// returns only once the segment and its root are fsynced; unsafe_batch stays
// off), then takes the state lock briefly to update the columns and publish
// the new snapshot with its segment maps. Searches hold the lock shared for
// their run, so text matches, columns and the snapshot always belong to the
// same write; writers are serialized by their own mutex and do all slow work
// outside the state lock.
//
// # Text
//
// Every query word must match one of the text fields (AND across words).
// Brand and title weigh more than tags and description. A word of 4 to 7
// letters may be one edit off, 8 or more two edits, on title and brand —
// but only when the word is rare in the index (at most commonTerm documents
// hold it): a word many listings use is spelled right, and fuzzy expansion
// of common words was most of the cost of a text query. Exact matches score
// above fuzzy ones (the fuzzy clause also matches the exact term, and Bleve
// boosts fuzzy candidates by edit distance). Brand aliases from the alias
// file add an exact brand_key clause with a strong boost.
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
