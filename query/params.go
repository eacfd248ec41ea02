package query

import "strings"

// Params are a search's text and filters as JSON spells them: the keys of
// GET /v1/search's parameters (category as a path "Women/Dresses"), every
// key optional. A party's theme is stored so, and the conformance data
// spells its requests so.
type Params struct {
	Q         string   `json:"q,omitempty"`
	Brand     []string `json:"brand,omitempty"`
	Size      []string `json:"size,omitempty"`
	Condition []string `json:"condition,omitempty"`
	Color     []string `json:"color,omitempty"`
	Category  string   `json:"category,omitempty"`
	PriceMin  *int64   `json:"price_min,omitempty"`
	PriceMax  *int64   `json:"price_max,omitempty"`
}

// Filters returns the filters p spells (not validated).
func (p Params) Filters() Filters {
	f := Filters{Brands: p.Brand, Sizes: p.Size, Conditions: p.Condition, Colors: p.Color, PriceMin: p.PriceMin, PriceMax: p.PriceMax}
	if c := strings.Trim(p.Category, "/"); c != "" {
		f.Category = strings.Split(c, "/")
	}
	return f
}

// ParamsOf spells a search's text and filters as Params.
func ParamsOf(q string, f Filters) Params {
	return Params{Q: q, Brand: f.Brands, Size: f.Sizes, Condition: f.Conditions, Color: f.Colors,
		Category: strings.Join(f.Category, "/"), PriceMin: f.PriceMin, PriceMax: f.PriceMax}
}
