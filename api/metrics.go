package api

import (
	"errors"
	"log/slog"
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rummage/rummage/internal/metric"
)

// metrics live on the registry of WithRegistry, or on the server's own,
// never the global one, so that two servers in one process (tests) do not
// collide.
type metrics struct {
	reg         Registry
	latency     *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	disconnects prometheus.Counter
}

// latencyBuckets span a cached facet count (sub-millisecond) to a timeout.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(reg Registry, documents func() (float64, bool)) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := metric.NewSet("http")
	m := &metrics{
		reg:         reg,
		latency:     s.HistogramVec("request_duration_seconds", "Time to answer an HTTP request, by route pattern and status code.", latencyBuckets, "route", "status"),
		inFlight:    s.Gauge("requests_in_flight", "HTTP requests being answered."),
		disconnects: s.Counter("client_disconnects_total", "Requests whose client went away before the answer was written (logged at debug, status 499)."),
	}
	docs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metric.Namespace,
		Name:      "index_documents",
		Help:      "Live documents in the index (any status), read from the backend at scrape; NaN while the index is loading.",
	}, func() float64 {
		n, ok := documents()
		if !ok {
			return math.NaN()
		}
		return n
	})
	if err := s.Register(reg); err != nil {
		return nil, err
	}
	if err := reg.Register(docs); err != nil {
		return nil, err
	}
	// The process collectors may be there already (a role registered them
	// on the shared registry): one copy is enough.
	for _, c := range metric.ProcessCollectors() {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return nil, err
		}
	}
	return m, nil
}

// MetricsHandler serves g in the Prometheus exposition formats. The
// server's /metrics is one; a role without an API (rummage cdc) serves its
// registry with it.
func MetricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
