// Package devbench runs the system a bench measures: "rummage dev" (the
// CDC, the in-process Kafka, the indexer with the embedded index and
// signals, the API) as a child process — or in process for tests — on a
// scratch database, a private Postgres (internal/devpg) or a given one,
// migrated and seeded, with a search key and an admin key. It reads the
// service's /metrics and CPU profile, and the CPU of the service and of
// the Postgres processes. bench purge and bench sharerate run on it.
//
// It is bench plumbing: cmd/rummage passes the binary (or, in tests, a
// function that runs dev in process).
package devbench
