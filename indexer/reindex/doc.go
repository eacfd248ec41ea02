// Package reindex builds a fresh index from a new Postgres snapshot while
// the change stream goes on, then switches to it with no moment of missing
// or stale results (`rummage reindex`).
//
// # The procedure (Run)
//
//  1. Target.Begin creates the new, empty index and starts dual writes:
//     from then on every batch the stream applies goes to the old index and
//     to the new one (embedded: a swap.Backend tee in the process that runs
//     the indexer; Elasticsearch: a reindex alias every indexer writes to
//     as well, see query/elastic).
//  2. Only then a fresh consistent snapshot is taken (pgcdc.Snapshot, a
//     temporary slot) and its rows are applied to the new index.
//  3. When the snapshot is fully applied, Target.Switch moves reads and
//     writes to the new index atomically and durably, and the old index is
//     no longer written.
//  4. Target.Finish removes the old index.
//
// Why the new index then holds everything: a change the stream applied
// before step 1 committed before the snapshot was taken, so the snapshot
// holds it (or something newer); any other change is dual-written. Versions
// decide the races: a snapshot row carries version LSN-1 (see
// backfillChanges), so it loses to every change committed after the
// snapshot (the stream may have written those first) and wins over every
// change it already contains; a delete leaves a tombstone (embedded) or a
// remembered version (Elasticsearch), so a snapshot row cannot resurrect a
// listing the stream deleted. Readers use the old index until the switch,
// which happens with no write in flight; after it, the new index holds
// every change the old one had, so no search misses a listing it found
// before, nor sees an older version of one.
//
// # The embedded index on disk
//
// The generations of an embedded index (DIR, DIR.g000002, ... and the
// pointer DIR.CURRENT) are query/embedded's layout: embedded.Open opens the
// generation in use, so a read-only process (rummage serve) needs nothing
// from this package. Embedded (the Target) makes the next generation and
// switches with embedded.SetCurrent after every write to the new
// generation is durable and with no write in flight, so a crash at any
// point leaves CURRENT naming a complete index: before the rename the old
// generation (which took every write, since the tee writes it first), after
// it the new one (which took every write the old one took since Begin, and
// the whole snapshot). A half-built generation or an old one a crash left
// behind is removed by the next reindex.
//
// Because the embedded index belongs to one process, the reindex runs
// inside it: Manager runs one reindex at a time and Manager.Handler serves
// POST/GET /admin/reindex for `rummage reindex --admin-url`.
//
// It may import indexer, indexer/pgcdc and the query backends; it must not
// import api or cmd.
package reindex
