// Package reconcile compares the listings in Postgres, the source of truth,
// with the documents of a search index, and reports what differs: rows
// missing from the index, documents whose row is gone (extra), and documents
// whose content differs from their row (stale). `rummage reconcile` runs it
// for operators; the crash-safety test of the CDC path runs it as its final
// check.
//
// Rows are read in one ordered query (one consistent picture, streamed: the
// memory used does not grow with the table) and mapped to documents by
// indexer.DecodeListing, the same mapping the indexer applies to change
// events, so a row and the document the pipeline made of it compare equal
// exactly when the pipeline did its job.
//
// Content, not versions: the index holds a version per document (the commit
// LSN of the change that wrote it), but a Postgres row carries no LSN, so
// there is nothing to compare it with. Reconcile compares the document's
// canonical JSON, field by field, with the row's instead, which is what
// "nothing stale" means to a shopper.
//
// On a live system, changes in flight between Postgres and the index show up
// as differences; run it when the stream is idle, or run it twice and look at
// what persists.
//
// Signals does the same for the social state: it compares a signals store
// (parties and their latest shares, follows, blocks, suspensions, every
// listing's engagers) with the social tables.
//
// It depends on indexer (the row mapping), query (the backend interface) and
// pgx, and signals (the store's Reader); it must not import a concrete backend, Kafka, api or cmd.
package reconcile
