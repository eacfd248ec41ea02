package relevancebench

import (
	"context"
	"testing"
)

// TestRunSmall runs the whole bench on a small catalog: every ranking is
// scored on the same units, the oracle beats the shipped blend, and the
// replay brought every training event into the profiles and the training
// part's likes and shares into trending.
func TestRunSmall(t *testing.T) {
	rep, err := Run(context.Background(), Config{Listings: 4000, Shoppers: 60, Units: 80, Strengths: []int{0, 100}, LatencyRounds: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainEvents == 0 || rep.HeldOutEvents == 0 || rep.ReplayPerSecond <= 0 {
		t.Fatalf("report %+v", rep)
	}
	// The training part's likes and shares reached the signals store, and
	// trending shows them on the anonymous home feed.
	if rep.TrainLikes == 0 || rep.TrainShares == 0 || rep.TrendingListings == 0 || rep.AnonymousHome["trending"] == 0 {
		t.Errorf("likes %d, shares %d, trending listings %d, anonymous home %v", rep.TrainLikes, rep.TrainShares, rep.TrendingListings, rep.AnonymousHome)
	}
	a := rep.Search["anonymous"]
	for _, name := range []string{"popularity", "oracle", "personalized_0", "personalized_100"} {
		if m, ok := rep.Search[name]; !ok || m.Units != a.Units {
			t.Errorf("search %s: %+v (anonymous %d units)", name, m, a.Units)
		}
	}
	if rep.Search["personalized_0"] != a {
		t.Errorf("strength 0 differs from anonymous: %+v vs %+v", rep.Search["personalized_0"], a)
	}
	if rep.Search["oracle"].NDCG10 <= a.NDCG10 {
		t.Errorf("oracle NDCG %v not above the blend's %v", rep.Search["oracle"].NDCG10, a.NDCG10)
	}
	if _, ok := rep.Lift["search"]["personalized_100"]; a.NDCG10 > 0 && !ok {
		t.Errorf("no search lift: %+v", rep.Lift)
	}
	if rep.Latency == nil || rep.Latency.Runs["cached_personalized"].N == 0 {
		t.Errorf("latency %+v", rep.Latency)
	}
}
