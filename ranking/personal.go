package ranking

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rummage/rummage/query"
)

// Personalization: a shopper's affinity profile (feature → weight, kept by
// the signals store and the discovery layer) as a bounded soft boost on the
// top candidates of an order. It reorders, never filters: every candidate
// of the window stays, and an anonymous shopper (an empty profile) or
// strength 0 gets the order unchanged.

// The feature kinds of a profile: a listing has one of each (when set).
const (
	FeatureBrand    = "b:"
	FeatureCategory = "c:" // the first three levels of the path
	FeatureSize     = "z:"
	FeaturePrice    = "p:" // PriceBand
	FeatureCloset   = "s:"
)

// featureShare is how much each kind weighs in a match (they sum to 1):
// brands say most about a shopper, closets least (a closet sells many
// things).
var featureShare = map[string]float64{
	FeatureBrand: 0.35, FeatureCategory: 0.25, FeatureSize: 0.15, FeaturePrice: 0.15, FeatureCloset: 0.10,
}

// MaxBoost is the boost of a perfect match at strength 100: its score is
// at most (1+MaxBoost) times what its rank alone gives it.
const MaxBoost = 1.0

// ProfileConfidence is the total profile weight at which a profile counts
// half: a shopper with one click is nudged, one with many is trusted.
const ProfileConfidence = 3.0

// PriceBand is a price's band: doubling bands from $10 (0: under $10, 1:
// $10–20, 2: $20–40, ... 6: $320 and more).
func PriceBand(cents int64) int {
	b := 0
	for limit := int64(1000); cents >= limit && b < 6; limit *= 2 {
		b++
	}
	return b
}

// CategoryPrefix is the first three levels of a "/"-joined category path
// (Women/Clothing/Dresses: the first two are department and kind, too
// broad to say what a shopper likes).
func CategoryPrefix(path string) string {
	parts := strings.SplitN(path, "/", 4)
	return strings.Join(parts[:min(3, len(parts))], "/")
}

// Features are a listing's profile features, in the order of the kinds
// above; an unset field gives "".
type Features [5]string

// FeaturesOf returns the features of a listing's fields.
func FeaturesOf(brand, category, size string, priceCents int64, seller string) Features {
	var f Features
	if brand != "" {
		f[0] = FeatureBrand + brand
	}
	if category != "" {
		f[1] = FeatureCategory + CategoryPrefix(category)
	}
	if size != "" {
		f[2] = FeatureSize + size
	}
	if priceCents > 0 {
		f[3] = FeaturePrice + strconv.Itoa(PriceBand(priceCents))
	}
	if seller != "" {
		f[4] = FeatureCloset + seller
	}
	return f
}

// SignalFeatures returns the features of a candidate's signals.
func SignalFeatures(s *query.Signals) Features {
	return FeaturesOf(s.Brand, s.Category, s.Size, s.PriceCents, s.Seller)
}

// UserProfile is a profile ready to score with: each feature's weight
// relative to the strongest of its kind, times the profile's confidence.
type UserProfile struct {
	rel   map[string]float64
	total float64
}

// NewUserProfile prepares weights (feature → weight ≥ 0; others ignored).
func NewUserProfile(weights map[string]float64) UserProfile {
	maxOf := map[string]float64{}
	total := 0.0
	for f, w := range weights {
		if w > 0 && len(f) > 2 {
			maxOf[f[:2]] = max(maxOf[f[:2]], w)
			total += w
		}
	}
	if total == 0 {
		return UserProfile{}
	}
	conf := total / (total + ProfileConfidence)
	rel := make(map[string]float64, len(weights))
	for f, w := range weights {
		if w > 0 && len(f) > 2 && featureShare[f[:2]] > 0 {
			rel[f] = conf * w / maxOf[f[:2]]
		}
	}
	return UserProfile{rel: rel, total: total}
}

// Empty reports a profile that boosts nothing.
func (u UserProfile) Empty() bool { return len(u.rel) == 0 }

// Weight is the total (decayed) weight the profile was built from.
func (u UserProfile) Weight() float64 { return u.total }

// Match is in [0,1]: how well a listing's features fit the profile.
func (u UserProfile) Match(f Features) float64 {
	m := 0.0
	for _, x := range f {
		if x != "" {
			m += featureShare[x[:2]] * u.rel[x]
		}
	}
	return min(m, 1)
}

// Top returns the n strongest brand, category and size affinities, by
// relative weight (ties by kind, then value): what the home feed's
// affinity source retrieves.
func (u UserProfile) Top(n int) Affinities {
	out := make(Affinities, 0, len(u.rel))
	for f, w := range u.rel {
		var field query.Facet
		switch f[:2] {
		case FeatureBrand:
			field = query.FacetBrand
		case FeatureCategory:
			field = query.FacetCategory
		case FeatureSize:
			field = query.FacetSize
		default:
			continue
		}
		out = append(out, Affinity{Field: field, Value: f[2:], Weight: w * featureShare[f[:2]]})
	}
	out.sort()
	return out.Top(n)
}

// RankScore is the score of the i-th (0-based) candidate of an order
// before personalization: the DCG discount 1/log2(i+2), so that a boost
// moves a candidate by a number of places that grows with its depth
// rather than by raw scores that differ per query.
func RankScore(i int) float64 { return 1 / math.Log2(float64(i)+2) }

// Boost is the factor a match earns at strength (0–100, clamped).
func Boost(match float64, strength int) float64 {
	s := float64(min(max(strength, 0), 100)) / 100
	return 1 + MaxBoost*s*min(max(match, 0), 1)
}

// Personalize returns the order in which to show the n candidates of a
// window (0..n-1, best first by the unpersonalized order), each scored
// RankScore(i)·Boost(Match(features(i)), strength); ties keep their order.
// Nothing is dropped; an empty profile or strength 0 returns 0..n-1.
func Personalize(n int, features func(i int) Features, u UserProfile, strength int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if u.Empty() || strength <= 0 || n < 2 {
		return order
	}
	score := make([]float64, n)
	for i := range score {
		score[i] = RankScore(i) * Boost(u.Match(features(i)), strength)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	return order
}
