package embedded

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestScoreGroups: the hits in all, grouped by text score best first, each
// group in text order (as a map of slices would group them), the same from
// a reused (pooled) value, and no groups once the deadline passes at any of
// the looks the grouping takes.
func TestScoreGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3*checkEvery + 100
	text := &textHits{}
	all := roaring.New()
	for _, o := range rng.Perm(n) {
		text.ords = append(text.ords, uint32(o))
		text.scores = append(text.scores, float64(rng.IntN(7))/2)
		if rng.IntN(3) > 0 {
			all.Add(uint32(o))
		}
	}
	want := map[float64][]uint32{}
	for i, o := range text.ords {
		if all.Contains(o) {
			want[text.scores[i]] = append(want[text.scores[i]], o)
		}
	}
	wantScores := make([]float64, 0, len(want))
	for sc := range want {
		wantScores = append(wantScores, sc)
	}
	slices.SortFunc(wantScores, func(a, b float64) int { return cmp.Compare(b, a) })

	g := &scoreGroups{index: map[float64]int32{}}
	for run := range 2 { // the second reuses g's buffers
		if !g.build(&budget{ctx: context.Background()}, n, text, all) {
			t.Fatal("build stopped without a deadline")
		}
		if !slices.Equal(g.scores, wantScores) {
			t.Fatalf("run %d: scores %v, want %v", run, g.scores, wantScores)
		}
		for i, sc := range g.scores {
			if got := g.ords[g.start[i]:g.start[i+1]]; !slices.Equal(got, want[sc]) {
				t.Fatalf("run %d: group %v has %d hits, want %d (or another order)", run, sc, len(got), len(want[sc]))
			}
		}
		if g.start[len(g.scores)] != int(all.GetCardinality()) {
			t.Fatalf("run %d: %d hits grouped, want %d", run, g.start[len(g.scores)], all.GetCardinality())
		}
	}

	probe := &countdown{Context: context.Background(), after: 1 << 62}
	if !g.build(&budget{ctx: probe}, n, text, all) {
		t.Fatal("build stopped without a deadline")
	}
	looks := probe.looks.Load()
	if looks < n/checkEvery {
		t.Fatalf("%d looks at the context over %d hits, want at least %d", looks, n, n/checkEvery)
	}
	for after := range looks {
		if g.build(&budget{ctx: &countdown{Context: context.Background(), after: after}}, n, text, all) {
			t.Errorf("deadline at look %d of %d: build finished", after+1, looks)
		}
	}
}
