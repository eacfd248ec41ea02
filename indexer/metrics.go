package indexer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the indexer's Prometheus metrics. Create them once per registry
// with NewMetrics; the fields are exported for tests and dashboards.
type Metrics struct {
	Events         *prometheus.CounterVec // decoded events by table and op
	Tombstones     prometheus.Counter     // null-value messages skipped
	Skipped        *prometheus.CounterVec // events of tables not handled, by table
	Batches        prometheus.Counter     // batches committed
	BatchSize      prometheus.Histogram   // messages per batch
	Coalesced      prometheus.Counter     // listing changes superseded within their batch
	Written        prometheus.Counter     // changes the backend applied
	Stale          prometheus.Counter     // changes the backend ignored as stale or duplicate
	Rows           *prometheus.CounterVec // social changes applied to the signals store, by table
	BadRows        *prometheus.CounterVec // rows that do not decode (dead-lettered), by table
	SignalsSeconds prometheus.Histogram   // time of a successful signals store Apply of one batch
	DeadLetters    *prometheus.CounterVec // messages sent to the dead-letter sink, by reason
	ApplyRetries   prometheus.Counter     // failed Apply (or RowStore, DLQ, commit) attempts retried
	ApplySeconds   prometheus.Histogram   // time of a successful Apply of one batch
	LastAppliedLSN *prometheus.GaugeVec   // highest version applied, by table (float64: exact below 2^53)
	ConsumerLag    *prometheus.GaugeVec   // by topic and partition: high-water mark minus committed offset
	all            []prometheus.Collector
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "rummage", "indexer"
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Change events decoded, by table and op (c, u, d, r, t)."}, []string{"table", "op"}),
		Tombstones: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tombstones_total",
			Help: "Null-value messages (Kafka tombstones after deletes) skipped."}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "skipped_events_total",
			Help: "Events of tables the indexer does not handle, by table."}, []string{"table"}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "batches_total",
			Help: "Batches applied and committed."}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_messages",
			Help: "Messages per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		Coalesced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "coalesced_total",
			Help: "Listing changes superseded by a newer change to the same listing in the same batch (never written)."}),
		Written: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "written_total",
			Help: "Listing changes the backend applied."}),
		Stale: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stale_total",
			Help: "Listing changes the backend ignored because it held an equal or newer version."}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rows_total",
			Help: "Changes of the social tables applied to the signals store (or counted and dropped without one), by table."}, []string{"table"}),
		BadRows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bad_rows_total",
			Help: "Messages whose envelope or row does not decode (a party whose theme is not a valid saved search, a listing that fails validation), by table: logged with their key and sent to the dead-letter topic."}, []string{"table"}),
		SignalsSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "signals_apply_seconds",
			Help: "Duration of a successful signals store Apply of one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_letters_total",
			Help: "Messages sent to the dead-letter topic, by reason."}, []string{"reason"}),
		ApplyRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Failed attempts (apply, row store, dead-letter write, commit) that were retried."}),
		ApplySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "apply_seconds",
			Help: "Duration of a successful backend Apply of one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		LastAppliedLSN: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_applied_lsn",
			Help: "Highest source LSN applied and committed, by table."}, []string{"table"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "consumer_lag",
			Help: "Messages behind the partition's high-water mark (as of the last fetch) after the last commit, by topic and partition."}, []string{"topic", "partition"}),
	}
	m.all = []prometheus.Collector{m.Events, m.Tombstones, m.Skipped, m.Batches, m.BatchSize, m.Coalesced, m.Written,
		m.Stale, m.Rows, m.BadRows, m.SignalsSeconds, m.DeadLetters, m.ApplyRetries, m.ApplySeconds, m.LastAppliedLSN, m.ConsumerLag}
	if reg != nil {
		for _, c := range m.all {
			reg.MustRegister(c)
		}
	}
	return m
}
