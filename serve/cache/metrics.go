package cache

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the cache's Prometheus metrics. The over-purge ratio is
// rummage_cache_purged_total{changed="false"} over the sum of both labels:
// entries invalidated whose next fill answered the same.
type Metrics struct {
	Requests      *prometheus.CounterVec // result: hit, stale, miss, bypass
	Coalesced     prometheus.Counter
	Fills         prometheus.Counter
	Discarded     prometheus.Counter
	Invalidations prometheus.Counter
	Stale         prometheus.Counter
	Purged        *prometheus.CounterVec // changed: true, false
	Cleared       prometheus.Counter
	PurgeErrors   prometheus.Counter
	Prewarmed     prometheus.Counter
	bytes         func() uint64
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "rummage_cache_" + name, Help: help})
	}
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rummage_cache_requests_total",
			Help: "Cacheable requests by result: hit, stale (served while one refresh runs), miss, bypass (not cacheable)."}, []string{"result"}),
		Coalesced:     c("coalesced_total", "Misses that waited on another caller's fill instead of computing."),
		Fills:         c("fills_total", "Fills run (misses and refreshes, after coalescing)."),
		Discarded:     c("fills_discarded_total", "Fills not stored: an invalidation of a dependency was applied after they began."),
		Invalidations: c("invalidations_total", "Dependencies invalidated (after coalescing)."),
		Stale:         c("stale_marked_total", "Entries marked stale by an invalidation."),
		Purged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rummage_cache_purged_total",
			Help: "Invalidated entries replaced by a fill, by whether the answer changed (changed=false is over-purge)."}, []string{"changed"}),
		Cleared:     c("cleared_total", "Times the whole cache was dropped."),
		PurgeErrors: c("purge_hook_errors_total", "Purge webhook calls that failed."),
		Prewarmed:   c("prewarmed_total", "Entries computed ahead as of a coming drop instant or party boundary (staged to switch in at it)."),
	}
}

// Register registers the metrics, and a gauge of the bytes held, on r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.Requests, m.Coalesced, m.Fills, m.Discarded, m.Invalidations, m.Stale, m.Purged, m.Cleared, m.PurgeErrors, m.Prewarmed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rummage_cache_bytes", Help: "Bytes of the cached entries."}, func() float64 {
			if m.bytes == nil {
				return 0
			}
			return float64(m.bytes())
		})} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
