package signals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rummage/rummage/query"
)

// themeJSON is a party theme as the parties table stores it: the search
// parameters, every key optional.
type themeJSON struct {
	Q         string   `json:"q,omitempty"`
	Brand     []string `json:"brand,omitempty"`
	Size      []string `json:"size,omitempty"`
	Condition []string `json:"condition,omitempty"`
	Color     []string `json:"color,omitempty"`
	Category  string   `json:"category,omitempty"`
	PriceMin  *int64   `json:"price_min,omitempty"`
	PriceMax  *int64   `json:"price_max,omitempty"`
}

// ParseTheme reads a theme; a theme that is not a valid saved search (an
// unknown key, a value the search would refuse) is an error, and its party
// row is a bad row.
func ParseTheme(b []byte) (Theme, error) {
	var t themeJSON
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return Theme{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Theme{}, fmt.Errorf("signals: theme: %w", err)
	}
	th := Theme{Query: t.Q, Filters: query.Filters{
		Brands: t.Brand, Sizes: t.Size, Conditions: t.Condition, Colors: t.Color,
		PriceMin: t.PriceMin, PriceMax: t.PriceMax,
	}}
	if c := strings.Trim(t.Category, "/"); c != "" {
		th.Filters.Category = strings.Split(c, "/")
	}
	probe := query.Request{Query: th.Query, Filters: th.Filters}
	if err := probe.Validate(); err != nil {
		return Theme{}, fmt.Errorf("signals: theme: %w", err)
	}
	return th, nil
}

// MarshalJSON writes the theme in the parties table's shape (the API's
// parties answer it so).
func (t Theme) MarshalJSON() ([]byte, error) {
	return json.Marshal(themeJSON{
		Q: t.Query, Brand: t.Filters.Brands, Size: t.Filters.Sizes, Condition: t.Filters.Conditions,
		Color: t.Filters.Colors, Category: strings.Join(t.Filters.Category, "/"),
		PriceMin: t.Filters.PriceMin, PriceMax: t.Filters.PriceMax,
	})
}
