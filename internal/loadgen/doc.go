// Package loadgen is the load tool operators run before their event
// (rummage loadtest) and the driver of rummage bench spike: open-loop
// arrivals paced by vegeta (github.com/tsenart/vegeta/v12, as a library)
// along a scenario's rate curve, spread over several loopback source
// addresses with a capped worker pool, and a report of offered against
// achieved rate per second (the run fails when the generator lags), status
// counts, latency percentiles, and the cache hit and shed ratios read from
// the response headers (Cache-Status, Rummage-Degraded, 503 Retry-After).
//
// The scenarios' shapes are pure functions of time (Shape), so that their
// tests need no clock.
package loadgen
