package personal

import (
	"encoding/json"
	"slices"
	"testing"
)

// markDegraded puts personalization first in the answer's degraded list,
// whether the layers below degraded it or not, and keeps the rest.
func TestMarkDegraded(t *testing.T) {
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"query_id":"q1","total":2,"hits":[{"id":"a","description":"\"degraded\": no"}],"next_cursor":null}`, []string{"personalization"}},
		{`{}`, []string{"personalization"}},
		{`{"query_id":"q1","total":2,"hits":[],"degraded":["limit","facets"],"next_cursor":null}`, []string{"personalization", "limit", "facets"}},
	} {
		out, gave, err := markDegraded([]byte(c.body), "personalization")
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		var a struct {
			QueryID  string `json:"query_id"`
			Total    *int
			Degraded []string
		}
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if !slices.Equal(a.Degraded, c.want) || !slices.Equal(gave, c.want) {
			t.Errorf("%s: degraded %v, gave %v, want %v", out, a.Degraded, gave, c.want)
		}
		if c.body != `{}` && (a.QueryID != "q1" || a.Total == nil || *a.Total != 2) {
			t.Errorf("%s: the other keys lost", out)
		}
	}
	if _, _, err := markDegraded([]byte(`[]`), "personalization"); err == nil {
		t.Error("not an object: no error")
	}
}
