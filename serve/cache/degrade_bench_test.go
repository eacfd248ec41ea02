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
// personalized search whose re-ranked window is computed and cached. The
// steps' order follows cost saved per quality lost.
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
	for _, bc := range []struct {
		name, target string
		h            http.Handler
	}{
		{"computed/whole-limit100", "/v1/search?q=black&limit=100" + facets, uncached},
		{"computed/no-facets-limit100", "/v1/search?q=black&limit=100", uncached},
		{"computed/capped-limit24", "/v1/search?q=black&limit=24" + facets, uncached},
		{"computed/no-facets-capped-limit24", "/v1/search?q=black&limit=24", uncached},
		{"computed/browse-whole-limit24", "/v1/search?category=Women&sort=newest&limit=24" + facets, uncached},
		{"computed/browse-no-facets-limit24", "/v1/search?category=Women&sort=newest&limit=24", uncached},
		{"computed/personalized-limit24", "/v1/search?q=black&limit=24&user=fan" + facets, uncached},
		{"cached/anonymous-limit24", "/v1/search?q=black&limit=24" + facets, cached},
		{"cached/personalized-limit24", "/v1/search?q=black&limit=24&user=fan" + facets, cached},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.target, nil)
			req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
			serve := func() {
				rec := httptest.NewRecorder()
				bc.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", bc.target, rec.Code, rec.Body)
				}
			}
			serve() // a cached variant's fill
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuNow()
			for b.Loop() {
				serve()
			}
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(hits(b, bc.h, req)), "total")
		})
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
