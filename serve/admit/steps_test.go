package admit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/serve/admit"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// personalServer is server with search personalization (a shopper "fan"
// with a profile) whose re-ranking a's personalization step skips.
func personalServer(t *testing.T, b *backend, a *admit.Admission, mw ...echo.MiddlewareFunc) (*api.Server, *apitest.Client) {
	t.Helper()
	st, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.ApplyProfiles(context.Background(), signals.ProfileBatch{Deltas: []signals.AffinityDelta{{User: "h_fan", Feature: "b:Zara", Weight: 30, At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Signals: st, Auth: api.Auth{Keys: apitest.Shared().Ring},
		Feeds: feed.Config{Personal: feed.PersonalConfig{Profiles: st, Pseudonym: func(u string) string { return "h_" + u }, Strength: func(string) int { return 100 }}}}
	s, err := api.New(cfg, b, slog.New(slog.NewTextHandler(io.Discard, nil)),
		api.WithMiddleware(append(mw, a.Middleware)...), api.WithPersonalizationSkip(a.SkipPersonalization))
	if err != nil {
		t.Fatal(err)
	}
	return s, apitest.NewClient(t, s, apitest.Shared().Search)
}

// occupier keeps requests in flight in b until done, each with a query of
// its own (a cache in front coalesces identical ones).
type occupier struct {
	s  http.Handler
	b  *backend
	h  *holder
	wg sync.WaitGroup
	n  int
}

func (o *occupier) to(n int) {
	o.b.mu.Lock()
	o.b.hold = o.h.hold
	o.b.mu.Unlock()
	for ; o.n < n; o.n++ {
		o.wg.Add(1)
		go func(i int) {
			defer o.wg.Done()
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("/v1/search?q=hold%d", i), nil)
			req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
			o.s.ServeHTTP(discard{}, req)
		}(o.n)
		<-o.h.entered
	}
	o.b.mu.Lock()
	o.b.hold = nil
	o.b.mu.Unlock()
}

func (o *occupier) done() { close(o.h.release); o.wg.Wait(); o.n = 0 }

func degradedOf(t *testing.T, r *apitest.Response) []string {
	t.Helper()
	var body struct {
		Degraded []string `json:"degraded"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	return body.Degraded
}

// TestDegradationStepsSwitchOnInOrder: as the requests in flight rise
// through a limit of 10, a personalized faceted search first loses its
// re-ranking (past 0.2), then its page size (0.4), then its facets (0.6),
// and is shed at the limit; each answer lists every step applied, in that
// order, in its body and Rummage-Degraded header, is no-store when
// degraded, and matches the OpenAPI document. Each step is counted.
func TestDegradationStepsSwitchOnInOrder(t *testing.T) {
	lim := &scripted{limit: 10}
	reg := prometheus.NewRegistry()
	a, err := admit.New(admit.Config{Floor: 1, Ceiling: 10, LaterShare: 1,
		Steps: admit.Steps{Personalization: 0.2, Limit: 0.4, Facets: 0.6}}, lim, reg)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{}
	s, client := personalServer(t, b, a)
	o := &occupier{s: s, b: b, h: newHolder()}
	defer func() {
		if o.n > 0 {
			o.done()
		}
	}()
	const probe = "/v1/search?q=dress&facets=brand&limit=50&user=fan"
	P, L, F := query.DegradedPersonalization, query.DegradedLimit, query.DegradedFacets
	want := [][]string{0: nil, 1: nil, 2: {P}, 3: {P}, 4: {P, L}, 5: {P, L}, 6: {P, L, F}, 7: {P, L, F}, 8: {P, L, F}, 9: {P, L, F}}
	var ns []int
	for k, w := range want {
		o.to(k)
		r := client.Get(t, probe)
		got := degradedOf(t, r)
		if r.Status != http.StatusOK || !slices.Equal(got, w) {
			t.Fatalf("%d in flight: %d, degraded %v, want %v", k, r.Status, got, w)
		}
		if h := r.Header.Get(api.HeaderDegraded); h != strings.Join(w, ", ") {
			t.Errorf("%d in flight: %s %q, want %q", k, api.HeaderDegraded, h, strings.Join(w, ", "))
		}
		cc := r.Header.Get("Cache-Control")
		if w != nil && cc != "no-store" || w == nil && cc != "private, no-store" {
			t.Errorf("%d in flight: Cache-Control %q", k, cc)
		}
		// What reached retrieval: the anonymous page (50, not the window
		// of 100) once re-ranking is skipped, then capped at 24; facets
		// until they are dropped.
		b.mu.Lock()
		last := b.last[len(b.last)-1]
		b.mu.Unlock()
		ns = append(ns, last.N)
		if (len(last.Facets) == 0) != (k >= 6) {
			t.Errorf("%d in flight: retrieval facets %v", k, last.Facets)
		}
	}
	if !(ns[0] == ns[1] && ns[1] > ns[2] && ns[2] == ns[3] && ns[3] > ns[4] && slices.Min(ns[4:]) == slices.Max(ns[4:])) {
		t.Errorf("candidates retrieved by requests in flight: %v, want three falling levels at 2 and 4", ns)
	}
	o.to(10)
	if r := client.Get(t, probe); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("at the limit: %d %v", r.Status, r.Header)
	}
	o.done()
	// Counted per step: personalization at 2..10 in flight (9: the probe
	// shed at 10 skipped its re-ranking before admission shed it), the
	// limit at 4..9 and facets at 6..9, plus the holders admitted past
	// them.
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, f := range mf {
		if f.GetName() == "rummage_admission_degraded_total" {
			for _, m := range f.GetMetric() {
				counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	// Holder i is admitted with i in flight before it, i+1 with it.
	holders := func(t float64) (n float64) {
		for i := range 10 {
			if float64(i+1) > t*10 {
				n++
			}
		}
		return n
	}
	// Each k's holders are started once (the occupier keeps them).
	wantCounts := map[string]float64{P: 9, L: 6 + holders(0.4), F: 4 + holders(0.6)}
	if !equalCounts(counts, wantCounts) {
		t.Errorf("rummage_admission_degraded_total: %v, want %v", counts, wantCounts)
	}
}

func equalCounts(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestDegradedAnswerIsNotCached: behind the response cache, an answer
// admitted degraded is passed to its caller (no-store, no ETag, its
// Rummage-Degraded header) and not stored: once the load is gone the same
// request is computed whole, and only that answer is then served from the
// cache.
func TestDegradedAnswerIsNotCached(t *testing.T) {
	lim := &scripted{limit: 10}
	a, err := admit.New(admit.Config{Floor: 1, Ceiling: 10, LaterShare: 1,
		Steps: admit.Steps{Personalization: 1, Limit: 1, Facets: 0.3}}, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{}
	s, client := server(t, b, c.Middleware(cache.HTTPConfig{}), a.Middleware)
	o := &occupier{s: s, b: b, h: newHolder()}
	const target = "/v1/search?q=dress&facets=brand"
	o.to(3) // 4 with the request: past 0.3×10
	r := client.Get(t, target)
	if got := degradedOf(t, r); !slices.Equal(got, []string{query.DegradedFacets}) ||
		r.Header.Get(api.HeaderDegraded) != query.DegradedFacets || r.Header.Get("Cache-Control") != "no-store" ||
		r.Header.Get("ETag") != "" || r.Header.Get(cache.HeaderCacheStatus) != cache.CacheStatusMiss {
		t.Fatalf("under load: degraded %v, headers %v", got, r.Header)
	}
	o.done()
	r = client.Get(t, target)
	if got := degradedOf(t, r); got != nil || r.Header.Get(cache.HeaderCacheStatus) != cache.CacheStatusMiss || r.Header.Get("ETag") == "" {
		t.Fatalf("after the load: degraded %v, headers %v (the degraded answer was stored)", got, r.Header)
	}
	r = client.Get(t, target)
	if got := degradedOf(t, r); got != nil || r.Header.Get(cache.HeaderCacheStatus) != cache.CacheStatusHit {
		t.Fatalf("again: degraded %v, headers %v", got, r.Header)
	}
}
