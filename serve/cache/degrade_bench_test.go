package cache

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/signals"
)

// BenchmarkDegradeSteps is the cost breakdown behind the order of
// admission's degradation steps (docs/admission.md): the server CPU of one
// search over 20,000 listings of the embedded index, whole and with each
// step applied, computed every time (what admission guards), and a
// personalized search whose re-ranked window is computed and cached. The
// steps' order follows cost saved per quality lost.
func BenchmarkDegradeSteps(b *testing.B) {
	st, x := partyData(b, 20000, 0)
	ctx := context.Background()
	if err := st.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{{User: "h_fan", Feature: "b:Zara", Weight: 30, At: time.Now()}}}); err != nil {
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
		{"computed/whole-limit100", "/v1/search?q=jacket&limit=100" + facets, uncached},
		{"computed/no-facets-limit100", "/v1/search?q=jacket&limit=100", uncached},
		{"computed/capped-limit24", "/v1/search?q=jacket&limit=24" + facets, uncached},
		{"computed/no-facets-capped-limit24", "/v1/search?q=jacket&limit=24", uncached},
		{"computed/browse-whole-limit24", "/v1/search?category=Women&sort=newest&limit=24" + facets, uncached},
		{"computed/browse-no-facets-limit24", "/v1/search?category=Women&sort=newest&limit=24", uncached},
		{"computed/personalized-limit24", "/v1/search?q=jacket&limit=24&user=fan" + facets, uncached},
		{"cached/anonymous-limit24", "/v1/search?q=jacket&limit=24" + facets, cached},
		{"cached/personalized-limit24", "/v1/search?q=jacket&limit=24&user=fan" + facets, cached},
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
		})
	}
}
