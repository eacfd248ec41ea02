package cache

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// degradeBenchListings is BenchmarkDegradeSteps' catalog (fixtures, seed 1).
const degradeBenchListings = 50000

// BenchmarkDegradeSteps is the cost breakdown behind the order of
// admission's degradation steps (docs/admission.md): the server CPU of one
// search over 50,000 listings of the embedded index (the fixtures
// catalog), whole and with each
// step applied, computed every time (what admission guards), and a
// personalized search whose re-ranked window is computed and cached, all
// in one run, interleaved. The steps' order follows cost saved per quality
// lost. The queries' totals: q=black 8,677, category=Women 30,327.
func BenchmarkDegradeSteps(b *testing.B) {
	ctx := context.Background()
	st, x := partyData(b, 0, 0)
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: 1, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Count: degradeBenchListings})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]query.Change, 0, 1000)
	for {
		l, ok := g.Next()
		if ok {
			batch = append(batch, query.Change{ID: l.ID, Version: 1, Doc: &l})
		}
		if len(batch) == cap(batch) || !ok && len(batch) > 0 {
			if _, err := x.Apply(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		if !ok {
			break
		}
	}
	fan := g.Listing(0).Brand
	if err := st.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{{User: "h_fan", Feature: "b:" + fan, Weight: 30, At: time.Now()}}}); err != nil {
		b.Fatal(err)
	}
	cfg := api.Config{Signals: st, Auth: api.Auth{Keys: apitest.Shared().Ring, AnonymousReads: true},
		Feeds: feed.Config{Personal: feed.PersonalConfig{Profiles: st, Pseudonym: func(u string) string { return "h_" + u }, Strength: func(string) int { return 100 }}}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	uncached, err := api.New(cfg, x, quiet)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	cached, err := api.New(cfg, x, quiet, api.WithMiddleware(c.Middleware(HTTPConfig{Social: st})))
	if err != nil {
		b.Fatal(err)
	}
	const facets = "&facets=brand,category,size,condition,color,price"
	variants := []struct {
		name, target string
		h            http.Handler
	}{
		{"text-whole-limit100", "/v1/search?q=black&limit=100" + facets, uncached},
		{"text-nofacets-limit100", "/v1/search?q=black&limit=100", uncached},
		{"text-whole-limit24", "/v1/search?q=black&limit=24" + facets, uncached},
		{"text-nofacets-limit24", "/v1/search?q=black&limit=24", uncached},
		{"browse-whole-limit24", "/v1/search?category=Women&sort=newest&limit=24" + facets, uncached},
		{"browse-nofacets-limit24", "/v1/search?category=Women&sort=newest&limit=24", uncached},
		{"personalized-limit24", "/v1/search?q=black&limit=24&user=fan" + facets, uncached},
		{"cached-anonymous-limit24", "/v1/search?q=black&limit=24" + facets, cached},
		{"cached-personalized-limit24", "/v1/search?q=black&limit=24&user=fan" + facets, cached},
	}
	reqs := make([]*http.Request, len(variants))
	for i, v := range variants {
		reqs[i] = httptest.NewRequest(http.MethodGet, v.target, nil)
		reqs[i].Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
		if n := hits(b, v.h, reqs[i]); n == 0 { // and a cached variant's fill
			b.Fatalf("%s: no hits", v.target)
		}
	}
	// Interleaved: each iteration serves every variant perRound times in
	// turn, so that the load of the shared machine drifts over all of them
	// alike; each variant's figure is its CPU over all its requests.
	const perRound = 20
	cpu := make([]time.Duration, len(variants))
	b.ReportAllocs()
	for b.Loop() {
		for i, v := range variants {
			c0 := cpuNow()
			for range perRound {
				rec := httptest.NewRecorder()
				v.h.ServeHTTP(rec, reqs[i])
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", v.target, rec.Code, rec.Body)
				}
			}
			cpu[i] += cpuNow() - c0
		}
	}
	for i, v := range variants {
		b.ReportMetric(float64(cpu[i].Microseconds())/float64(b.N*perRound), v.name+"-cpu-µs")
	}
}

// hits is the total of req's answer.
func hits(b *testing.B, h http.Handler, req *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a struct{ Total int }
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		b.Fatal(err)
	}
	return a.Total
}
