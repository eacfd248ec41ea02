// Package change defines the change event that flows from the CDC source
// (indexer/pgcdc) through Kafka (indexer/kafkabus) to the indexer: a
// Debezium-compatible JSON envelope, its message key and its topic name.
//
// It is the contract between the producer and the consumer side, so it is
// deliberately small and stable: plain types, JSON encoding and decoding, no
// I/O. It must not import any other Rummage package, Kafka or Postgres client.
//
// Versioning: every event carries source.lsn. For streamed changes it is the
// commit LSN of the transaction; for snapshot rows it is the consistent point
// of the slot the snapshot was taken at. A consumer that keeps, per key, the
// highest version it has applied and drops events with a lower or equal one
// turns the at-least-once stream into an exactly-once result.
//
// Equal versions: one transaction can change the same row several times (two
// shares of one listing in one transaction update listings twice), and all
// those events carry the same commit LSN. They are written in order to the
// key's partition, and Source.Seq (1, 2, ... within the transaction) orders
// them. So compare (LSN, Seq) when you can; with the LSN alone, treat an
// equal version as "not older" (apply if version >= stored, drop only
// strictly lower ones) — dropping equal versions would lose the later
// change of such a transaction.
//
// Truncate: an op "t" event has no key and no row; kafkabus writes one copy
// to every partition of the table's topic so that it is ordered after every
// earlier event of every key. It removes all rows of the table with a version
// below its source.lsn.
package change
