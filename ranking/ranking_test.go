package ranking

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rummage/rummage/query"
)

const day = int64(24 * 3600 * 1000)

var nowMs = int64(1_750_000_000_000)

func TestFreshness(t *testing.T) {
	cases := []struct {
		name string
		s    query.Signals
		want float64
	}{
		{"listed now", query.Signals{CreatedMs: nowMs, ListedMs: nowMs}, 1},
		{"listed in the future (clock skew)", query.Signals{CreatedMs: nowMs + day}, 1},
		{"one half-life old", query.Signals{CreatedMs: nowMs - 14*day}, 0.5},
		{"two half-lives old", query.Signals{CreatedMs: nowMs - 28*day}, 0.25},
		{"old but shared now", query.Signals{CreatedMs: nowMs - 90*day, SharedMs: nowMs}, 1},
		{"old but a drop released now", query.Signals{CreatedMs: nowMs - 90*day, ListedMs: nowMs}, 1},
	}
	for _, c := range cases {
		if got := Freshness(&c.s, nowMs); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: freshness %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPopularity(t *testing.T) {
	cases := []struct {
		likes, shares int64
		want          float64
	}{
		{0, 0, 0},
		{-5, -1, 0}, // bad counters never lower a score
		{0, 250, 1}, // 2×250 = the saturation
		{10000, 0, 1},
		{1, 0, math.Log(2) / math.Log(501)},
	}
	for _, c := range cases {
		s := query.Signals{Likes: c.likes, Shares: c.shares}
		if got := Popularity(&s); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("likes %d shares %d: popularity %v, want %v", c.likes, c.shares, got, c.want)
		}
	}
	a, b := query.Signals{Likes: 10}, query.Signals{Likes: 100}
	if Popularity(&a) >= Popularity(&b) {
		t.Error("popularity does not grow with likes")
	}
}

// TestRelevance: the text score dominates; freshness and popularity lift
// it by at most their weights.
func TestRelevance(t *testing.T) {
	fresh := query.Signals{Text: 1, CreatedMs: nowMs, Likes: 1000}
	if got, want := Relevance(&fresh, nowMs), 1+FreshnessWeight+PopularityWeight; math.Abs(got-want) > 1e-12 {
		t.Errorf("a fresh, popular listing scores %v, want %v", got, want)
	}
	stale := query.Signals{Text: 1, CreatedMs: nowMs - 3650*day}
	if got := Relevance(&stale, nowMs); got < 1 || got > 1.0001 {
		t.Errorf("an old, unliked listing scores %v, want ~ its text score", got)
	}
	strong, weak := query.Signals{Text: 2, CreatedMs: nowMs - 3650*day}, query.Signals{Text: 1.3, CreatedMs: nowMs, Likes: 1e6}
	if Relevance(&weak, nowMs) >= Relevance(&strong, nowMs) {
		t.Error("a much weaker text match overtook a stronger one")
	}
}

// TestBlendBound: Bound is an upper bound of Score for any signals with
// that text score, and non-decreasing: retrieval prunes on it.
func TestBlendBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := Blend{NowMs: nowMs}
	for i := 0; i < 100000; i++ {
		s := query.Signals{
			Text:      r.Float64() * 40,
			CreatedMs: nowMs - r.Int64N(400*day) + day,
			SharedMs:  nowMs - r.Int64N(400*day),
			Likes:     r.Int64N(5000), Shares: r.Int64N(5000),
		}
		if got, bound := b.Score(&s), b.Bound(s.Text); got > bound {
			t.Fatalf("score %v above bound %v for %+v", got, bound, s)
		}
	}
	if b.Bound(1) > b.Bound(2) {
		t.Error("bound decreases with the text score")
	}
	var _ query.Scorer = b
}
