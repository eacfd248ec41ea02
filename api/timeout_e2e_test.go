package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
)

// TestE2ETinyRequestTimeout: with a request timeout too short for any
// answer (serve --request-timeout 1ns), a match-all browse with every
// facet over the real embedded index fails fast with 503 timeout JSON and
// Retry-After, on every path that counts facets, ranks and loads.
func TestE2ETinyRequestTimeout(t *testing.T) {
	mustE2E(t) // builds e2eIdx
	s, err := api.New(api.Config{RequestTimeout: time.Nanosecond, Auth: api.Auth{Keys: apitest.Shared().Ring}},
		e2eIdx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := apitest.NewClient(t, s, apitest.Shared().Search)
	const facets = "facets=brand&facets=size&facets=condition&facets=color&facets=category&facets=price"
	for _, target := range []string{
		"/v1/search?" + facets,
		"/v1/search?sort=price_asc&limit=100&" + facets,
		"/v1/search?q=dress&" + facets,
	} {
		r := c.Get(t, target)
		var body struct{ Error struct{ Code string } }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if r.Status != http.StatusServiceUnavailable || body.Error.Code != api.CodeTimeout || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with a 1ns timeout: %d %s %v", target, r.Status, r.Body, r.Header)
		}
	}
}
