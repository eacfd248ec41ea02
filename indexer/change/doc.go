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
package change
