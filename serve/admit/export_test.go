package admit

import "time"

// Observe is one control step of the scheduling shed, for the tests,
// which script the latencies instead of loading a CPU.
// arrivals are the interval's reads.
func (s *SchedShed) Observe(p99Nanos int64, arrivals int) {
	s.observe(time.Duration(p99Nanos), arrivals)
}

// Sheds and DeltaQuantile are sheds and deltaQuantile, for the tests.
var (
	Sheds         = sheds
	DeltaQuantile = deltaQuantile
)

// ReadSchedLatency is one read of the runtime's scheduling latencies.
func (s *SchedShed) ReadSchedLatency() (int64, bool) {
	d, ok := s.read()
	return int64(d), ok
}

// Arrivals are the reads since the last interval.
func (s *SchedShed) Arrivals() int64 { return s.arrivals.Load() }
