package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures/images"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/serve/personal"
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
	cfg       Config
	log       *slog.Logger
	e         *echo.Echo
	metrics   *metrics
	routes    map[string]bool // registered route paths, the metric labels
	readiness func(context.Context) (ReadyState, error)
	access    map[route]Access // routeAccess and the mounted routes

	backend  atomic.Pointer[backendRef] // nil until the index is loaded
	cursors  *feed.Cursors
	draining atomic.Bool
	reqSeq   atomic.Uint64
	reqBase  string
	qSeq     atomic.Uint64

	events   EventSink // nil: no events recorded
	pseudo   *events.Pseudonymizer
	variants VariantFunc
	forget   *events.Forgetting
}

// backendRef is the loaded index and the surfaces over it.
type backendRef struct {
	Backend
	search *feed.Search
	feeds  *feed.Feeds // nil without a signals store
}

// New builds the server. b may be nil when the index is still loading: the
// server then answers /healthz and /metrics, but /readyz and the /v1 routes
// answer 503 until SetBackend is called. logger nil means slog.Default().
// opts mount more routes and middleware, and choose the metrics registry
// and what readiness adds (see Option).
func New(cfg Config, b Backend, logger *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		cfg:       cfg.withDefaults(),
		log:       logger,
		e:         echo.New(),
		routes:    map[string]bool{},
		reqBase:   newRequestIDBase(),
		readiness: o.readiness,
		events:    o.events,
		pseudo:    o.pseudo,
		variants:  o.variants,
		forget:    o.forget,
	}
	if s.events != nil && s.pseudo == nil {
		return nil, errors.New("api: WithEvents needs a pseudonymizer: user ids never leave the API raw")
	}
	if ex := s.cfg.Experiments; s.variants == nil && ex != nil {
		// The configured experiments stamp "<experiment>/<variant>".
		s.variants = func(_ context.Context, user string, e *events.Event) { e.Variant = ex.Stamp(user) }
	}
	s.cursors = s.cfg.Cursors
	if s.cursors == nil {
		s.cursors = feed.NewRandomCursors()
	}
	var err error
	if s.metrics, err = newMetrics(o.registry, s.documents); err != nil {
		return nil, fmt.Errorf("api: metrics: %w", err)
	}
	if err := s.metrics.reg.Register(scheduleCollector{s}); err != nil {
		return nil, fmt.Errorf("api: metrics: %w", err)
	}
	s.SetBackend(b)

	e := s.e
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.recover)
	if len(s.cfg.CORSOrigins) > 0 {
		e.Use(cors(s.cfg.CORSOrigins))
	}
	e.Use(s.authorize, s.timeout, s.impressions)
	if pc := s.cfg.Feeds.Personal; pc.Strength != nil && s.cfg.Signals != nil {
		// Search personalization re-ranks the cached anonymous window, so
		// it runs outside the given middleware (the cache among them), and
		// inside the impressions, which record the page as shown.
		mw, err := personal.Middleware(personal.Config{Profile: s.profile, Strength: pc.Strength, Skip: o.skipPers})
		if err != nil {
			return nil, err
		}
		e.Use(mw)
	}
	e.Use(o.middleware...)

	s.get("/v1/search", s.search)
	s.get("/v1/listings/:id", s.listing)
	s.get("/v1/parties", s.parties)
	s.get("/v1/parties/:id", s.party)
	s.get("/v1/parties/:id/feed", s.partyFeed)
	s.get("/v1/feed/following", s.following)
	s.get("/v1/feed", s.home)
	s.get("/v1/drops", s.drops)
	s.get("/v1/schedule", s.schedule)
	s.add(http.MethodPost, "/v1/events", s.postEvents)
	s.add(http.MethodPost, "/v1/users/:id/forget", s.forgetUser)
	s.get("/healthz", s.healthz)
	s.get("/readyz", s.readyz)
	s.get("/metrics", echo.WrapHandler(MetricsHandler(s.metrics.reg, logger)))
	s.get("/openapi.json", s.openapi)
	s.get(images.PathPrefix+":name", s.image)
	s.get("/docs", s.docs)
	s.get("/docs/rapidoc-min.js", s.docsViewer)
	s.access = maps.Clone(routeAccess)
	for _, r := range o.routes {
		s.add(r.method, r.path, r.h)
		s.access[route{r.method, r.path}] = r.access
	}
	if err := checkRouteAccess(s.access, e.Routes()); err != nil {
		return nil, err
	}
	return s, nil
}

// get mounts a GET route; it answers HEAD too (uptime checkers and load
// balancers probe with HEAD), with the GET's status and headers and no body.
func (s *Server) get(path string, h echo.HandlerFunc) { s.add(http.MethodGet, path, h) }

func (s *Server) add(method, path string, h echo.HandlerFunc) {
	s.routes[path] = true
	s.e.Add(method, path, h)
	if method == http.MethodGet {
		s.e.Add(http.MethodHead, path, h)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// SetBackend installs the loaded index and makes the server ready.
func (s *Server) SetBackend(b Backend) {
	if b == nil {
		s.backend.Store(nil)
		return
	}
	ref := &backendRef{Backend: b}
	sc := feed.SearchConfig{Cursors: s.cursors, Aliases: s.cfg.Aliases}
	if s.cfg.Signals != nil {
		fc := s.cfg.Feeds
		fc.Search = sc
		ref.feeds = feed.New(b, s.cfg.Signals, fc)
		ref.search = ref.feeds.Search
	} else {
		ref.search = feed.NewSearch(b, sc)
	}
	s.backend.Store(ref)
}

// profile is a user's affinity profile from the installed feeds (none
// before an index is loaded).
func (s *Server) profile(ctx context.Context, user string, now time.Time) (ranking.UserProfile, error) {
	ref := s.backend.Load()
	if ref == nil || ref.feeds == nil {
		return ranking.UserProfile{}, nil
	}
	return ref.feeds.Profile(ctx, user, now)
}

// Ready reports whether an index is installed and the server is not
// shutting down (/readyz also asks WithReadiness whether it caught up).
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
	// QueryID names this answer in events (click, add_to_cart, ...). It
	// is the first key, so a cache splices a fresh one into stored bytes.
	QueryID    string                             `json:"query_id,omitempty"`
	Total      int                                `json:"total"`
	Hits       []feed.Hit                         `json:"hits"`
	Facets     map[query.Facet][]query.FacetValue `json:"facets"`
	NextCursor *string                            `json:"next_cursor"`
	Restarted  *bool                              `json:"restarted,omitempty"`
	// Degraded lists what the answer gave up under load (HeaderDegraded).
	Degraded []string `json:"degraded,omitempty"`
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
	degrade(c, req)
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
	return writePage(c, req, res)
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
	Lag    *Lag   `json:"lag,omitempty"`
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, statusBody{Status: "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeShuttingDown, Message: "the server is shutting down"}
	}
	if !s.Ready() {
		return errNotReady
	}
	if s.readiness == nil {
		return c.JSON(http.StatusOK, statusBody{Status: "ready"})
	}
	st, err := s.readiness(c.Request().Context())
	switch {
	case err != nil:
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: "cannot tell how far behind the index is: " + err.Error()}
	case st.CatchingUp:
		msg := "the index is catching up with its change log"
		if st.Lag != nil {
			msg = fmt.Sprintf("the index is catching up with its change log: %d events behind", st.Lag.Events)
		}
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeCatchingUp, Message: msg, lag: st.Lag}
	}
	return c.JSON(http.StatusOK, statusBody{Status: "ready", Lag: st.Lag})
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
	return serve(ctx, ln, s, s.cfg, s.log, func() { s.draining.Store(true) })
}

// ServeHandler serves h on ln as Serve serves the API (the same timeouts and
// graceful shutdown), for a listener that is not the API: the loopback
// admin and metrics listener of the indexer and dev roles.
func ServeHandler(ctx context.Context, ln net.Listener, h http.Handler, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if logger == nil {
		logger = slog.Default()
	}
	return serve(ctx, ln, h, cfg.withDefaults(), logger, nil)
}

func serve(ctx context.Context, ln net.Listener, h http.Handler, cfg Config, log *slog.Logger, draining func()) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	if draining != nil {
		draining()
	}
	log.Info("shutting down", "addr", ln.Addr().String(), "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
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
