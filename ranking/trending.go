package ranking

import (
	"math"
	"time"
)

// Trending, as DESIGN.md defines it: a decayed count of the likes and
// shares of a listing by distinct users other than its seller, each user
// counting once at their latest engagement, halving every TrendingHalfLife,
// within TrendingHorizon.
const (
	TrendingHalfLife = time.Hour
	TrendingHorizon  = 24 * time.Hour
	// TrendingPerCloset is the most trending listings of one closet.
	TrendingPerCloset = 2
)

// Engagement is one user's latest like or share of a listing.
type Engagement struct {
	User string
	AtMs int64
}

// TrendingScore is a listing's trending score at nowMs. A listing with 50
// distinct sharers in the last hour outranks one with 5,000 shares spread
// over the horizon's far end, and a closet sharing its own listings earns
// them nothing.
func TrendingScore(engagements []Engagement, seller string, nowMs int64) float64 {
	var s float64
	horizon := TrendingHorizon.Milliseconds()
	half := float64(TrendingHalfLife.Milliseconds())
	seen := make(map[string]bool, len(engagements))
	for _, e := range engagements {
		age := nowMs - e.AtMs
		if e.User == seller || seen[e.User] || age > horizon || age < -horizon {
			continue
		}
		seen[e.User] = true
		s += math.Exp2(-float64(max(age, 0)) / half)
	}
	return s
}
