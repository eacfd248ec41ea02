package metric

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSetNamesAndRegisters(t *testing.T) {
	s := NewSet("cdc")
	c := s.Counter("reconnects_total", "Reconnects.")
	v := s.CounterVec("events_total", "Events.", "table", "op")
	g := s.Gauge("lag_bytes", "Lag.")
	gv := s.GaugeVec("lsn", "LSN.", "table")
	h := s.Histogram("write_seconds", "Writes.", SecondsBuckets())
	hv := s.HistogramVec("duration_seconds", "Durations.", []float64{1}, "route")
	c.Inc()
	v.WithLabelValues("listings", "c").Add(2)
	g.Set(3)
	gv.WithLabelValues("listings").Set(4)
	h.Observe(0.5)
	hv.WithLabelValues("/v1").Observe(0.5)

	reg := prometheus.NewRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP rummage_cdc_lag_bytes Lag.
# TYPE rummage_cdc_lag_bytes gauge
rummage_cdc_lag_bytes 3
# HELP rummage_cdc_reconnects_total Reconnects.
# TYPE rummage_cdc_reconnects_total counter
rummage_cdc_reconnects_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rummage_cdc_reconnects_total", "rummage_cdc_lag_bytes"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 6 {
		t.Errorf("gathered %d metrics (err %v), want the 6 of the set", n, err)
	}
	// The same names again conflict.
	again := NewSet("cdc")
	again.Counter("reconnects_total", "Reconnects.")
	if err := again.Register(reg); err == nil {
		t.Error("registering a name twice succeeded")
	}
}

func TestNilRegistererRegistersNothing(t *testing.T) {
	s := NewSet("x")
	c := s.Counter("n_total", "N.")
	if err := s.Register(nil); err != nil {
		t.Fatal(err)
	}
	c.Add(2)
	if got := testutil.ToFloat64(c); got != 2 {
		t.Errorf("unregistered counter = %v, want 2", got)
	}
}

func TestSecondsBuckets(t *testing.T) {
	b := SecondsBuckets()
	if len(b) != 14 || b[0] != 0.001 || b[13] != 0.001*(1<<13) {
		t.Errorf("SecondsBuckets = %v, want 1 ms doubling to 8.192 s", b)
	}
}
