package admit

import "time"

// Observe is one control step of the scheduling shed, for the tests,
// which script the latencies instead of loading a CPU.
// peak is the most reads in flight at once during the interval.
func (s *SchedShed) Observe(p99Nanos int64, peak int) { s.observe(time.Duration(p99Nanos), peak) }

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

// Peak is the most reads in flight at once since the last interval.
func (s *SchedShed) Peak() int64 { return s.peak.Load() }
