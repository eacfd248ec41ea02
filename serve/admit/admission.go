package admit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/query"
)

// Limiter is the concurrency limit Admission enforces. failsafe-go's
// adaptivelimiter.AdaptiveLimiter satisfies it. TryAcquirePermit never
// blocks; the caller Records a permit after a completed execution (its
// latency moves the limit) and Drops it after one that must not count (a
// canceled or timed-out request).
type Limiter interface {
	TryAcquirePermit() (adaptivelimiter.Permit, bool)
	Limit() int
	Inflight() int
}

// CodeOverloaded is the error code of a shed request (503).
const CodeOverloaded = "overloaded"

// Config configures Admission.
type Config struct {
	// Floor and Ceiling bound the adaptive concurrency limit; Initial is
	// where it starts (0: DefaultInitial, within them).
	Floor, Ceiling, Initial int
	// LaterShare is the part of the limit later pages (requests with a
	// cursor) may fill; the rest is kept for first pages. 0 means 0.75.
	LaterShare float64
	// DegradeAt is the part of the limit past which requests are admitted
	// degraded. 0 means 0.5; 1 turns degradation off.
	DegradeAt float64
	// Degrade is what a degraded request gives up. The zero value means
	// drop facets and cap N at query.DefaultLimit.
	Degrade query.Degradation
	// RetryAfter is what a shed answer's Retry-After says (rounded up to
	// seconds). 0 means 1 s.
	RetryAfter time.Duration
	// Budgets are time budgets per route pattern ("/v1/search"); a route
	// without one has only the server's request timeout.
	Budgets map[string]time.Duration
}

// Defaults of Config.
const (
	DefaultFloor      = 4
	DefaultCeiling    = 64
	DefaultInitial    = 8
	DefaultLaterShare = 0.75
	DefaultDegradeAt  = 0.5
)

func (c Config) withDefaults() Config {
	if c.Floor == 0 {
		c.Floor = DefaultFloor
	}
	if c.Ceiling == 0 {
		c.Ceiling = max(DefaultCeiling, c.Floor)
	}
	if c.Initial == 0 {
		c.Initial = min(max(DefaultInitial, c.Floor), c.Ceiling)
	}
	if c.LaterShare == 0 {
		c.LaterShare = DefaultLaterShare
	}
	if c.DegradeAt == 0 {
		c.DegradeAt = DefaultDegradeAt
	}
	if c.Degrade == (query.Degradation{}) {
		c.Degrade = query.Degradation{DropFacets: true, MaxLimit: query.DefaultLimit}
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = time.Second
	}
	return c
}

// Validate reports a configuration Admission cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Floor < 1 || c.Ceiling < c.Floor:
		return fmt.Errorf("admit: limits: need 1 ≤ floor (%d) ≤ ceiling (%d)", c.Floor, c.Ceiling)
	case c.Initial < c.Floor || c.Initial > c.Ceiling:
		return fmt.Errorf("admit: initial limit %d outside [%d, %d]", c.Initial, c.Floor, c.Ceiling)
	case c.LaterShare < 0 || c.LaterShare > 1:
		return fmt.Errorf("admit: later-page share %v outside [0, 1]", c.LaterShare)
	case c.DegradeAt < 0 || c.DegradeAt > 1:
		return fmt.Errorf("admit: degrade threshold %v outside [0, 1]", c.DegradeAt)
	case c.RetryAfter < 0:
		return errors.New("admit: negative Retry-After")
	}
	for r, d := range c.Budgets {
		if d <= 0 {
			return fmt.Errorf("admit: time budget of %s: %v is not positive", r, d)
		}
	}
	return nil
}

// NewLimiter is the production Limiter: failsafe-go's adaptive limiter
// between cfg's floor and ceiling, without queueing (an execution past the
// limit is refused at once, not parked).
func NewLimiter(cfg Config) Limiter {
	cfg = cfg.withDefaults()
	return adaptivelimiter.NewBuilder[any]().
		WithLimits(uint(cfg.Floor), uint(cfg.Ceiling), uint(cfg.Initial)).
		Build()
}

// Admission is the concurrency limit in front of computation.
type Admission struct {
	cfg        Config
	lim        Limiter
	retryAfter string
	shed       *prometheus.CounterVec
	degraded   prometheus.Counter
}

// New returns Admission enforcing lim (NewLimiter(cfg) in production). reg,
// when not nil, gets its metrics: rummage_admission_shed_total{reason},
// rummage_admission_degraded_total, rummage_admission_limit and
// rummage_admission_inflight.
func New(cfg Config, lim Limiter, reg prometheus.Registerer) (*Admission, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a := &Admission{
		cfg:        cfg,
		lim:        lim,
		retryAfter: retryAfterSeconds(cfg.RetryAfter),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rummage_admission_shed_total",
			Help: "Requests shed by admission control (503), by reason: later_page (a cursor page past its share of the limit) or limit.",
		}, []string{"reason"}),
		degraded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rummage_admission_degraded_total",
			Help: "Requests admitted degraded (facets dropped, N capped) because the concurrency limit was nearly full.",
		}),
	}
	err := register(reg, a.shed, a.degraded,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rummage_admission_limit", Help: "The adaptive concurrency limit."},
			func() float64 { return float64(lim.Limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rummage_admission_inflight", Help: "Requests holding an admission permit."},
			func() float64 { return float64(lim.Inflight()) }))
	if err != nil {
		return nil, err
	}
	return a, nil
}

// register registers cs on reg (none when reg is nil).
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("admit: metrics: %w", err)
		}
	}
	return nil
}

// guarded reports whether admission applies to the request: reads of the
// /v1 surfaces. Probes, /metrics and writes pass.
func guarded(c echo.Context) bool {
	m := c.Request().Method
	return (m == http.MethodGet || m == http.MethodHead) && strings.HasPrefix(c.Path(), "/v1/")
}

// later reports a later page: the request carries a cursor.
func later(c echo.Context) bool { return c.QueryParam("cursor") != "" }

// Middleware is Admission as Echo middleware (api.WithMiddleware).
func (a *Admission) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !guarded(c) {
			return next(c)
		}
		limit := a.lim.Limit()
		if later(c) && float64(a.lim.Inflight()) >= a.cfg.LaterShare*float64(limit) {
			return a.refuse(c, "later_page")
		}
		permit, ok := a.lim.TryAcquirePermit()
		if !ok {
			return a.refuse(c, "limit")
		}
		req := c.Request()
		ctx := req.Context()
		// Inflight counts this request now.
		if float64(a.lim.Inflight()) > a.cfg.DegradeAt*float64(limit) {
			ctx = query.WithDegradation(ctx, a.cfg.Degrade)
			a.degraded.Inc()
		}
		if d := a.cfg.Budgets[c.Path()]; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		if ctx != req.Context() {
			c.SetRequest(req.WithContext(ctx))
			defer c.SetRequest(req)
		}
		completed := false
		defer func() {
			if !completed { // a panic: released, not measured
				permit.Drop()
			}
		}()
		err := next(c)
		completed = true
		if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			// A request cut short says nothing about how long one takes.
			permit.Drop()
		} else {
			permit.Record()
		}
		return err
	}
}

// refuse sheds the request: 503 overloaded with Retry-After.
func (a *Admission) refuse(c echo.Context, reason string) error {
	a.shed.WithLabelValues(reason).Inc()
	c.Response().Header().Set("Retry-After", a.retryAfter)
	return errOverloaded
}

var errOverloaded = &api.Error{Status: http.StatusServiceUnavailable, Code: CodeOverloaded,
	Message: "the service is at capacity; retry after the time Retry-After says"}

// IsDegraded reports whether an answer's headers say it was degraded: such
// an answer must not be cached.
func IsDegraded(h http.Header) bool { return h.Get(api.HeaderDegraded) != "" }

// retryAfterSeconds is d in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string { return ceilSeconds(max(d, time.Second)) }
