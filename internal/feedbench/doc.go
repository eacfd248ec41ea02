// Package feedbench is "rummage bench feeds": it generates a catalog with
// its social graph, loads it into Postgres (COPY, with the indexes a team
// would add for the SQL baselines), into an embedded index and into the
// embedded signals store, then measures the party, following and home
// surfaces of package feed against the same answers computed in Postgres
// SQL, in the same run, with a cross-check of the first pages and the
// memory of the signals store per share and per follow.
//
// It is bench plumbing: it imports feed, signals, signals/memory,
// query/embedded, fixtures, ranking and internal/benchkit, and nothing
// imports it but cmd/rummage. It must not import api or indexer.
package feedbench
