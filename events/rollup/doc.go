// Package rollup rolls the events topic up into Rummage's analytics
// tables (schema rummage, migrations 0005 and 0007): per normalized query per
// minute (searches, zero results, clicks, CTR by position, carts,
// purchases), per party per minute (views, clicks, carts, purchases,
// unique viewers as a HyperLogLog sketch), drop arrivals per second, and
// per experiment variant per user per day.
//
// The Consumer reads every partition of the topic itself (no consumer
// group) and commits its offsets in the same Postgres transaction as the
// rows a batch adds, so a batch counts exactly once whatever stops the
// process: on start it seeks to the stored offsets.
//
// Like, share and purchase events are attribution records: they count as
// "the click, the share event, the purchase that a query or party led to",
// never as the likes, shares or sales themselves, which are counted from
// the CDC (the marketplace's tables). A click, cart or purchase is
// attributed to the query of its query_id when the search impression of
// that query_id is known (this batch or an earlier one, table
// analytics_query_ids); an unknown query_id counts on the party, drop and
// experiment rollups but on no query.
//
// Answers a CDN served are counted from view events (Aggregate): the views
// of a search or party answer's query_id after its first count as the
// search or party impression they stand for (docs/cdn.md).
package rollup
