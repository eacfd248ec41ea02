package metric

import (
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of Rummage.
const Namespace = "rummage"

// Set creates collectors named rummage_<subsystem>_<name> and remembers
// them, so that Register registers every one of them.
type Set struct {
	subsystem string
	all       []prometheus.Collector
}

// NewSet returns an empty set for one subsystem ("cdc", "indexer", "http").
func NewSet(subsystem string) *Set { return &Set{subsystem: subsystem} }

func add[C prometheus.Collector](s *Set, c C) C {
	s.all = append(s.all, c)
	return c
}

func (s *Set) opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: Namespace, Subsystem: s.subsystem, Name: name, Help: help}
}

func (s *Set) histOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{Namespace: Namespace, Subsystem: s.subsystem, Name: name, Help: help, Buckets: buckets}
}

// Counter adds a counter.
func (s *Set) Counter(name, help string) prometheus.Counter {
	return add(s, prometheus.NewCounter(prometheus.CounterOpts(s.opts(name, help))))
}

// CounterVec adds a counter with labels.
func (s *Set) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return add(s, prometheus.NewCounterVec(prometheus.CounterOpts(s.opts(name, help)), labels))
}

// Gauge adds a gauge.
func (s *Set) Gauge(name, help string) prometheus.Gauge {
	return add(s, prometheus.NewGauge(prometheus.GaugeOpts(s.opts(name, help))))
}

// GaugeVec adds a gauge with labels.
func (s *Set) GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return add(s, prometheus.NewGaugeVec(prometheus.GaugeOpts(s.opts(name, help)), labels))
}

// Histogram adds a histogram with the given bucket upper bounds.
func (s *Set) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return add(s, prometheus.NewHistogram(s.histOpts(name, help, buckets)))
}

// HistogramVec adds a histogram with labels.
func (s *Set) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return add(s, prometheus.NewHistogramVec(s.histOpts(name, help, buckets), labels))
}

// Register registers every collector of the set with reg, stopping at the
// first that fails (a name already registered). A nil reg registers
// nothing: the collectors still work, unexported.
func (s *Set) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range s.all {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// MustRegister is Register, panicking on a failure as
// prometheus.MustRegister does.
func (s *Set) MustRegister(reg prometheus.Registerer) {
	if err := s.Register(reg); err != nil {
		panic(err)
	}
}

// SecondsBuckets are the buckets of a duration in seconds: 1 ms to 8 s,
// doubling (a batch write, a fetch, a commit).
func SecondsBuckets() []float64 { return prometheus.ExponentialBuckets(0.001, 2, 14) }

// ProcessCollectors are the Go runtime's and the process's collectors, one
// set a registry. The Go collector adds the scheduler's latencies
// (go_sched_latencies_seconds, runnable to running): the wait every request
// pays before its handler runs, which a request histogram cannot see.
func ProcessCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}
