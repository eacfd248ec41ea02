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

func TestFreshMs(t *testing.T) {
	cases := []struct {
		name string
		s    query.Signals
		want int64
	}{
		{"never shared: created", query.Signals{CreatedMs: nowMs - 9*day, ListedMs: nowMs - 9*day}, nowMs - 9*day},
		{"a drop: its release, after its creation", query.Signals{CreatedMs: nowMs - 9*day, ListedMs: nowMs - day}, nowMs - day},
		{"shared since it was listed", query.Signals{CreatedMs: nowMs - 9*day, ListedMs: nowMs - 9*day, SharedMs: nowMs - 2*day}, nowMs - 2*day},
		{"a share before the drop's release counts the release", query.Signals{CreatedMs: nowMs - 9*day, ListedMs: nowMs - day, SharedMs: nowMs - 5*day}, nowMs - day},
		{"ListedMs unset (a backend without it)", query.Signals{CreatedMs: nowMs - 3*day}, nowMs - 3*day},
		{"no times at all", query.Signals{}, 0},
	}
	for _, c := range cases {
		if got := FreshMs(&c.s); got != c.want {
			t.Errorf("%s: FreshMs %d, want %d", c.name, got, c.want)
		}
	}
}

// TestRelevance: text × (1 + FreshnessWeight·freshness + PopularityWeight·popularity).
func TestRelevance(t *testing.T) {
	like1 := math.Log(2) / math.Log(501) // popularity of one like
	cases := []struct {
		name string
		s    query.Signals
		want float64
	}{
		{"no text score (browsing) stays 0", query.Signals{CreatedMs: nowMs, Likes: 1000}, 0},
		{"fresh and saturated: the whole lift", query.Signals{Text: 1, CreatedMs: nowMs, Likes: 1000}, 1 + FreshnessWeight + PopularityWeight},
		{"fresh, one like", query.Signals{Text: 1, CreatedMs: nowMs, Likes: 1}, 1 + FreshnessWeight + PopularityWeight*like1},
		{"one half-life old, unliked", query.Signals{Text: 2, CreatedMs: nowMs - 14*day}, 2 * (1 + FreshnessWeight/2)},
		{"two half-lives old, 250 shares", query.Signals{Text: 4, CreatedMs: nowMs - 28*day, Shares: 250}, 4 * (1 + FreshnessWeight/4 + PopularityWeight)},
		{"ten years old, unliked: its text score", query.Signals{Text: 3, CreatedMs: nowMs - 3650*day}, 3},
		{"old but shared now: fresh", query.Signals{Text: 1, CreatedMs: nowMs - 3650*day, SharedMs: nowMs}, 1 + FreshnessWeight},
	}
	for _, c := range cases {
		if got := Relevance(&c.s, nowMs); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: relevance %v, want %v", c.name, got, c.want)
		}
	}
	// The lifts are bounded: a much weaker text match never overtakes a
	// stronger one, however fresh and popular.
	strong, weak := query.Signals{Text: 2, CreatedMs: nowMs - 3650*day}, query.Signals{Text: 1.3, CreatedMs: nowMs, Likes: 1e6}
	if Relevance(&weak, nowMs) >= Relevance(&strong, nowMs) {
		t.Error("a much weaker text match overtook a stronger one")
	}
}

// TestBlend: Score is Relevance at the blend's own instant (not the
// clock's), and Bound is text × the largest lift.
func TestBlend(t *testing.T) {
	s := query.Signals{Text: 2, CreatedMs: nowMs - 14*day, Likes: 3, Shares: 1}
	cases := []struct {
		name  string
		nowMs int64
		want  float64
	}{
		{"at the listing's creation", nowMs - 14*day, Relevance(&s, nowMs-14*day)},
		{"one half-life later", nowMs, Relevance(&s, nowMs)},
		{"two half-lives later", nowMs + 14*day, Relevance(&s, nowMs+14*day)},
	}
	for _, c := range cases {
		if got := (Blend{NowMs: c.nowMs}).Score(&s); got != c.want {
			t.Errorf("%s: score %v, want %v", c.name, got, c.want)
		}
	}
	if a, b := (Blend{NowMs: nowMs}).Score(&s), (Blend{NowMs: nowMs + 14*day}).Score(&s); a <= b {
		t.Errorf("the same listing scores %v now and %v a half-life later: want lower later", a, b)
	}

	lift := (1 + FreshnessWeight + PopularityWeight) * (1 + 1e-9)
	for _, c := range []struct{ text, want float64 }{{0, 0}, {1, lift}, {2.5, 2.5 * lift}, {40, 40 * lift}} {
		if got := (Blend{NowMs: nowMs}).Bound(c.text); math.Abs(got-c.want) > 1e-12*max(1, c.want) {
			t.Errorf("bound of text %v: %v, want %v", c.text, got, c.want)
		}
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
