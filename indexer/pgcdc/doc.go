// Package pgcdc turns Postgres logical replication (pgoutput, protocol v2)
// into change events (indexer/change) and hands them to a Sink, with a
// durable, confirm-only-what-is-stored protocol.
//
// It owns: the publication and the slot it creates if absent, the initial
// consistent snapshot (the slot's exported snapshot, emitted as op "r" at the
// slot's consistent point), decoding of pgoutput tuples to JSON by type OID,
// its own confirmed-LSN row (table rummage_cdc_state), reconnects, and the
// CDC metrics. Snapshot also gives `rummage reindex` a fresh consistent copy.
//
// Durability protocol:
//
//   - Events go to the Sink in order; Sink.Write returns only once stored.
//   - A transaction is confirmed (stored in rummage_cdc_state, then sent to
//     the slot in a standby status update) only after the sink acknowledged
//     every one of its events; keepalives are answered with that LSN, never
//     with the server's WAL end or with what was merely received.
//   - When nothing is in flight and everything is acknowledged, the
//     keepalive's WAL end is confirmed too, so an idle publication does not
//     make Postgres retain WAL (see stream.keepalive for why that is safe).
//   - A Postgres restart can rewind the slot before positions already
//     confirmed; transactions whose commit record starts below the CDC's
//     own confirmed LSN are skipped. Confirmed positions are end positions
//     (a transaction's end LSN, a keepalive's WAL end), so a transaction
//     whose commit record starts exactly at the confirmed LSN is new, not
//     a replay: skipping it with "<=" lost transactions that committed
//     right after a keepalive.
//   - Everything else is at-least-once: after a crash between the sink's ack
//     and the confirm, the transaction is sent again. Downstream versions
//     (source.lsn, source.seq) make the duplicates harmless.
//   - A snapshot is stored as done only after the sink acknowledged all of
//     it. A run that finds it not done but its slot present (a crash during
//     the copy, or after its last ack) keeps the slot: it copies the tables
//     again as they are, versioned at the slot's position, and streams from
//     there, so deletes committed meanwhile are not lost (a new slot's
//     snapshot would simply not hold those rows).
//
// It must not import Kafka or any index or query package: the Sink
// interface is how events leave it (indexer/kafkabus implements it).
package pgcdc
