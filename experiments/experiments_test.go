package experiments

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T) *Set {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", "experiments.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAssignmentIsStable: the same unit gets the same variants from two
// Sets of the same configuration (another replica, a restart), and a
// unit's variant in one experiment does not depend on the others.
func TestAssignmentIsStable(t *testing.T) {
	a, b := load(t), load(t)
	one, _ := New(Config{Experiments: []Experiment{a.cfg.Experiments[0]}})
	for i := range 2000 {
		u := fmt.Sprint("user-", i)
		if x, y := a.Stamp(u), b.Stamp(u); x != y {
			t.Fatalf("%s: %q then %q", u, x, y)
		}
		if x, y := a.Assign(u), one.Assign(u); len(y) > 0 && (len(x) == 0 || x[0].String() != y[0].String()) {
			t.Fatalf("%s: %v with the other experiment, %v alone", u, x, y)
		}
	}
	// Pinned: the hash must not change between releases (it would
	// reshuffle every running experiment).
	if a, b := Bucket("perso-strength", "user-1"), Bucket("deep-window", "device-42"); a != 5401 || b != 4054 {
		t.Fatalf("buckets %d, %d: want 5401, 4054 (SHA-256 of name NUL unit, mod 10000)", a, b)
	}
	if a.Assign("") != nil || a.Stamp("") != "" || a.Strength("") != 0 {
		t.Error("an anonymous shopper is assigned")
	}
}

// TestSplitProportions: over 100,000 units, each variant gets its percent
// within 4 standard deviations, the rest none; the two experiments split
// independently (the joint share is the product).
func TestSplitProportions(t *testing.T) {
	s := load(t)
	const n = 100000
	count := map[string]int{}
	joint := 0
	for i := range n {
		st := s.Stamp(fmt.Sprint("u", i))
		for _, p := range strings.Split(st, ",") {
			count[p]++
		}
		if strings.Contains(st, "perso-strength/high") && strings.Contains(st, "deep-window/deep") {
			joint++
		}
	}
	check := func(what string, got int, p float64) {
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(got)-n*p) > 4*sd {
			t.Errorf("%s: %d of %d, want %.0f ± %.0f", what, got, n, n*p, 4*sd)
		}
	}
	for _, e := range s.cfg.Experiments {
		for _, v := range e.Variants {
			check(e.Name+"/"+v.Name, count[e.Name+"/"+v.Name], float64(v.Percent)/100)
		}
	}
	check("high and deep", joint, 0.3*0.5)
}

func TestStrengthAndCacheKey(t *testing.T) {
	s := load(t)
	seen := map[int]bool{}
	for i := range 1000 {
		u := fmt.Sprint("u", i)
		st, as := s.Strength(u), s.Assign(u)
		want := 40 // the configured default: not in perso-strength
		for _, a := range as {
			if a.Experiment == "perso-strength" {
				want = *a.Variant.Settings.Personalization
			}
		}
		if st != want {
			t.Fatalf("%s (%v): strength %d, want %d", u, s.Stamp(u), st, want)
		}
		seen[st] = true
		key := s.CacheKey(u)
		if deep := strings.Contains(s.Stamp(u), "deep-window/deep"); deep != (key == "deep-window/deep") {
			t.Fatalf("%s (%v): cache key %q", u, s.Stamp(u), key)
		}
	}
	for _, v := range []int{0, 40, 50, 100} {
		if !seen[v] {
			t.Errorf("no unit got strength %d", v)
		}
	}
	var none *Set
	if none.Strength("u") != DefaultStrength || none.Stamp("u") != "" {
		t.Error("a nil Set is not the defaults")
	}
}

func TestValidate(t *testing.T) {
	p := func(v int) *int { return &v }
	for _, c := range []Config{
		{Strength: p(101)},
		{Experiments: []Experiment{{Name: "Bad Name", Variants: []Variant{{Name: "a"}}}}},
		{Experiments: []Experiment{{Name: "e"}}},
		{Experiments: []Experiment{{Name: "e", Variants: []Variant{{Name: "a", Percent: 60}, {Name: "b", Percent: 50}}}}},
		{Experiments: []Experiment{{Name: "e", Variants: []Variant{{Name: "a"}, {Name: "a"}}}}},
		{Experiments: []Experiment{{Name: "e", Variants: []Variant{{Name: "a", Percent: -1}}}}},
		{Experiments: []Experiment{{Name: "e", Variants: []Variant{{Name: "a", Settings: Settings{Personalization: p(-3)}}}}}},
		{Experiments: []Experiment{{Name: "e", Variants: []Variant{{Name: "a"}}}, {Name: "e", Variants: []Variant{{Name: "a"}}}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{Experiments: []Experiment{{Name: "e", Variants: []Variant{{Name: "a", Percent: 100}}}}}).Validate(); err != nil {
		t.Errorf("a valid configuration refused: %v", err)
	}
}
