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
//     listing row that does not map or fails rummage.Listing.Validate, a
//     social row that does not decode (SocialChange: one decoder per table;
//     a party whose theme is not a valid saved search), and a truncate of
//     the listings table (see below) become dead letters, counted by table
//     (rummage_indexer_bad_rows_total) and logged with their key;
//  2. coalesce listing changes per id: the highest (source.lsn, source.seq)
//     wins, and among equal ones (one transaction) the later offset wins, so
//     the backend gets at most one change per listing per batch;
//  3. apply to the backend, retrying with backoff for as long as it takes on a
//     transient error (never skipping); a change the backend rejects as
//     invalid is isolated by bisecting the batch and becomes a dead letter;
//  4. at the same time as 3, hand the changes of the social tables
//     (sellers, follows, likes, shares, parties, blocks) to the signals
//     store (signals.Writer) in stream order, with the positions they bring
//     their partitions to, retrying without limit like 3 (without a store
//     they are counted and dropped);
//     when the store reads counters (CounterSource) and the backend writes
//     them (query.CounterWriter), 3's upserts first take the store's
//     like and share counters, and once 4 is durable the listings its likes
//     and shares touch get theirs written (counters.go; the listing row has
//     none since migration 0004);
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
// Truncates of the social tables go to the signals store.
//
// Positions: the signals store records the batch's positions of the social
// partitions atomically with its data. A store that holds none (new, or an
// emptied Redis) while the group's offsets have moved on would miss every
// row before them, so RewindTopics names the social topics, which the
// reader (kafkabus.ReaderConfig.FromStart) then reads from their start;
// the listings topics go on from their offsets. A store that loses its data
// under a running indexer says so (ErrSignalsLost) and Run returns: the
// next start rebuilds it the same way.
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
// small interfaces it consumes (Source, DeadLetterSink, Applier, and
// signals.Writer from the contract package signals) and
// cmd/rummage wires concrete types in. It must not import api, a concrete
// query backend, or a Kafka or Postgres client.
package indexer
