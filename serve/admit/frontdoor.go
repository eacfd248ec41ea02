package admit

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// FrontDoor caps the /v1 reads in flight through the whole serving chain,
// cache hits included. Admission guards computation only: when a spike of
// cacheable requests alone saturates the CPU, hits queue for it and every
// answer slows, the probes' too. Past Max requests in flight, FrontDoor
// sheds at once (503 overloaded, Retry-After), in an atomic add, before
// the rate limit and the cache. Probes, /metrics and writes pass.
type FrontDoor struct {
	max        int64
	n          atomic.Int64
	retryAfter string
	shed       prometheus.Counter
}

// NewFrontDoor returns the cap; reg, when not nil, gets
// rummage_frontdoor_shed_total and rummage_frontdoor_inflight.
func NewFrontDoor(max int, retryAfter time.Duration, reg prometheus.Registerer) (*FrontDoor, error) {
	if max < 1 {
		return nil, errors.New("admit: the in-flight cap must be at least 1")
	}
	f := &FrontDoor{max: int64(max), retryAfter: retryAfterSeconds(retryAfter),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "rummage_frontdoor_shed_total",
			Help: "Requests shed at the front door (503) because the in-flight cap (--max-in-flight) was reached."})}
	err := register(reg, f.shed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rummage_frontdoor_inflight",
		Help: "/v1 reads in flight through the serving chain."}, func() float64 { return float64(f.n.Load()) }))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// InFlight is the number of requests inside.
func (f *FrontDoor) InFlight() int { return int(f.n.Load()) }

// Middleware is the cap as Echo middleware; mount it first.
func (f *FrontDoor) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !guarded(c) {
			return next(c)
		}
		if f.n.Add(1) > f.max {
			f.n.Add(-1)
			f.shed.Inc()
			c.Response().Header().Set("Retry-After", f.retryAfter)
			return errOverloaded
		}
		defer f.n.Add(-1)
		return next(c)
	}
}
