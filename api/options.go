package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/events"
)

// Option configures a Server in New. Options let other packages plug into
// the one server every role runs (routes, middleware, metrics, readiness)
// without editing it.
type Option func(*options)

type options struct {
	middleware []echo.MiddlewareFunc
	routes     []mounted
	registry   Registry
	readiness  func(context.Context) (ReadyState, error)
	events     EventSink
	pseudo     *events.Pseudonymizer
	variants   VariantFunc
	forget     *events.Forgetting
	skipPers   func() bool
}

// mounted is a route another package adds.
type mounted struct {
	method, path string
	access       Access
	h            echo.HandlerFunc
}

// WithMiddleware wraps every route, the server's own included, in mw (the
// first given is the outermost), inside the server's request log, metrics,
// panic recovery and timeout: authorization, rate limits, caching. An error
// it returns is answered in the API's JSON error shape.
func WithMiddleware(mw ...echo.MiddlewareFunc) Option {
	return func(o *options) { o.middleware = append(o.middleware, mw...) }
}

// WithPersonalizationSkip makes search personalization (package
// serve/personal) answer a personalized search with the anonymous page,
// reported as degraded "personalization", while skip says so (admission's
// first degradation step, admit.Admission.SkipPersonalization).
func WithPersonalizationSkip(skip func() bool) Option {
	return func(o *options) { o.skipPers = skip }
}

// WithRoute mounts h at method and path (an Echo pattern such as
// /v1/feed/:id), callable as access says (the keys of access.go). A GET
// route answers HEAD too. Its requests are counted in the metrics under
// path, and its errors take the JSON error shape.
func WithRoute(method, path string, access Access, h echo.HandlerFunc) Option {
	return func(o *options) { o.routes = append(o.routes, mounted{method, path, access, h}) }
}

// WithHandler is WithRoute for a plain http.Handler (the reindex admin
// endpoint, for one).
func WithHandler(method, path string, access Access, h http.Handler) Option {
	return WithRoute(method, path, access, echo.WrapHandler(h))
}

// Registry is where the server registers its metrics and what /metrics
// serves: a *prometheus.Registry shared by every role of the process (CDC,
// indexer, Kafka reader), so that one /metrics serves them all.
type Registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// WithRegistry registers the server's metrics on r and serves r at
// /metrics. Without it the server keeps a registry of its own.
func WithRegistry(r Registry) Option { return func(o *options) { o.registry = r } }

// ReadyState is what a process that applies a change stream adds to
// readiness: how far behind it is, and whether it is still catching up
// after a start.
type ReadyState struct {
	// CatchingUp keeps /readyz at 503 "catching_up" although the index is
	// loaded (and the /v1 routes answer from it).
	CatchingUp bool
	// Lag, when not nil, is reported in /readyz's body.
	Lag *Lag
}

// Lag is how far the index is behind its change log.
type Lag struct {
	// Events in the log the index has not applied yet.
	Events int64 `json:"events"`
}

// WithReadiness adds f to /readyz: once the index is loaded, /readyz
// reports f's lag and answers 503 "catching_up" while f says so. An error
// from f is a 503 "not_ready" with its message.
func WithReadiness(f func(context.Context) (ReadyState, error)) Option {
	return func(o *options) { o.readiness = f }
}
