package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/query"
)

// Backend is what the API needs from an index: retrieval and documents for
// the surfaces of package feed, one listing for /v1/listings/{id}, and the
// index size for /metrics (read at every scrape). query.Backend satisfies
// it. Implementations must be safe for concurrent use and honour ctx: the
// request deadline is carried there. A *query.InvalidError they return is
// answered as a 400.
type Backend interface {
	feed.Retriever
	query.Getter
	query.Stater
}

// Server is the HTTP API. It is an http.Handler; Serve runs it with graceful
// shutdown.
type Server struct {
	cfg     Config
	log     *slog.Logger
	e       *echo.Echo
	metrics *metrics
	routes  map[string]bool // registered route paths, the metric labels

	backend  atomic.Pointer[backendRef] // nil until the index is loaded
	cursors  *feed.Cursors
	draining atomic.Bool
	reqSeq   atomic.Uint64
	reqBase  string
}

// backendRef is the loaded index and the surfaces over it.
type backendRef struct {
	Backend
	search *feed.Search
}

// New builds the server. b may be nil when the index is still loading: the
// server then answers /healthz and /metrics, but /readyz and the /v1 routes
// answer 503 until SetBackend is called. logger nil means slog.Default().
func New(cfg Config, b Backend, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		cfg:     cfg.withDefaults(),
		log:     logger,
		e:       echo.New(),
		routes:  map[string]bool{},
		reqBase: newRequestIDBase(),
	}
	s.cursors = s.cfg.Cursors
	if s.cursors == nil {
		s.cursors = feed.NewRandomCursors()
	}
	s.SetBackend(b)
	s.metrics = newMetrics(s.documents)

	e := s.e
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.recover, s.authorize, s.timeout)

	s.get("/v1/search", s.search)
	s.get("/v1/listings/:id", s.listing)
	s.get("/healthz", s.healthz)
	s.get("/readyz", s.readyz)
	s.get("/metrics", echo.WrapHandler(s.metrics.handler(logger)))
	s.get("/openapi.json", s.openapi)
	if err := checkRouteAccess(e.Routes()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) get(path string, h echo.HandlerFunc) {
	s.routes[path] = true
	s.e.GET(path, h)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// SetBackend installs the loaded index and makes the server ready.
func (s *Server) SetBackend(b Backend) {
	if b == nil {
		s.backend.Store(nil)
		return
	}
	s.backend.Store(&backendRef{Backend: b, search: feed.NewSearch(b, feed.SearchConfig{Cursors: s.cursors, Aliases: s.cfg.Aliases})})
}

// Ready reports whether /readyz answers 200: an index is installed and the
// server is not shutting down.
func (s *Server) Ready() bool { return s.backend.Load() != nil && !s.draining.Load() }

// errNotReady is the answer of the /v1 routes before the index is loaded.
var errNotReady = &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: "the index is still loading; try again shortly"}

func (s *Server) loaded() (*backendRef, error) {
	ref := s.backend.Load()
	if ref == nil {
		return nil, errNotReady
	}
	return ref, nil
}

// searchResponse is the v1 search answer. All four keys are always present.
type searchResponse struct {
	Total      int                                `json:"total"`
	Hits       []feed.Hit                         `json:"hits"`
	Facets     map[query.Facet][]query.FacetValue `json:"facets"`
	NextCursor *string                            `json:"next_cursor"`
}

func (s *Server) search(c echo.Context) error {
	v, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeMalformedQuery, Message: "the query string is not valid URL encoding"}
	}
	req, err := ParseSearch(v)
	if err != nil {
		return err
	}
	b, err := s.loaded()
	if err != nil {
		return err
	}
	res, err := b.search.Search(c.Request().Context(), req)
	if err != nil {
		var ie *query.InvalidError
		if errors.As(err, &ie) {
			return err
		}
		return fmt.Errorf("search: %w", err)
	}
	out := searchResponse{Total: res.Total, Hits: res.Hits, Facets: res.Facets}
	if out.Hits == nil {
		out.Hits = []feed.Hit{}
	}
	if out.Facets == nil {
		out.Facets = map[query.Facet][]query.FacetValue{}
	}
	for _, f := range req.Facets {
		if out.Facets[f] == nil {
			out.Facets[f] = []query.FacetValue{}
		}
	}
	if res.NextCursor != "" {
		out.NextCursor = &res.NextCursor
	}
	return c.JSON(http.StatusOK, &out)
}

func (s *Server) listing(c echo.Context) error {
	id := c.Param("id")
	if c.Request().URL.RawPath != "" {
		// The router matched the escaped path; its parameters are escaped too.
		u, err := url.PathUnescape(id)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Code: "invalid_value", Field: "id", Message: "the id is not valid URL encoding"}
		}
		id = u
	}
	if id == "" || len(id) > rummage.MaxIDLen {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "id", Message: "listing not found"}
	}
	b, err := s.loaded()
	if err != nil {
		return err
	}
	l, err := b.Get(c.Request().Context(), id)
	if errors.Is(err, query.ErrNotFound) || (err == nil && !s.mayOpen(c, l)) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "id", Message: fmt.Sprintf("listing %q not found", id)}
	}
	if err != nil {
		return fmt.Errorf("get listing: %w", err)
	}
	return c.JSON(http.StatusOK, l)
}

// mayOpen reports whether the listing page may be shown: a removed listing
// and a drop before its instant are not there for shoppers (no way around
// a drop); a sold or reserved one still opens, its status saying so.
// Admin callers see everything.
func (s *Server) mayOpen(c echo.Context, l *rummage.Listing) bool {
	if isAdmin(c) {
		return true
	}
	if l.Status == rummage.StatusRemoved {
		return false
	}
	return l.AvailableAt == nil || !l.AvailableAt.After(time.Now())
}

// isAdmin reports whether the request carries an admin key.
func isAdmin(c echo.Context) bool {
	cl, _ := CallerFrom(c.Request().Context())
	return cl.Key != nil && cl.Key.Kind == keys.Admin
}

type statusBody struct {
	Status string `json:"status"`
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, statusBody{"ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeShuttingDown, Message: "the server is shutting down"}
	}
	if !s.Ready() {
		return errNotReady
	}
	return c.JSON(http.StatusOK, statusBody{"ready"})
}

// documents reads the index size for the metrics gauge; NaN when unknown.
func (s *Server) documents() (float64, bool) {
	b, err := s.loaded()
	if err != nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := b.Stats(ctx)
	if err != nil {
		s.log.Warn("index stats for /metrics", "err", err)
		return 0, false
	}
	return float64(st.Documents), true
}

// Serve answers on ln until ctx is done, then shuts down gracefully: /readyz
// turns 503 at once, no new connections are accepted, and in-flight requests
// get up to Config.ShutdownTimeout to finish before the rest are closed. It
// returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return s.Serve(ctx, ln)
}
