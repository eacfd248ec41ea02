package ranking

import (
	"math"

	"github.com/rummage/rummage/query"
)

// Weights of the relevance blend. The text score dominates; freshness and
// popularity lift a listing by at most FreshnessWeight and PopularityWeight
// of its text score, so a weaker text match cannot overtake a much stronger one.
const (
	FreshnessWeight  = 0.30
	PopularityWeight = 0.20
	// FreshnessHalfLifeDays: a listing listed or shared this long ago gets half
	// the freshness lift of a new one.
	FreshnessHalfLifeDays = 14.0
	// PopularitySaturation is the engagement (likes + 2×shares) that earns
	// the whole popularity lift; counts are power-law, so the lift is
	// logarithmic.
	PopularitySaturation = 500.0
)

// FreshMs is the instant a listing last looked new to shoppers: listed
// (a drop at its instant) or shared.
func FreshMs(s *query.Signals) int64 { return max(s.CreatedMs, s.ListedMs, s.SharedMs) }

// Freshness is in [0,1]: 1 for a listing listed or shared at nowMs, halving
// every FreshnessHalfLifeDays. A share counts as fresh as a new listing.
func Freshness(s *query.Signals, nowMs int64) float64 {
	ageDays := float64(nowMs-FreshMs(s)) / (24 * 3600 * 1000)
	if ageDays <= 0 {
		return 1
	}
	return math.Exp2(-ageDays / FreshnessHalfLifeDays)
}

// Popularity is in [0,1], logarithmic in likes and shares.
func Popularity(s *query.Signals) float64 {
	e := float64(max(s.Likes, 0) + 2*max(s.Shares, 0))
	return min(math.Log1p(e)/math.Log1p(PopularitySaturation), 1)
}

// Relevance blends text score, freshness and popularity into the score the
// relevance sort orders by (descending).
func Relevance(s *query.Signals, nowMs int64) float64 {
	return s.Text * (1 + FreshnessWeight*Freshness(s, nowMs) + PopularityWeight*Popularity(s))
}

// maxBlend bounds Relevance / text score (freshness and popularity are each
// at most 1), with a margin for rounding.
const maxBlend = (1 + FreshnessWeight + PopularityWeight) * (1 + 1e-9)

// Blend is the relevance blend as the first ranking phase that retrieval
// runs (a query.Scorer), at the instant NowMs.
type Blend struct{ NowMs int64 }

// Score implements query.Scorer.
func (b Blend) Score(s *query.Signals) float64 { return Relevance(s, b.NowMs) }

// Bound implements query.Scorer: no blend lifts a text score by more than
// maxBlend.
func (b Blend) Bound(text float64) float64 { return text * maxBlend }
