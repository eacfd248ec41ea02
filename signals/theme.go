package signals

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/rummage/rummage/query"
)

// ParseTheme reads a theme as the parties table stores it (query.Params); a theme that is not a valid saved search (an
// unknown key, a value the search would refuse) is an error, and its party
// row is a bad row.
func ParseTheme(b []byte) (Theme, error) {
	var t query.Params
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return Theme{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Theme{}, fmt.Errorf("signals: theme: %w", err)
	}
	th := Theme{Query: t.Q, Filters: t.Filters()}
	probe := query.Request{Query: th.Query, Filters: th.Filters}
	if err := probe.Validate(); err != nil {
		return Theme{}, fmt.Errorf("signals: theme: %w", err)
	}
	return th, nil
}

// MarshalJSON writes the theme in the parties table's shape (the API's
// parties answer it so).
func (t Theme) MarshalJSON() ([]byte, error) {
	return json.Marshal(query.ParamsOf(t.Query, t.Filters))
}
