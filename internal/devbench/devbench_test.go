package devbench

import "testing"

func TestParseMetrics(t *testing.T) {
	m := ParseMetrics([]byte("# HELP x y\nrummage_cache_purged_total{changed=\"false\"} 3\nrummage_indexer_consumer_lag{topic=\"a\",partition=\"0\"} 2\nrummage_indexer_consumer_lag{topic=\"a\",partition=\"1\"} 5\n"))
	if m[`rummage_cache_purged_total{changed="false"}`] != 3 || SumSeries(m, "rummage_indexer_consumer_lag") != 7 {
		t.Errorf("%v", m)
	}
}
