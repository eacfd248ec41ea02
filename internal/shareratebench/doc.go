// Package shareratebench is rummage bench sharerate: the highest share
// rate a live party sustains through the whole dev pipeline (Postgres →
// CDC → in-process Kafka → indexer → signals store → party feed), with
// the CPU each stage spends per share, with and without migration 0001's
// share counter trigger in the same run.
//
// It runs "rummage dev" (internal/devbench) on a seeded catalog with a
// live party themed on the catalog's largest category root, then offers
// shares into it in steps of increasing rate — open loop (benchkit.Offer),
// one INSERT and commit per share from many connections, Zipf-distributed
// over the party's listings — once with the trigger and once without at
// each rate. The trigger is bench-only SQL on the scratch database (the
// listing columns migration 0004 dropped, and migration 0001's function
// and trigger, read from that migration), toggled between steps.
//
// A share is at the top of its party feed once the feed shows its listing
// with a party_shared_at at or after the share's created_at (to the
// millisecond the signals store keeps): the feed's order is by latest
// share, so that is when the share put its listing first. Pollers read
// the feed's first page (limit 100) every few milliseconds; the latency
// of a share is from its COMMIT to the first read that showed it so, or to
// the first read whose full page was entirely newer than the share when
// that came first ("displaced": a burst pushed its listing below the
// first page before a read saw it there); one never seen by the end of
// the step's tail counts as not visible (an infinite latency).
//
// CPU per share: dev is one process, so its CPU (/proc) is split by the
// pprof stage labels of a CPU profile taken over each step
// (internal/stagecpu); the private Postgres's processes are read from
// /proc and told apart by pg_stat_activity (the shares' backends, the
// walsender that decodes for the CDC, the rest).
//
// Afterwards every party's share_count (GET /v1/parties/{id}) is compared
// with DESIGN.md's definition computed in SQL: the shares with its
// party_id inside its window.
//
// It is bench plumbing; cmd/rummage parses the flags.
package shareratebench
