package ranking

import (
	"math"
	"slices"
	"testing"

	"github.com/rummage/rummage/query"
)

func TestPriceBand(t *testing.T) {
	for _, c := range []struct {
		cents int64
		want  int
	}{{0, 0}, {999, 0}, {1000, 1}, {1999, 1}, {2000, 2}, {4500, 3}, {16000, 5}, {32000, 6}, {1 << 40, 6}} {
		if got := PriceBand(c.cents); got != c.want {
			t.Errorf("PriceBand(%d) = %d, want %d", c.cents, got, c.want)
		}
	}
}

func TestCategoryPrefix(t *testing.T) {
	for in, want := range map[string]string{"Women/Clothing/Dresses/Midi": "Women/Clothing/Dresses", "Women/Shoes/Sneakers": "Women/Shoes/Sneakers", "Women/Shoes": "Women/Shoes", "Men": "Men", "": ""} {
		if got := CategoryPrefix(in); got != want {
			t.Errorf("CategoryPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFeatures(t *testing.T) {
	got := SignalFeatures(&query.Signals{Brand: "Nike", Category: "Women/Shoes/Sneakers/Running", Size: "8", PriceCents: 4500, Seller: "s1"})
	want := Features{"b:Nike", "c:Women/Shoes/Sneakers", "z:8", "p:3", "s:s1"}
	if got != want {
		t.Errorf("features %v, want %v", got, want)
	}
	if got := FeaturesOf("", "", "", 0, ""); got != (Features{}) {
		t.Errorf("an empty listing has features %v", got)
	}
}

func TestUserProfile(t *testing.T) {
	if !NewUserProfile(nil).Empty() || !NewUserProfile(map[string]float64{"b:x": 0, "b:y": -1, "?": 3}).Empty() {
		t.Error("a profile without positive known weights is not empty")
	}
	u := NewUserProfile(map[string]float64{"b:Nike": 6, "b:Zara": 3, "c:Women/Shoes": 6, "z:8": 2, "p:3": 1, "s:s1": 1})
	if u.Weight() != 19 {
		t.Errorf("weight %v, want 19", u.Weight())
	}
	conf := 19.0 / (19 + ProfileConfidence)
	full := u.Match(Features{"b:Nike", "c:Women/Shoes", "z:8", "p:3", "s:s1"})
	if math.Abs(full-conf) > 1e-12 {
		t.Errorf("a listing with every strongest feature matches %v, want the confidence %v", full, conf)
	}
	half := u.Match(Features{"b:Zara"})
	if want := conf * 0.35 * 0.5; math.Abs(half-want) > 1e-12 {
		t.Errorf("the second brand alone matches %v, want %v", half, want)
	}
	if got := u.Match(Features{"b:Gap", "c:Men/Shirts"}); got != 0 {
		t.Errorf("unknown features match %v", got)
	}
	few := NewUserProfile(map[string]float64{"b:Nike": 1})
	if a, b := few.Match(Features{"b:Nike"}), u.Match(Features{"b:Nike"}); a >= b {
		t.Errorf("one click matches %v, a long history %v: confidence should grow with weight", a, b)
	}
	top := u.Top(3)
	if len(top) != 3 || top[0].Value != "Nike" || top[1].Value != "Women/Shoes" || top[2].Value != "Zara" {
		t.Errorf("top %v, want Nike, Women/Shoes, Zara (closets and price bands are not retrievable affinities)", top)
	}
}

func TestBoost(t *testing.T) {
	for _, c := range []struct {
		match    float64
		strength int
		want     float64
	}{{1, 0, 1}, {1, 100, 1 + MaxBoost}, {0.5, 50, 1 + MaxBoost/4}, {1, 500, 1 + MaxBoost}, {2, 100, 1 + MaxBoost}, {-1, 100, 1}, {1, -10, 1}} {
		if got := Boost(c.match, c.strength); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Boost(%v, %d) = %v, want %v", c.match, c.strength, got, c.want)
		}
	}
}

func TestRankScore(t *testing.T) {
	if RankScore(0) != 1 || RankScore(2) != 0.5 {
		t.Errorf("RankScore(0), (2) = %v, %v, want 1, 0.5", RankScore(0), RankScore(2))
	}
	for i := range 100 {
		if RankScore(i+1) >= RankScore(i) {
			t.Fatalf("RankScore not decreasing at %d", i)
		}
	}
}

func TestPersonalize(t *testing.T) {
	u := NewUserProfile(map[string]float64{"b:Nike": 10, "c:Women/Shoes": 10, "z:8": 10, "p:3": 10})
	feats := make([]Features, 30)
	for i := range feats {
		feats[i] = Features{"b:Gap"}
	}
	feats[20] = Features{"b:Nike", "c:Women/Shoes", "z:8", "p:3"} // a strong match deep down
	feats[3] = Features{"b:Nike"}                                 // a weak one near the top
	f := func(i int) Features { return feats[i] }
	identity := Personalize(30, f, UserProfile{}, 100)
	for i, x := range identity {
		if x != i {
			t.Fatalf("an empty profile reorders: %v", identity)
		}
	}
	if got := Personalize(30, f, u, 0); !slices.Equal(got, identity) {
		t.Errorf("strength 0 reorders: %v", got)
	}
	got := Personalize(30, f, u, 100)
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, identity) {
		t.Fatalf("not a permutation: %v", got)
	}
	pos := func(order []int, x int) int { return slices.Index(order, x) }
	if p := pos(got, 20); p >= 20 || p < 2 {
		t.Errorf("the strong match moved to %d, want up but bounded (the top stays)", p)
	}
	if p := pos(got, 3); p > 3 {
		t.Errorf("a matching candidate moved down to %d", p)
	}
	// Non-matching candidates keep their relative order.
	var rest []int
	for _, x := range got {
		if x != 20 && x != 3 {
			rest = append(rest, x)
		}
	}
	if !slices.IsSorted(rest) {
		t.Errorf("non-matching candidates reordered: %v", rest)
	}
	// A stronger setting moves the match at least as far.
	if a, b := pos(Personalize(30, f, u, 30), 20), pos(got, 20); a < b {
		t.Errorf("strength 30 places it at %d, 100 at %d", a, b)
	}
}
