package indexer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/internal/metric"
)

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
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	s := metric.NewSet("indexer")
	m := &Metrics{
		Events:         s.CounterVec("events_total", "Change events decoded, by table and op (c, u, d, r, t).", "table", "op"),
		Tombstones:     s.Counter("tombstones_total", "Null-value messages (Kafka tombstones after deletes) skipped."),
		Skipped:        s.CounterVec("skipped_events_total", "Events of tables the indexer does not handle, by table.", "table"),
		Batches:        s.Counter("batches_total", "Batches applied and committed."),
		BatchSize:      s.Histogram("batch_messages", "Messages per batch.", prometheus.ExponentialBuckets(1, 4, 9)),
		Coalesced:      s.Counter("coalesced_total", "Listing changes superseded by a newer change to the same listing in the same batch (never written)."),
		Written:        s.Counter("written_total", "Listing changes the backend applied."),
		Stale:          s.Counter("stale_total", "Listing changes the backend ignored because it held an equal or newer version."),
		Rows:           s.CounterVec("rows_total", "Changes of the social tables applied to the signals store (or counted and dropped without one), by table.", "table"),
		BadRows:        s.CounterVec("bad_rows_total", "Messages whose envelope or row does not decode (a party whose theme is not a valid saved search, a listing that fails validation), by table: logged with their key and sent to the dead-letter topic.", "table"),
		SignalsSeconds: s.Histogram("signals_apply_seconds", "Duration of a successful signals store Apply of one batch.", metric.SecondsBuckets()),
		DeadLetters:    s.CounterVec("dead_letters_total", "Messages sent to the dead-letter topic, by reason.", "reason"),
		ApplyRetries:   s.Counter("retries_total", "Failed attempts (apply, row store, dead-letter write, commit) that were retried."),
		ApplySeconds:   s.Histogram("apply_seconds", "Duration of a successful backend Apply of one batch.", metric.SecondsBuckets()),
		LastAppliedLSN: s.GaugeVec("last_applied_lsn", "Highest source LSN applied and committed, by table.", "table"),
		ConsumerLag:    s.GaugeVec("consumer_lag", "Messages behind the partition's high-water mark (as of the last fetch) after the last commit, by topic and partition.", "topic", "partition"),
	}
	s.MustRegister(reg)
	return m
}
