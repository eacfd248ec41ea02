package relevancebench

import (
	"math"
	"slices"
)

// Metrics are the means of the ranking metrics over evaluation units.
type Metrics struct {
	NDCG10   float64 `json:"ndcg_at_10"`
	Recall24 float64 `json:"recall_at_24"`
	MRR      float64 `json:"mrr_at_24"`
	Units    int     `json:"units"`
}

// scorer accumulates metrics of ranked lists against graded judgments.
type scorer struct{ sum Metrics }

// add scores ranked (ids, best first) against rel (id → grade > 0).
func (s *scorer) add(ranked []string, rel map[string]int) {
	s.sum.NDCG10 += ndcg(ranked, rel, 10)
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
