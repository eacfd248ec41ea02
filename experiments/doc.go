// Package experiments owns named ranking experiments: each has variants
// (ranking settings, e.g. the personalization strength) and traffic
// splits, and a user (or device id) is assigned to a variant by a stable
// hash of the experiment's name and the unit, so that the same shopper
// sees the same variant on every replica, across restarts, and
// independently in each experiment. The configuration is a JSON file
// (Load) or built in code; Validate checks it.
//
// The API stamps Stamp(unit) on every impression (events.Event.Variant)
// and adds CacheKey(unit) to a cache key: empty unless a variant the unit
// is in changes retrieval (a variant that only re-ranks above the cache,
// like the personalization strength, shares the anonymous entries).
//
// It imports only the standard library; no I/O but Load.
package experiments
