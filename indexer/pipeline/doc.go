// Package pipeline runs Rummage's whole streaming path in one process, for
// development and measurement: Postgres logical replication (indexer/pgcdc)
// into an in-process Kafka broker on loopback (github.com/twmb/franz-go/pkg/kfake,
// the real wire protocol, so kcat and any Kafka client can watch it), and a
// consumer group (indexer/kafkabus, indexer) applying the events to an
// index. `rummage dev` and `rummage bench pipeline` are its users.
//
// It owns the order of start-up and shutdown, the choice of a fresh snapshot
// (Config.Resnapshot), readiness (SnapshotApplied: the index holds the
// initial snapshot) and a drain on shutdown (the CDC stops first, then the
// indexer catches up with what the broker holds). It also measures commit →
// applied latency for the bench (Recorder, Load).
//
// It knows no flags, no HTTP and no concrete index: the caller wires the API
// and opens the backend. It must not import cmd/, api/ or a query backend.
package pipeline
