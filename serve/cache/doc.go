// Package cache is the serving cache: an in-process response cache in front
// of the discovery layer (package feed, through the api's routes), with
// change-driven invalidation, request coalescing and HTTP caching headers
// for a CDN in front (docs/cdn.md).
//
// It owns:
//
//   - Store, the response store (bytes, weighed by their size), implemented
//     with github.com/maypok86/otter/v2;
//   - Cache: entries with their dependencies (listing ids and coarse tags),
//     Invalidate (coalesced per dependency, at most Config.Coalesce apart),
//     stale serving while one refresh runs (at most Config.Stale after the
//     change), the fill generation check, and loads coalesced with
//     singleflight under their own timeout;
//   - Middleware, the echo middleware that keys a GET by its normalized
//     request (without user= except for the following and home feeds, and
//     for viewers who block closets), answers ETag/304 and sets
//     Cache-Control, Surrogate-Key;
//   - Boundaries: drop instants and party boundaries, which no entry and no
//     HTTP lifetime crosses;
//   - the dependencies of a change (ListingDeps, RowDeps) and the indexer
//     hook (Hook) that turns applied changes into invalidations.
//
// It must not import api, indexer's backends (query/embedded,
// query/elastic), signals' stores or cmd: it sees the API only as echo
// handlers and the social state through its small Social interface.
package cache
