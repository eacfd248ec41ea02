// Package api is Rummage's HTTP surface: the Echo server, the parsing and
// validation of the v1 query parameters, the JSON error model, the middleware
// (panic recovery, request timeouts, request logging, Prometheus metrics) and
// graceful shutdown.
//
// Routes:
//
//	GET /v1/search         search and browse (DESIGN.md, "Search API contract")
//	GET /v1/listings/:id   one listing, whatever its status; 404 when unknown
//	GET /healthz           200 while the process is alive
//	GET /readyz            503 until the index is loaded (Server.SetBackend) and,
//	                       with WithReadiness, caught up with its change log; the
//	                       body reports the lag; 503 "shutting_down" while draining
//	GET /metrics           Prometheus text format, on WithRegistry's registry
//	                       (every role of the process) or the server's own
//	GET /openapi.json      the OpenAPI document (openapi.yaml, embedded)
//	GET /images/:name      a picture of the demo catalog (fixtures/images,
//	                       embedded), cached a year, immutable
//	GET /docs              the OpenAPI document rendered by a vendored RapiDoc
//	                       (docsui/third_party/, embedded; nothing loaded off
//	                       the host)
//
// With Config.CORSOrigins, pages of those origins may call it from a
// browser: Echo's CORS middleware answers their preflights outside
// authorization and every admission middleware (docs/api.md, "CORS").
//
// Every GET route answers HEAD too. Other packages add routes, middleware
// (keys, rate limits, caches), the metrics registry and readiness through
// New's options, without editing the server: every role runs this one
// server.
//
// Who may call each route is the table routeAccess (access.go): reads take
// a search, public or admin key ("Authorization: Bearer"), or none while
// Auth.AnonymousReads holds; the open routes take none. A missing, unknown
// or revoked key is 401, a key of the wrong kind 403; user= is trusted from
// a server key, or from a public key with a user token (docs/keys.md).
//
// Every error, including unknown routes (404), wrong methods (405), panics
// (500) and timeouts (503), has one JSON shape:
//
//	{"error": {"code": "invalid_limit", "message": "must be between 1 and 100", "field": "limit"}}
//
// What Go's HTTP server rejects before any handler runs is plain text and
// out of reach (docs/api.md). A client that goes away is not an error of the
// service: logged at debug with status 499 and counted.
//
// code is stable and machine readable; field names the offending query
// parameter ("" when the error is not about one). Bad input is always a 400,
// never a 500. A search response always carries the four keys "total",
// "hits" (an array, never null), "facets" (an object; one key per facet asked
// for) and "next_cursor" (null on the last page).
//
// The package talks to the index only through its small Backend interface;
// query.Backend satisfies it. It must not import query/embedded, query/elastic,
// indexer or cmd: concrete backends are wired in cmd/rummage only. Flags and
// environment variables are read in cmd/ too; this package takes a Config.
// (Its end-to-end tests, in package api_test, do load the embedded backend:
// the API is tested against the real index, not a fake.)
package api
