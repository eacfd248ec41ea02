package ranking

import "math"

// Signals are what ranking knows of one candidate.
type Signals struct {
	Text      float64 // text relevance from the index, > 0
	CreatedMs int64   // created_at, Unix ms
	SharedMs  int64   // last_shared_at, Unix ms; 0 if never shared
	Likes     int64
	Shares    int64
}

// Weights of the relevance blend. The text score dominates; freshness and
// popularity lift a listing by at most FreshnessWeight and PopularityWeight
// of its text score, so a weaker text match cannot overtake a much stronger one.
const (
	FreshnessWeight  = 0.30
	PopularityWeight = 0.20
	// FreshnessHalfLifeDays: a listing listed or shared this long ago gets half
	// the freshness lift of a new one.
	FreshnessHalfLifeDays = 14.0
	// popularitySaturation is the engagement (likes + 2×shares) that earns the
	// whole popularity lift; counts are power-law, so the lift is logarithmic.
	popularitySaturation = 500.0
)

// Freshness is in [0,1]: 1 for a listing created or shared at nowMs, halving
// every FreshnessHalfLifeDays. A share counts as fresh as a new listing.
func Freshness(s Signals, nowMs int64) float64 {
	t := max(s.CreatedMs, s.SharedMs)
	ageDays := float64(nowMs-t) / (24 * 3600 * 1000)
	if ageDays <= 0 {
		return 1
	}
	return math.Exp2(-ageDays / FreshnessHalfLifeDays)
}

// Popularity is in [0,1], logarithmic in likes and shares.
func Popularity(s Signals) float64 {
	e := float64(max(s.Likes, 0) + 2*max(s.Shares, 0))
	return min(math.Log1p(e)/math.Log1p(popularitySaturation), 1)
}

// Relevance blends text score, freshness and popularity into the score the
// relevance sort orders by (descending).
func Relevance(s Signals, nowMs int64) float64 {
	return s.Text * (1 + FreshnessWeight*Freshness(s, nowMs) + PopularityWeight*Popularity(s))
}
