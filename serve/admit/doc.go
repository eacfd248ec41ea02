// Package admit owns admission control for the API: per-key and per-address
// rate limits (RateLimit) and an adaptive concurrency limit in front of
// computation that degrades answers before it sheds them (Admission). Both
// are Echo middleware composed around the API's handlers through
// api.WithMiddleware, in the order of the serving chain:
//
//	rate limit → cache → coalesce → admission → compute
//
// /healthz, /readyz and /metrics (any route outside /v1/) bypass both.
//
// Admission, per request to a GET /v1/ route:
//   - a later page (the request carries a cursor) is admitted only while the
//     in-flight count is below LaterShare of the adaptive limit: first pages
//     keep the last part of the capacity to themselves;
//   - as the requests in flight fill the limit, degradation steps switch
//     on, each past its own part of it (Config.Steps, ordered by the CPU
//     each saves per quality it loses, docs/admission.md): personalization
//     (serve/personal asks SkipPersonalization above the cache and answers
//     the anonymous page), then the page size, then facets (the request's
//     context carries query.WithDegradation: cap N, drop facets). The API
//     applies them, lists what it gave up in the answer's "degraded" and
//     marks the answer with the api.HeaderDegraded header and
//     Cache-Control: no-store. A cache must not store an answer carrying
//     that header (IsDegraded tells; serve/cache passes it on unstored);
//   - past the limit, it is shed: 503 {"error":{"code":"overloaded"}} with
//     Retry-After, decided without touching the backend;
//   - an admitted request runs under its route's time budget (Config.Budgets)
//     when one is set, inside the server's request timeout.
//
// The limit itself is failsafe-go's adaptive limiter (it moves between a
// static floor and ceiling as latencies trend), behind the small Limiter
// interface so that tests script it.
//
// RateLimit keeps token buckets per API key (rates per key kind) and per
// client address (X-Forwarded-For is believed only from trusted proxies),
// in process with golang.org/x/time/rate or shared across replicas in
// Redis with go-redis/redis_rate; a refusal is a 429 with Retry-After and
// the RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers,
// which admitted answers carry too.
//
// It must not import the discovery packages below the API (feed, ranking,
// query backends); it speaks to them only through query.Degradation on the
// request context.
package admit
