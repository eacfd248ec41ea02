package admit

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// SchedShed sheds /v1 reads while the Go scheduler runs late. When a
// spike saturates the CPU, the requests that wait are not yet anywhere a
// middleware can count them: their connections' goroutines wait to run,
// behind each other, and an in-flight cap or a concurrency limit never
// sees the queue. The scheduler does: runtime/metrics'
// /sched/latencies:seconds is how long each goroutine waited between
// becoming runnable and running, the same wait every request and every
// /healthz probe pays before its first line runs.
//
// Every Interval SchedShed reads that histogram, takes the p99 of the
// interval's waits and moves a shed level in [0, MaxLevel]: up by Step
// while the p99 is above Target and the reads are part of the load (at
// least MinArrivals of them arrived during the interval: a background job
// alone, an index build, is not shed against; the reads that wait are not
// in flight anywhere a count sees, so arrivals are the measure), down by
// Step/5 once it is below half of it (a fast rise, a slow release, so that
// it does not oscillate). A read
// is shed (503 overloaded, Retry-After) with a probability from the level,
// later pages (with a cursor) first: they go at min(1, 2·level), first
// pages at max(0, 2·level−1). A shed costs an atomic load and a random
// draw before the rate limit, the cache and the handler, so shedding frees
// the CPU the queue needs; probes, /metrics and writes pass.
type SchedShed struct {
	cfg        SchedShedConfig
	retryAfter string
	level      atomic.Uint64 // math.Float64bits
	p99        atomic.Int64  // the last interval's, nanoseconds
	arrivals   atomic.Int64  // /v1 reads since the last interval, shed or not
	shed       *prometheus.CounterVec

	sample []metrics.Sample // one: schedLatencies
	prev   []uint64
}

// SchedShedConfig configures SchedShed.
type SchedShedConfig struct {
	// Target is the p99 scheduling latency above which shedding rises.
	Target time.Duration
	// Interval is how often the latency is read (0: 50 ms).
	Interval time.Duration
	// Step is how much the level rises per late interval (0: 0.1).
	Step float64
	// MaxLevel bounds the level (0: 0.95): some first pages always get in,
	// so the latency they see keeps telling whether the spike is over.
	MaxLevel float64
	// MinArrivals is how many reads must have arrived in an interval for
	// a late one to raise the level (0: 25, 500 a second at 50 ms).
	MinArrivals int
	// RetryAfter is what a shed answer's Retry-After says (0: 1 s).
	RetryAfter time.Duration
}

// schedLatencies is the runtime metric SchedShed reads.
const schedLatencies = "/sched/latencies:seconds"

// NewSchedShed returns the shedder; reg, when not nil, gets
// rummage_sched_latency_p99_seconds, rummage_sched_shed_level and
// rummage_sched_shed_total{page}. Run must run for the level to move.
func NewSchedShed(cfg SchedShedConfig, reg prometheus.Registerer) (*SchedShed, error) {
	if cfg.Target <= 0 {
		return nil, errors.New("admit: the scheduling latency target must be positive")
	}
	if cfg.Interval == 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	if cfg.Step == 0 {
		cfg.Step = 0.1
	}
	if cfg.MaxLevel == 0 {
		cfg.MaxLevel = 0.95
	}
	if cfg.MinArrivals == 0 {
		cfg.MinArrivals = 25
	}
	if cfg.MinArrivals < 0 || cfg.Interval < 0 || cfg.Step < 0 || cfg.Step > 1 || cfg.MaxLevel < 0 || cfg.MaxLevel > 1 {
		return nil, errors.New("admit: the scheduling shed's interval, step and level must be positive (step and level at most 1)")
	}
	s := &SchedShed{cfg: cfg, retryAfter: retryAfterSeconds(cfg.RetryAfter),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rummage_sched_shed_total",
			Help: "Requests shed at the front door (503) because the Go scheduler ran late (--shed-sched-latency), by page (first, later)."}, []string{"page"})}
	s.sample = []metrics.Sample{{Name: schedLatencies}}
	err := register(reg, s.shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rummage_sched_latency_p99_seconds",
			Help: "p99 of the Go scheduler's latency (runnable to running) over the last interval."}, func() float64 { return time.Duration(s.p99.Load()).Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rummage_sched_shed_level",
			Help: "The scheduling shed's level in [0, 1]: later pages are shed at min(1, 2·level), first pages at max(0, 2·level−1)."}, s.Level))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Level is the current shed level.
func (s *SchedShed) Level() float64 { return math.Float64frombits(s.level.Load()) }

// Run reads the scheduler's latencies every Interval until ctx ends.
func (s *SchedShed) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	s.read() // the baseline
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p99, _ := s.read() // none: no goroutine ran, nothing waits
			s.observe(p99, int(s.arrivals.Swap(0)))
		}
	}
}

// read returns the p99 of the waits since the last read (false: none, or
// the runtime does not have the metric).
func (s *SchedShed) read() (time.Duration, bool) {
	metrics.Read(s.sample)
	if s.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0, false
	}
	h := s.sample[0].Value.Float64Histogram()
	if len(s.prev) != len(h.Counts) {
		s.prev = append(s.prev[:0], h.Counts...)
		return 0, false
	}
	p99, ok := deltaQuantile(h.Buckets, h.Counts, s.prev, 0.99)
	copy(s.prev, h.Counts)
	return p99, ok
}

// deltaQuantile is the q-quantile of the observations counts−prev of a
// histogram with the given bucket boundaries (len(counts)+1 of them): the
// upper boundary of the bucket where it falls (its lower one when the
// upper is +Inf).
func deltaQuantile(buckets []float64, counts, prev []uint64, q float64) (time.Duration, bool) {
	var total uint64
	for i := range counts {
		total += counts[i] - prev[i]
	}
	if total == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for i := range counts {
		if cum += counts[i] - prev[i]; cum >= rank {
			edge := buckets[i+1]
			if math.IsInf(edge, 1) {
				edge = buckets[i]
			}
			return time.Duration(edge * float64(time.Second)), true
		}
	}
	return 0, false
}

// observe is one control step on an interval's p99 and its arrivals.
func (s *SchedShed) observe(p99 time.Duration, arrivals int) {
	s.p99.Store(int64(p99))
	l := s.Level()
	switch {
	case p99 > s.cfg.Target && arrivals >= s.cfg.MinArrivals:
		l = min(s.cfg.MaxLevel, l+s.cfg.Step)
	case p99 < s.cfg.Target/2:
		l = max(0, l-s.cfg.Step/5)
	}
	s.level.Store(math.Float64bits(l))
}

// sheds reports whether a read at level l goes, from a draw u in [0, 1).
func sheds(l, u float64, later bool) bool {
	if later {
		return u < min(1, 2*l)
	}
	return u < max(0, 2*l-1)
}

// Middleware is the shedder as Echo middleware; mount it first.
func (s *SchedShed) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		l := s.Level()
		if !guarded(c) {
			return next(c)
		}
		s.arrivals.Add(1)
		lp := later(c)
		if l == 0 || !sheds(l, rand.Float64(), lp) {
			return next(c)
		}
		page := "first"
		if lp {
			page = "later"
		}
		s.shed.WithLabelValues(page).Inc()
		c.Response().Header().Set("Retry-After", s.retryAfter)
		return errOverloaded
	}
}
