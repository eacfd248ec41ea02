// Package kafkabus carries change events (indexer/change) over Kafka with
// segmentio/kafka-go: the Writer puts the CDC's events on
// <prefix>.<schema>.<table> topics, partitioned by key so each row's events
// stay in order, acknowledged by all in-sync replicas; the Reader is the
// indexer's consumer group with explicit commits, and the dead-letter writer
// keeps what the indexer could not apply.
//
// Every writer and reader has its own kafka.Transport or Dialer: kafka-go's
// shared defaults cache connections by address, which breaks when several
// clusters (in tests, kfake clusters on reused ports) live in one process.
//
// It must not import the CDC source (indexer/pgcdc), any query backend or
// the API; it depends on the event envelope and the indexer's interfaces
// only.
package kafkabus
