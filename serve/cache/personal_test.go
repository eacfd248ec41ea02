package cache

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// TestPersonalizedSearchSharesTheWindow: personalized searches of two
// shoppers re-rank one cached anonymous window (one fill), each answer is
// private, a fan of Zara sees more Zara on the first page than the
// anonymous answer, and the anonymous answer is the uncached server's.
// A variant that changes retrieval gets entries of its own.
func TestPersonalizedSearchSharesTheWindow(t *testing.T) {
	ctx := context.Background()
	st, x := partyData(t, 600, 0)
	now := time.Now()
	for _, u := range []string{"h_fan1", "h_fan2"} {
		if err := st.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{{User: u, Feature: "b:Zara", Weight: 30, At: now}}}); err != nil {
			t.Fatal(err)
		}
	}
	m := NewMetrics()
	c, err := New(Config{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	variant := func(user string) string {
		if user == "deep" {
			return "exp/deep"
		}
		return ""
	}
	cfg := api.Config{Signals: st, Auth: api.Auth{Keys: apitest.Shared().Ring, AnonymousReads: true},
		Feeds: feed.Config{Personal: feed.PersonalConfig{Profiles: st, Pseudonym: func(u string) string { return "h_" + u }, Strength: func(string) int { return 100 }}}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := api.New(cfg, x, quiet, api.WithMiddleware(c.Middleware(HTTPConfig{Social: st, Variant: variant})))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := api.New(api.Config{Signals: st, Auth: cfg.Auth}, x, quiet)
	if err != nil {
		t.Fatal(err)
	}
	get := func(h http.Handler, target string) (*httptest.ResponseRecorder, []string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		var a struct{ Hits []struct{ Brand string } }
		_ = json.Unmarshal(rec.Body.Bytes(), &a)
		var bs []string
		for _, h := range a.Hits {
			bs = append(bs, h.Brand)
		}
		return rec, bs
	}
	zara := func(bs []string) (n int) {
		for _, b := range bs {
			if b == "Zara" {
				n++
			}
		}
		return n
	}
	misses := func() float64 { return testutil.ToFloat64(m.Requests.WithLabelValues("miss")) }
	r1, b1 := get(srv, "/v1/search?q=jacket&user=fan1")
	before := misses()
	r2, _ := get(srv, "/v1/search?q=jacket&user=fan2")
	if misses() != before {
		t.Errorf("the second shopper's window was not the cached one (%v misses)", misses()-before)
	}
	for _, r := range []*httptest.ResponseRecorder{r1, r2} {
		if r.Header().Get("Cache-Control") != "private, no-store" || r.Header().Get("ETag") != "" {
			t.Errorf("personalized answer headers %v", r.Header())
		}
	}
	anon, ba := get(srv, "/v1/search?q=jacket")
	ref, _ := get(plain, "/v1/search?q=jacket")
	// The servers' cursor keys differ (random) and every answer has its
	// own query id: compare without them.
	strip := func(r *httptest.ResponseRecorder) string {
		var a map[string]json.RawMessage
		_ = json.Unmarshal(r.Body.Bytes(), &a)
		delete(a, "next_cursor")
		delete(a, "query_id")
		b, _ := json.Marshal(a)
		return string(b)
	}
	if strip(anon) != strip(ref) || anon.Header().Get("Cache-Control") == "private, no-store" {
		t.Error("the anonymous answer is not the unpersonalized server's")
	}
	if zara(b1) <= zara(ba) {
		t.Errorf("a Zara fan sees %d Zara on page one, anonymous %d", zara(b1), zara(ba))
	}
	before = misses()
	get(srv, "/v1/search?q=jacket&user=deep")
	if misses() != before+1 {
		t.Errorf("a variant that changes retrieval shared the entry")
	}
}

// TestSkippedPersonalizationIsTheCachedAnonymousPage: while the serving
// layer says to skip re-ranking (admission's first degradation step), a
// personalized search is answered with the cached anonymous page (no fill
// of its own), its hits in the anonymous order, marked degraded
// "personalization" in body and header and no-store; the shared entry it
// read is not changed: the next anonymous answer is whole and public.
func TestSkippedPersonalizationIsTheCachedAnonymousPage(t *testing.T) {
	ctx := context.Background()
	st, x := partyData(t, 600, 0)
	if err := st.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{{User: "h_fan", Feature: "b:Zara", Weight: 30, At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	c, err := New(Config{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	var skip atomic.Bool
	cfg := api.Config{Signals: st, Auth: api.Auth{Keys: apitest.Shared().Ring},
		Feeds: feed.Config{Personal: feed.PersonalConfig{Profiles: st, Pseudonym: func(u string) string { return "h_" + u }, Strength: func(string) int { return 100 }}}}
	srv, err := api.New(cfg, x, slog.New(slog.NewTextHandler(io.Discard, nil)),
		api.WithMiddleware(c.Middleware(HTTPConfig{Social: st})), api.WithPersonalizationSkip(skip.Load))
	if err != nil {
		t.Fatal(err)
	}
	client := apitest.NewClient(t, srv, apitest.Shared().Search)
	type page struct {
		Hits     []struct{ ID string }
		Degraded []string
	}
	get := func(target string) (*apitest.Response, page) {
		t.Helper()
		r := client.Get(t, target)
		var p page
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &p) != nil {
			t.Fatalf("%s: %d %s", target, r.Status, r.Body)
		}
		return r, p
	}
	ids := func(p page) (out []string) {
		for _, h := range p.Hits {
			out = append(out, h.ID)
		}
		return out
	}
	const anon, pers = "/v1/search?q=jacket&facets=brand", "/v1/search?q=jacket&facets=brand&user=fan"
	_, whole := get(anon) // fills the anonymous page
	_, personalized := get(pers)
	if slices.Equal(ids(whole), ids(personalized)) {
		t.Fatal("the fan's page is the anonymous one: nothing to skip")
	}
	skip.Store(true)
	misses := testutil.ToFloat64(m.Requests.WithLabelValues("miss"))
	r, skipped := get(pers)
	if !slices.Equal(ids(skipped), ids(whole)) || !slices.Equal(skipped.Degraded, []string{query.DegradedPersonalization}) ||
		r.Header.Get(api.HeaderDegraded) != query.DegradedPersonalization || r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("ETag") != "" {
		t.Errorf("skipped: hits %v (anonymous %v), degraded %v, headers %v", ids(skipped), ids(whole), skipped.Degraded, r.Header)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("miss")); got != misses {
		t.Errorf("the skipped answer was computed (%v misses), not the cached anonymous page", got-misses)
	}
	skip.Store(false)
	r, again := get(anon)
	if again.Degraded != nil || r.Header.Get(api.HeaderDegraded) != "" || r.Header.Get("ETag") == "" || !slices.Equal(ids(again), ids(whole)) {
		t.Errorf("the shared entry after a skip: degraded %v, headers %v", again.Degraded, r.Header)
	}
	if _, p := get(pers); !slices.Equal(ids(p), ids(personalized)) || p.Degraded != nil {
		t.Errorf("personalized again: %v, degraded %v", ids(p), p.Degraded)
	}
}
