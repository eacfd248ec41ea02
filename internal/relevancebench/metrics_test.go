package relevancebench

import (
	"math"
	"testing"
)

func TestMetrics(t *testing.T) {
	rel := map[string]int{"a": 3, "b": 1}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if got := ndcg([]string{"a", "b", "c"}, rel, 10); !near(got, 1) {
		t.Errorf("ideal order: ndcg %v", got)
	}
	want := (1/math.Log2(2) + 7/math.Log2(3)) / (7/math.Log2(2) + 1/math.Log2(3))
	if got := ndcg([]string{"b", "a"}, rel, 10); !near(got, want) {
		t.Errorf("swapped: ndcg %v, want %v", got, want)
	}
	if got := ndcg([]string{"x", "y"}, rel, 10); got != 0 {
		t.Errorf("no hit: ndcg %v", got)
	}
	if got := recall([]string{"x", "b", "y"}, rel, 24); !near(got, 0.5) {
		t.Errorf("recall %v", got)
	}
	if got := recall([]string{"x", "b"}, rel, 1); got != 0 {
		t.Errorf("recall@1 %v", got)
	}
	if got := mrr([]string{"x", "y", "b"}, rel, 24); !near(got, 1.0/3) {
		t.Errorf("mrr %v", got)
	}
	var s scorer
	s.add([]string{"a"}, rel)
	s.add([]string{"z"}, rel)
	if m := s.mean(); m.Units != 2 || !near(m.MRR, 0.5) {
		t.Errorf("mean %+v", m)
	}
}
