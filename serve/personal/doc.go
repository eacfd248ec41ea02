// Package personal personalizes search above the answer cache. The cache
// (serve/cache) stores finished pages, shared by every shopper who blocks
// nobody; personalization must not split those entries per user, so it
// over-fetches: a personalized first page of GET /v1/search (relevance
// order, a user with a profile, strength > 0) asks the layers below for the
// anonymous answer of the same request with limit=Window (100, the API's
// largest page: one shared cache entry per query), re-ranks those
// candidates with the user's profile (ranking.Personalize: a bounded soft
// boost, nothing dropped) and answers the first limit of them. Its
// next_cursor walks the rest of the window ("pz1.<offset>" cursors that
// re-read the same cached window), then continues with the anonymous walk
// after the window; total and facets are the anonymous answer's. If the
// cached window changed between two pages (an invalidation), a walk may
// show a listing of the window twice or miss one: the window is re-read,
// not pinned.
//
// Anonymous requests, other sorts and surfaces, strength 0 and users
// without a profile pass through untouched (byte-identical answers). A
// personalized answer is private (Cache-Control: private, no-store) and
// carries no ETag or Surrogate-Key of the shared entry.
//
// It imports ranking and query; the profile and the strength are
// functions its caller gives (feed.Feeds.Profile, experiments.Set.Strength).
package personal
