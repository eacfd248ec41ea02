package e2e

import (
	"math"
	"slices"
	"testing"
)

// The metrics of one ranked list. got holds the grade of each hit in rank
// order (0: not relevant); relevant is the number of listings of the
// catalog a shopper could be shown with a grade of at least 1.

// recallAt is the share of the first k slots that relevant listings fill,
// out of those they could fill: |relevant ∩ top k| / min(k, relevant).
// With one relevant listing it is zoekt's recall@k (the target is in the
// top k); with hundreds it does not sink to ~0 the way |∩| / relevant
// would, and still says how much of the top k is right. 0 when nothing is
// relevant.
func recallAt(k int, got []int, relevant int) float64 {
	if relevant <= 0 || k <= 0 {
		return 0
	}
	n := 0
	for _, g := range got[:min(k, len(got))] {
		if g > 0 {
			n++
		}
	}
	return float64(n) / float64(min(k, relevant))
}

// reciprocalRank is 1 / the rank of the first relevant hit, 0 when none of
// got is relevant. Averaged over queries it is the MRR (over the top 10,
// as only the top 10 are asked for).
func reciprocalRank(got []int) float64 {
	for i, g := range got {
		if g > 0 {
			return 1 / float64(i+1)
		}
	}
	return 0
}

// ndcgAt is the normalized discounted cumulative gain of the first k hits
// with graded gains 2^grade − 1, discounted by log2(rank + 1); the ideal is
// the best order of ideal, the grades of every relevant listing of the
// catalog (any order). 0 when nothing is relevant.
func ndcgAt(k int, got []int, ideal []int) float64 {
	best := slices.Clone(ideal)
	slices.SortFunc(best, func(a, b int) int { return b - a })
	idcg := dcg(best[:min(k, len(best))])
	if idcg == 0 {
		return 0
	}
	return dcg(got[:min(k, len(got))]) / idcg
}

func dcg(grades []int) float64 {
	s := 0.0
	for i, g := range grades {
		if g > 0 {
			s += (math.Exp2(float64(g)) - 1) / math.Log2(float64(i+2))
		}
	}
	return s
}

func TestRecallAt(t *testing.T) {
	cases := []struct {
		name     string
		k        int
		got      []int
		relevant int
		want     float64
	}{
		{"top hit relevant", 1, []int{1, 0}, 5, 1},
		{"top hit not relevant", 1, []int{0, 2}, 5, 0},
		{"grade 2 counts as relevant", 1, []int{2}, 1, 1},
		{"3 of 5", 5, []int{1, 0, 2, 0, 1, 1}, 40, 3.0 / 5},
		{"capped by the relevant: 2 of 2", 5, []int{0, 1, 0, 1, 0}, 2, 1},
		{"capped by the relevant: 1 of 2", 5, []int{0, 1, 0, 0, 0}, 2, 0.5},
		{"the one target at rank 4", 5, []int{0, 0, 0, 1}, 1, 1},
		{"fewer hits than k", 5, []int{1, 1}, 10, 2.0 / 5},
		{"no hits", 5, nil, 3, 0},
		{"nothing relevant", 5, []int{0, 0}, 0, 0},
	}
	for _, c := range cases {
		if got := recallAt(c.k, c.got, c.relevant); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: recall@%d of %v (%d relevant) = %v, want %v", c.name, c.k, c.got, c.relevant, got, c.want)
		}
	}
}

func TestReciprocalRank(t *testing.T) {
	cases := []struct {
		got  []int
		want float64
	}{
		{[]int{1, 1}, 1},
		{[]int{0, 2, 1}, 0.5},
		{[]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0.1},
		{[]int{0, 0}, 0},
		{nil, 0},
	}
	for _, c := range cases {
		if got := reciprocalRank(c.got); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("reciprocal rank of %v = %v, want %v", c.got, got, c.want)
		}
	}
}

func TestDCG(t *testing.T) {
	// Gains 2^g − 1, discounts 1/log2(rank+1).
	const d2, d3, d4 = 0.6309297535714575, 0.5, 0.43067655807339306
	cases := []struct {
		grades []int
		want   float64
	}{
		{nil, 0},
		{[]int{0, 0}, 0},
		{[]int{1}, 1},
		{[]int{2}, 3},
		{[]int{3}, 7},
		{[]int{0, 1}, d2},
		{[]int{3, 0, 1}, 7 + d3},
		{[]int{1, 1, 1, 1}, 1 + d2 + d3 + d4},
		{[]int{0, 0, 0, 2}, 3 * d4},
	}
	for _, c := range cases {
		if got := dcg(c.grades); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("dcg of %v = %v, want %v", c.grades, got, c.want)
		}
	}
}

func TestNDCGAt(t *testing.T) {
	// Gains 2^g − 1: grade 1 → 1, grade 2 → 3; discounts 1/log2(rank+1):
	// 1, 0.63093, 0.5, 0.43068, …
	const d2, d3 = 0.6309297535714575, 0.5 // 1/log2(3), 1/log2(4)
	cases := []struct {
		name  string
		k     int
		got   []int
		ideal []int
		want  float64
	}{
		{"ideal order", 10, []int{2, 1, 1}, []int{1, 2, 1}, 1},
		{"swapped", 10, []int{1, 2}, []int{2, 1}, (1 + 3*d2) / (3 + d2)},
		{"relevant at rank 3 only", 10, []int{0, 0, 1}, []int{1}, d3},
		{"a grade-1 where a grade-2 could be", 10, []int{1}, []int{2, 1}, 1 / (3 + d2)},
		{"cut at k", 2, []int{0, 0, 2}, []int{2}, 0},
		{"ideal cut at k", 1, []int{2, 2}, []int{2, 2, 2}, 1},
		{"nothing returned", 10, nil, []int{1}, 0},
		{"nothing relevant", 10, []int{0, 0}, nil, 0},
	}
	for _, c := range cases {
		if got := ndcgAt(c.k, c.got, c.ideal); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: ndcg@%d of %v (ideal %v) = %v, want %v", c.name, c.k, c.got, c.ideal, got, c.want)
		}
	}
	ideal := []int{1, 2}
	ndcgAt(10, []int{1}, ideal)
	if ideal[0] != 1 || ideal[1] != 2 {
		t.Error("ndcgAt reordered its argument")
	}
}
