package api

import (
	"log/slog"
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live on the server's own registry, never the global one, so that
// two servers in one process (tests) do not collide.
type metrics struct {
	reg      *prometheus.Registry
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// latencyBuckets span a cached facet count (sub-millisecond) to a timeout.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(documents func() (float64, bool)) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rummage_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and status code.",
			Buckets: latencyBuckets,
		}, []string{"route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rummage_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
	}
	docs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rummage_index_documents",
		Help: "Live documents in the index (any status), read from the backend at scrape; NaN while the index is loading.",
	}, func() float64 {
		n, ok := documents()
		if !ok {
			return math.NaN()
		}
		return n
	})
	m.reg.MustRegister(m.latency, m.inFlight, docs,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
