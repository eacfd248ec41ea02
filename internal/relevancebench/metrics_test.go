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

// TestLiftInterval: the paired interval holds the observed lift, is
// narrow when every unit gains alike, and is refused without a baseline.
func TestLiftInterval(t *testing.T) {
	var a, p, zero scorer
	for i := range 200 {
		x := float64(i%10+1) / 20
		a.ndcgs, p.ndcgs = append(a.ndcgs, x), append(p.ndcgs, 1.5*x)
		zero.ndcgs = append(zero.ndcgs, 0)
	}
	iv, ok := liftInterval(&p, &a, 1)
	if !ok || math.Abs(iv.Low-0.5) > 1e-9 || math.Abs(iv.High-0.5) > 1e-9 {
		t.Errorf("uniform +50 %%: %+v %v", iv, ok)
	}
	// Noise: half the units gain, half lose; the interval straddles the
	// mean lift.
	var q scorer
	for i, x := range a.ndcgs {
		q.ndcgs = append(q.ndcgs, x*float64(1+2*(i%2)))
	}
	var sp, sa float64
	for i := range a.ndcgs {
		sp, sa = sp+q.ndcgs[i], sa+a.ndcgs[i]
	}
	iv, ok = liftInterval(&q, &a, 1)
	if lift := sp/sa - 1; !ok || iv.Low >= lift || iv.High <= lift || iv.High-iv.Low < 0.1 {
		t.Errorf("noisy lift %.3f: %+v %v", lift, iv, ok)
	}
	if _, ok := liftInterval(&p, &zero, 1); ok {
		t.Error("an interval over a baseline of 0")
	}
	if _, ok := liftInterval(&p, &scorer{ndcgs: a.ndcgs[:10]}, 1); ok {
		t.Error("an interval over different units")
	}
}
