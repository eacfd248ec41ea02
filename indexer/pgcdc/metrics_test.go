package pgcdc

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage/indexer/change"
)

func readCounter(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

func TestMetricsObserveWrite(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.observeWrite([]change.Event{
		{Op: change.OpCreate, Source: change.Source{Table: "listings"}},
		{Op: change.OpCreate, Source: change.Source{Table: "listings"}},
		{Op: change.OpDelete, Source: change.Source{Table: "listings"}},
		{Op: change.OpCreate, Source: change.Source{Table: "likes"}},
	}, 0)
	if got := testutil.ToFloat64(m.events.WithLabelValues("listings", "c")); got != 2 {
		t.Fatalf("listings/c = %v", got)
	}
	if got := testutil.ToFloat64(m.events.WithLabelValues("likes", "c")); got != 1 {
		t.Fatalf("likes/c = %v", got)
	}
	var nilM *Metrics
	nilM.observeWrite(nil, 0) // nil-safe
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
}
