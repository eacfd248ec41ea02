package pgcdc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/internal/metric"
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
	s := metric.NewSet("cdc")
	m := &Metrics{
		lagBytes:     s.Gauge("replication_lag_bytes", "Server WAL end minus the LSN confirmed after Kafka acknowledged it."),
		lagSeconds:   s.Gauge("replication_lag_seconds", "Now minus the commit time of the last transaction acknowledged downstream; 0 when caught up."),
		events:       s.CounterVec("events_total", "Change events acknowledged by the sink, by table and op.", "table", "op"),
		confirmedLSN: s.Gauge("confirmed_lsn", "The LSN confirmed to the replication slot (as a number)."),
		reconnects:   s.Counter("reconnects_total", "Replication sessions restarted after an error."),
		batchSize:    s.Histogram("batch_events", "Events per sink write.", prometheus.ExponentialBuckets(1, 4, 8)),
		writeSeconds: s.Histogram("sink_write_seconds", "Time for the sink to acknowledge a batch.", metric.SecondsBuckets()),
		toastMissing: s.Counter("toast_unavailable_total", "Unchanged TOASTed values that could not be recovered and were left out of an event (never written as null)."),
		skipped:      s.Counter("skipped_transactions_total", "Replayed transactions skipped because their commit LSN was already confirmed (e.g. slot rewind after a Postgres restart)."),
	}
	s.MustRegister(reg)
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
