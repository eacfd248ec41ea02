// Package relevancebench measures personalization (rummage bench
// relevance): shoppers with latent preferences and their interaction log
// (fixtures.Shoppers) over a generated catalog in the embedded backend; the
// training part replayed through the event path (POST /v1/events on an
// in-process API, its producer onto the events topic of an in-process
// broker, the affinity consumer into the signals store's profiles), and
// its likes and shares applied to the signals store as the change
// stream's rows would be (trending, on the anonymous home feed, reads
// them); the held-out part scored on search and the home feed, served by
// the real API with the answer cache in front, anonymous vs personalized,
// beside an oracle ranking by the true preferences and a popularity
// baseline: NDCG@10, recall@24, MRR, and each NDCG@10 lift with an
// interval bootstrapped over the units. It also measures what
// personalization adds to search latency, on the same queries in the same
// run, optionally on a larger prebuilt index.
package relevancebench
