package ranking

import (
	"cmp"
	"slices"
	"strings"

	"github.com/rummage/rummage/query"
)

// Affinity is one thing a shopper likes: a brand, a category (its first
// two levels) or a size, with how much.
type Affinity struct {
	Field  query.Facet
	Value  string
	Weight float64
}

// Affinities are a shopper's profile, strongest first.
type Affinities []Affinity

// Profile builds a profile from the listings a shopper liked and shared
// (newest first): each counts for its brand, category and size, the
// newer the more (the i-th counts 1/(1+i/10)).
func Profile(listings []query.Candidate) Affinities {
	w := map[Affinity]float64{}
	for i := range listings {
		s := &listings[i].Signals
		weight := 1 / (1 + float64(i)/10)
		if s.Brand != "" {
			w[Affinity{Field: query.FacetBrand, Value: s.Brand}] += weight
		}
		if s.Category != "" {
			parts := strings.SplitN(s.Category, "/", 3)
			w[Affinity{Field: query.FacetCategory, Value: strings.Join(parts[:min(2, len(parts))], "/")}] += weight
		}
		if s.Size != "" {
			w[Affinity{Field: query.FacetSize, Value: s.Size}] += weight * 0.5 // sizes say less than brands
		}
	}
	out := make(Affinities, 0, len(w))
	for a, x := range w {
		a.Weight = x
		out = append(out, a)
	}
	out.sort()
	return out
}

// sort orders the affinities strongest first, ties by field and value.
func (p Affinities) sort() {
	slices.SortFunc(p, func(a, b Affinity) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Field), string(b.Field)); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// Top returns the n strongest affinities.
func (p Affinities) Top(n int) Affinities { return p[:min(n, len(p))] }
