package relevancebench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rummage/rummage/internal/benchkit"
)

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "catalog %d listings, %d shoppers; %d training and %d held-out events (%.1f clicks and %.2f carts per order)\n",
		r.Listings, r.Shoppers, r.TrainEvents, r.HeldOutEvents, r.ClicksPerBuy, r.CartsPerBuy)
	fmt.Fprintf(w, "replay through the events topic into profiles: %.1f s, %.0f events/s\n", r.ReplaySeconds, r.ReplayPerSecond)
	fmt.Fprintf(w, "training likes and shares applied to the signals store as the change stream would: %d likes, %d shares; %d listings engaged for trending\n",
		r.TrainLikes, r.TrainShares, r.TrendingListings)
	reasons := make([]string, 0, len(r.AnonymousHome))
	for k, n := range r.AnonymousHome {
		reasons = append(reasons, fmt.Sprintf("%s %d", cmp.Or(k, "none"), n))
	}
	slices.Sort(reasons)
	fmt.Fprintf(w, "anonymous home feed's first page: %s\n", strings.Join(reasons, ", "))
	fmt.Fprintf(w, "held-out listings the shopper had already interacted with in training: %.1f %%\n\n", 100*r.SeenInTraining)
	for _, part := range []struct {
		name string
		m    map[string]Metrics
	}{{"search", r.Search}, {"home feed", r.Home}} {
		fmt.Fprintf(w, "%-10s %-18s %8s %8s %8s %8s %9s\n", part.name, "ranking", "units", "NDCG@10", "rec@24", "MRR", "NDCG lift")
		base := part.m["anonymous"].NDCG10
		names := make([]string, 0, len(part.m))
		for n := range part.m {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int { return strings.Compare(order(a), order(b)) })
		for _, n := range names {
			m := part.m[n]
			lift := "—"
			if base > 0 && n != "anonymous" {
				lift = fmt.Sprintf("%+.1f %%", 100*(m.NDCG10/base-1))
			}
			fmt.Fprintf(w, "%-10s %-18s %8d %8.4f %8.4f %8.4f %9s\n", "", n, m.Units, m.NDCG10, m.Recall24, m.MRR, lift)
		}
		var met []string
		for _, n := range names {
			key := map[string]string{"search": "search", "home feed": "home"}[part.name]
			if lift, ok := r.Lift[key][n]; ok {
				verdict := "missed"
				if lift >= TargetLift {
					verdict = "met"
				}
				ci := "no interval"
				if iv, ok := r.LiftCI[key][n]; ok {
					ci = fmt.Sprintf("95 %% CI %+.1f..%+.1f %%", 100*iv.Low, 100*iv.High)
					if lift >= TargetLift && iv.Low < TargetLift {
						verdict = "met, but not by the whole interval"
					}
				}
				met = append(met, fmt.Sprintf("%s %+.1f %%, %s (%s)", n, 100*lift, ci, verdict))
			}
		}
		if len(met) == 0 {
			met = append(met, "no lift can be stated: the anonymous NDCG@10 is 0")
		}
		fmt.Fprintf(w, "%-10s target NDCG@10 lift ≥ %.0f %%: %s\n\n", "", 100*TargetLift, strings.Join(met, "; "))
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(w, "search latency at %d listings, strength %d, same queries in the same run (in-process HTTP, one client):\n", l.Listings, l.Strength)
		for _, kind := range []string{"cached", "uncached"} {
			a, p := l.Runs[kind+"_anonymous"], l.Runs[kind+"_personalized"]
			fmt.Fprintf(w, "  %-8s anonymous    %s\n", kind, a)
			fmt.Fprintf(w, "  %-8s personalized %s  (p99 +%s, p50 +%s)\n", kind, p, benchkit.FormatDuration(p.P99-a.P99), benchkit.FormatDuration(p.P50-a.P50))
		}
	}
}

func order(name string) string {
	switch {
	case name == "anonymous":
		return "0"
	case name == "popularity":
		return "1"
	case strings.HasPrefix(name, "personalized_"):
		return "2" + fmt.Sprintf("%03s", strings.TrimPrefix(name, "personalized_"))
	}
	return "3" + name
}
