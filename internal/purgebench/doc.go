// Package purgebench is rummage bench purge: how long a sold listing stays
// on the cached pages that showed it, under a steady stream of other
// writes. It runs the whole system ("rummage dev": Postgres → CDC →
// in-process Kafka → indexer → embedded index and signals, the API with its
// response cache) on a seeded catalog, drives a mix of writes into
// Postgres (price updates, likes, shares, new listings) at a fixed change
// rate, and, at a steady rate among them, sells listings. Before each sale
// it finds the cached pages that show the listing (its category and brand
// searches, the browse, its party's feed, its followers' following feeds,
// the home feed); after the COMMIT a few pollers read those pages in a
// tight loop until none answers it from the cache any more, and the time
// from the COMMIT is the sale's purge latency.
//
// It is bench plumbing; cmd/rummage parses the flags and passes the
// binary (or, in tests, a function that runs dev in process).
package purgebench
