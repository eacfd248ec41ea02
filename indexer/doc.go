// Package indexer owns the consume-transform-apply loop between the change
// stream and the search index: it fetches change events (indexer/change
// envelopes, ours or the Debezium Postgres connector's, with or without the
// schema wrapper) from a Source, turns listing rows into versioned
// query.Change values, coalesces them per listing within a batch, applies the
// batch through the backend, and only then commits the source's offsets.
//
// The protocol, in order, for every batch:
//
//  1. decode and transform every message; a message that cannot be decoded, a
//     listing row that does not map or fails rummage.Listing.Validate, and a
//     truncate of the listings table (see below) become dead letters;
//  2. coalesce listing changes per id: the highest (source.lsn, source.seq)
//     wins, and among equal ones (one transaction) the later offset wins, so
//     the backend gets at most one change per listing per batch;
//  3. apply to the backend, retrying with backoff for as long as it takes on a
//     transient error (never skipping); a change the backend rejects as
//     invalid is isolated by bisecting the batch and becomes a dead letter;
//  4. hand the rows of the other tables (sellers, follows, likes, shares,
//     parties) to the RowStore for the feed work (without one they are
//     counted and dropped: nothing in the index needs them, since like and
//     share counters arrive on the listing row);
//  5. write the dead letters and wait for the broker's acknowledgement;
//  6. commit the offsets of the whole batch.
//
// A crash anywhere before 6 redelivers the batch; versions make the
// redelivery harmless, so the index ends exactly-once in effect.
//
// Truncate: query.Change has no "delete every document of the table below
// version v" action, so a truncate of listings cannot be applied here. It is
// sent to the dead-letter topic with reason "truncate_unsupported" (and
// counted; the CDC writes a truncate to every partition, so there is one
// dead letter per partition), and the index keeps the rows until a reindex.
// Truncates of the other tables are applied to the RowStore.
//
// Versions: below the version a backend holds for a listing, a change is
// stale; an equal version applies, and among equals the stream's order
// decides. The events of one transaction share a commit LSN: within a batch
// the later one wins (step 2), and when a batch boundary falls between two
// changes of one row in one transaction, the second reaches the backend in
// the next batch with the version it already holds, and must win there too.
// Every backend and every test fake applies this rule
// (docs/architecture.md, "Versions").
//
// Sub-packages hold one external system each (indexer/kafkabus for Kafka,
// indexer/pgcdc for Postgres). This package knows none of them: it defines the
// small interfaces it consumes (Source, DeadLetterSink, Applier, RowStore) and
// cmd/rummage wires concrete types in. It must not import api, a concrete
// query backend, or a Kafka or Postgres client.
package indexer
