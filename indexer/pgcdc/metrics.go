package pgcdc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/indexer/change"
)

// Metrics are the CDC's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	lagBytes     prometheus.Gauge
	lagSeconds   prometheus.Gauge
	events       *prometheus.CounterVec
	confirmedLSN prometheus.Gauge
	reconnects   prometheus.Counter
	batchSize    prometheus.Histogram
	writeSeconds prometheus.Histogram
	toastMissing prometheus.Counter
	skipped      prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lagBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rummage_cdc_replication_lag_bytes",
			Help: "Server WAL end minus the LSN confirmed after Kafka acknowledged it.",
		}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rummage_cdc_replication_lag_seconds",
			Help: "Now minus the commit time of the last transaction acknowledged downstream; 0 when caught up.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rummage_cdc_events_total",
			Help: "Change events acknowledged by the sink, by table and op.",
		}, []string{"table", "op"}),
		confirmedLSN: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rummage_cdc_confirmed_lsn",
			Help: "The LSN confirmed to the replication slot (as a number).",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rummage_cdc_reconnects_total",
			Help: "Replication sessions restarted after an error.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rummage_cdc_batch_events",
			Help:    "Events per sink write.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rummage_cdc_sink_write_seconds",
			Help:    "Time for the sink to acknowledge a batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		toastMissing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rummage_cdc_toast_unavailable_total",
			Help: "Unchanged TOASTed values that could not be recovered and were left out of an event (never written as null).",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rummage_cdc_skipped_transactions_total",
			Help: "Replayed transactions skipped because their commit LSN was already confirmed (e.g. slot rewind after a Postgres restart).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.lagBytes, m.lagSeconds, m.events, m.confirmedLSN, m.reconnects, m.batchSize, m.writeSeconds, m.toastMissing, m.skipped)
	}
	return m
}

func (m *Metrics) observeWrite(batch []change.Event, d time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(len(batch)))
	m.writeSeconds.Observe(d.Seconds())
	// Count per (table, op) without a map for the common single-table runs.
	var table string
	var op change.Op
	n := 0
	for i := range batch {
		e := &batch[i]
		if e.Source.Table != table || e.Op != op {
			if n > 0 {
				m.events.WithLabelValues(table, string(op)).Add(float64(n))
			}
			table, op, n = e.Source.Table, e.Op, 0
		}
		n++
	}
	if n > 0 {
		m.events.WithLabelValues(table, string(op)).Add(float64(n))
	}
}
