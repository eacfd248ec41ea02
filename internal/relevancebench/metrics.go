package relevancebench

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Metrics are the means of the ranking metrics over evaluation units.
type Metrics struct {
	NDCG10   float64 `json:"ndcg_at_10"`
	Recall24 float64 `json:"recall_at_24"`
	MRR      float64 `json:"mrr_at_24"`
	Units    int     `json:"units"`
}

// scorer accumulates metrics of ranked lists against graded judgments,
// and each unit's NDCG@10 for the lift's interval.
type scorer struct {
	sum   Metrics
	ndcgs []float64
}

// add scores ranked (ids, best first) against rel (id → grade > 0).
func (s *scorer) add(ranked []string, rel map[string]int) {
	n := ndcg(ranked, rel, 10)
	s.ndcgs = append(s.ndcgs, n)
	s.sum.NDCG10 += n
	s.sum.Recall24 += recall(ranked, rel, 24)
	s.sum.MRR += mrr(ranked, rel, 24)
	s.sum.Units++
}

func (s *scorer) mean() Metrics {
	m := s.sum
	if n := float64(m.Units); n > 0 {
		m.NDCG10, m.Recall24, m.MRR = m.NDCG10/n, m.Recall24/n, m.MRR/n
	}
	return m
}

func gain(g int) float64 { return math.Exp2(float64(g)) - 1 }

// ndcg is the normalized DCG at k with gains 2^grade−1.
func ndcg(ranked []string, rel map[string]int, k int) float64 {
	dcg := 0.0
	for i, id := range ranked[:min(k, len(ranked))] {
		dcg += gain(rel[id]) / math.Log2(float64(i)+2)
	}
	grades := make([]int, 0, len(rel))
	for _, g := range rel {
		grades = append(grades, g)
	}
	slices.Sort(grades)
	slices.Reverse(grades)
	idcg := 0.0
	for i, g := range grades[:min(k, len(grades))] {
		idcg += gain(g) / math.Log2(float64(i)+2)
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// recall is the share of the judged listings in the first k.
func recall(ranked []string, rel map[string]int, k int) float64 {
	if len(rel) == 0 {
		return 0
	}
	n := 0
	for _, id := range ranked[:min(k, len(ranked))] {
		if rel[id] > 0 {
			n++
		}
	}
	return float64(n) / float64(len(rel))
}

// mrr is 1/rank of the first judged listing in the first k, else 0.
func mrr(ranked []string, rel map[string]int, k int) float64 {
	for i, id := range ranked[:min(k, len(ranked))] {
		if rel[id] > 0 {
			return 1 / float64(i+1)
		}
	}
	return 0
}

// Interval is a 95 % confidence interval.
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// liftResamples is how many bootstrap resamples a lift's interval takes.
const liftResamples = 1000

// liftInterval is the 95 % interval of the NDCG@10 lift of p over a
// (scored on the same units, in the same order), bootstrapped over units:
// each resample draws units with replacement and takes the ratio of the
// two means on them (paired, so the units' own difficulty cancels). ok is
// false when the units differ or a resample's baseline is 0 too often to
// state one (more than 2.5 %). Seeded: the same scores give the same
// interval.
func liftInterval(p, a *scorer, seed uint64) (Interval, bool) {
	n := len(a.ndcgs)
	if n == 0 || len(p.ndcgs) != n {
		return Interval{}, false
	}
	rng := rand.New(rand.NewPCG(seed, 0x11f7))
	lifts := make([]float64, 0, liftResamples)
	zero := 0
	for range liftResamples {
		var sp, sa float64
		for range n {
			i := rng.IntN(n)
			sp, sa = sp+p.ndcgs[i], sa+a.ndcgs[i]
		}
		if sa == 0 {
			zero++
			lifts = append(lifts, math.Inf(1))
			continue
		}
		lifts = append(lifts, sp/sa-1)
	}
	if zero > liftResamples/40 {
		return Interval{}, false
	}
	slices.Sort(lifts)
	at := func(q float64) float64 { return lifts[min(len(lifts)-1, int(q*float64(len(lifts))))] }
	return Interval{Low: at(0.025), High: at(0.975)}, true
}
