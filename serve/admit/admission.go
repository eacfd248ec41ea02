package admit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	// Steps are the degradation steps' thresholds: the parts of the limit
	// past which each switches on. The zero value means DefaultSteps;
	// any other is taken as it is (a threshold of 0 is always on).
	Steps Steps
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
)

// Steps are the degradation steps, each with the part of the concurrency
// limit past which it switches on: a request is admitted with every step
// whose threshold the requests in flight, itself counted, exceed. A
// threshold of 1 turns its step off (the requests in flight never exceed
// the limit). The defaults (DefaultSteps) order them by the CPU each saves
// per quality it loses, as measured (docs/admission.md): re-ranking first,
// then the page size, then facets.
type Steps struct {
	// Personalization: answer a personalized search with the anonymous
	// page (package serve/personal asks SkipPersonalization).
	Personalization float64
	// Limit: cap the page size at MaxLimit.
	Limit float64
	// Facets: answer without facet counts.
	Facets float64
	// MaxLimit is the page size Limit caps at; 0 means query.DefaultLimit.
	MaxLimit int
}

// DefaultSteps are the measured order's thresholds.
var DefaultSteps = Steps{Personalization: 0.5, Limit: 0.65, Facets: 0.8, MaxLimit: query.DefaultLimit}

// The steps, in their default order, and their names, as in the answers'
// "degraded" lists and the metrics' step label.
const (
	stepPersonalization = iota
	stepLimit
	stepFacets
)

var stepNames = [...]string{stepPersonalization: query.DegradedPersonalization, stepLimit: query.DegradedLimit, stepFacets: query.DegradedFacets}

// String is s's thresholds as ParseSteps reads them.
func (s Steps) String() string {
	parts := make([]string, len(stepNames))
	for i, t := range s.thresholds() {
		parts[i] = stepNames[i] + "=" + strconv.FormatFloat(t, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (s Steps) thresholds() [len(stepNames)]float64 {
	return [...]float64{stepPersonalization: s.Personalization, stepLimit: s.Limit, stepFacets: s.Facets}
}

// ParseSteps reads the thresholds of --degrade-at: one fraction for every
// step ("0.5"), or step=fraction pairs ("personalization=0.5,limit=0.65,
// facets=0.8"), the steps not named keeping DefaultSteps'.
func ParseSteps(s string) (Steps, error) {
	st := DefaultSteps
	s = strings.TrimSpace(s)
	if s == "" {
		return st, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		st.Personalization, st.Limit, st.Facets = f, f, f
		return st, st.validate()
	}
	for part := range strings.SplitSeq(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			return Steps{}, fmt.Errorf("admit: degradation step %q: want step=fraction", part)
		}
		switch strings.TrimSpace(name) {
		case query.DegradedPersonalization:
			st.Personalization = f
		case query.DegradedLimit:
			st.Limit = f
		case query.DegradedFacets:
			st.Facets = f
		default:
			return Steps{}, fmt.Errorf("admit: unknown degradation step %q (personalization, limit, facets)", name)
		}
	}
	return st, st.validate()
}

func (s Steps) validate() error {
	for i, t := range s.thresholds() {
		if !(t >= 0 && t <= 1) {
			return fmt.Errorf("admit: degradation step %s: threshold %v outside [0, 1]", stepNames[i], t)
		}
	}
	if s.MaxLimit < 0 || s.MaxLimit > query.MaxLimit {
		return fmt.Errorf("admit: degraded page size %d outside [1, %d]", s.MaxLimit, query.MaxLimit)
	}
	return nil
}

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
	if c.Steps == (Steps{}) {
		c.Steps = DefaultSteps
	}
	if c.Steps.MaxLimit == 0 {
		c.Steps.MaxLimit = query.DefaultLimit
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
	case c.RetryAfter < 0:
		return errors.New("admit: negative Retry-After")
	}
	if err := c.Steps.validate(); err != nil {
		return err
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
	degraded   [len(stepNames)]prometheus.Counter
}

// New returns Admission enforcing lim (NewLimiter(cfg) in production). reg,
// when not nil, gets its metrics: rummage_admission_shed_total{reason},
// rummage_admission_degraded_total{step}, rummage_admission_limit and
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
	}
	degraded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rummage_admission_degraded_total",
		Help: "Requests admitted with a degradation step on because the concurrency limit was filling, by step: personalization (re-ranking skipped), limit (page size capped), facets (dropped); a request that asked for nothing the step gives up is answered whole.",
	}, []string{"step"})
	for i, n := range stepNames {
		a.degraded[i] = degraded.WithLabelValues(n)
	}
	err := register(reg, a.shed, degraded,
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
		if d, ok := a.degradation(a.lim.Inflight(), limit); ok {
			ctx = query.WithDegradation(ctx, d)
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

// degradation is what a request admitted with inflight requests in flight
// (itself counted) of limit gives up, counted per step; ok is false when
// it gives up nothing. Personalization is not among them: it is decided
// above the cache (SkipPersonalization).
func (a *Admission) degradation(inflight, limit int) (d query.Degradation, ok bool) {
	if a.on(a.cfg.Steps.Limit, inflight, limit) {
		d.MaxLimit = a.cfg.Steps.MaxLimit
		a.degraded[stepLimit].Inc()
	}
	if a.on(a.cfg.Steps.Facets, inflight, limit) {
		d.DropFacets = true
		a.degraded[stepFacets].Inc()
	}
	return d, d != (query.Degradation{})
}

// on reports whether a step of threshold t is on with inflight of limit.
func (a *Admission) on(t float64, inflight, limit int) bool {
	return float64(inflight) > t*float64(limit)
}

// SkipPersonalization reports whether a personalized search arriving now
// should be answered with the anonymous page instead (the personalization
// step; package serve/personal asks it, above the cache): the requests in
// flight, this one counted as if admitted, are past Steps.Personalization
// of the limit. A true answer is counted.
func (a *Admission) SkipPersonalization() bool {
	if !a.on(a.cfg.Steps.Personalization, a.lim.Inflight()+1, a.lim.Limit()) {
		return false
	}
	a.degraded[stepPersonalization].Inc()
	return true
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
