package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeSocial is the social state the middleware reads.
type fakeSocial struct {
	blocked   map[string][]string
	following map[string][]string
	parties   map[string]*signals.Party
}

func (f *fakeSocial) Blocked(_ context.Context, u string) ([]string, error) { return f.blocked[u], nil }
func (f *fakeSocial) Following(_ context.Context, u string, _ time.Time, _ int) ([]string, error) {
	return f.following[u], nil
}
func (f *fakeSocial) Party(_ context.Context, id string) (*signals.Party, error) {
	if p, ok := f.parties[id]; ok {
		return p, nil
	}
	return nil, signals.ErrNotFound
}

// catalog is a tiny discovery layer: listings filtered by brand and
// category, parties by a shared set, and a counter of computations.
type catalog struct {
	mu       sync.Mutex
	listings map[string]*rummage.Listing
	shared   map[string][]string // party → listing ids
	calls    atomic.Int64
	gate     chan struct{} // when set, every computation waits on it
	started  chan struct{} // when set, told when a computation begins
	now      func() time.Time
}

func (cat *catalog) answer(c echo.Context, ids []string) error {
	cat.calls.Add(1)
	if cat.started != nil {
		cat.started <- struct{}{}
	}
	if cat.gate != nil {
		<-cat.gate
	}
	cat.mu.Lock()
	defer cat.mu.Unlock()
	brand, category, user := c.QueryParam("brand"), c.QueryParam("category"), c.QueryParam("user")
	now := cat.now()
	if at, ok := query.AsOfFrom(c.Request().Context()); ok {
		now = at
	}
	type hit struct {
		ID    string `json:"id"`
		Brand string `json:"brand"`
		Title string `json:"title"`
	}
	hits := []hit{}
	for _, id := range ids {
		l := cat.listings[id]
		if l == nil || l.Status != rummage.StatusAvailable || l.AvailableAt != nil && l.AvailableAt.After(now) {
			continue
		}
		if brand != "" && !strings.EqualFold(l.Brand, brand) || category != "" && (len(l.Category) == 0 || !strings.EqualFold(l.Category[0], category)) {
			continue
		}
		if user != "" && l.SellerID == "blocked-by-"+user {
			continue
		}
		hits = append(hits, hit{l.ID, l.Brand, l.Title})
	}
	return c.JSON(http.StatusOK, map[string]any{"total": len(hits), "hits": hits, "facets": map[string]any{}, "next_cursor": fmt.Sprintf("c%d", cat.calls.Load())})
}

func (cat *catalog) all() []string {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	var ids []string
	for id := range cat.listings {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

type fixture struct {
	t     *testing.T
	clk   *clock
	c     *Cache
	cat   *catalog
	soc   *fakeSocial
	drops []time.Time
	h     http.Handler
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, clk: &clock{t: t0}, soc: &fakeSocial{blocked: map[string][]string{}, following: map[string][]string{}, parties: map[string]*signals.Party{}}}
	f.cat = &catalog{listings: map[string]*rummage.Listing{}, shared: map[string][]string{}, now: f.clk.Now}
	for i, b := range []string{"Nike", "Nike", "Adidas", "Zara", "Zara", "Gap"} {
		cat := "Women"
		if i%2 == 1 {
			cat = "Men"
		}
		id := fmt.Sprintf("l%d", i)
		f.cat.listings[id] = &rummage.Listing{ID: id, SellerID: fmt.Sprintf("s%d", i%3), Title: "t" + id, Brand: b, Category: []string{cat}, Status: rummage.StatusAvailable}
	}
	f.soc.parties["p1"] = &signals.Party{ID: "p1", StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Hour)}
	f.soc.parties["p2"] = &signals.Party{ID: "p2", StartsAt: t0.Add(5 * time.Second), EndsAt: t0.Add(2 * time.Hour), Theme: signals.Theme{}}
	f.soc.parties["p2"].Theme.Filters.Brands = []string{"Zara"}
	f.cat.shared["p1"] = []string{"l0", "l2", "l3"}
	f.cat.shared["p2"] = []string{"l3", "l4"}
	b := &Boundaries{
		Drops: func(_ context.Context, from time.Time) ([]time.Time, error) {
			var out []time.Time
			for _, d := range f.drops {
				if d.After(from) {
					out = append(out, d)
				}
			}
			return out, nil
		},
		Parties: func(context.Context) ([]signals.Party, error) {
			var out []signals.Party
			for _, p := range f.soc.parties {
				out = append(out, *p)
			}
			return out, nil
		},
	}
	var err error
	if f.c, err = New(Config{Now: f.clk.Now, Boundaries: b}); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(f.c.Middleware(HTTPConfig{Social: f.soc}))
	e.GET("/v1/search", func(c echo.Context) error { return f.cat.answer(c, f.cat.all()) })
	e.GET("/v1/parties/:id/feed", func(c echo.Context) error {
		f.cat.mu.Lock()
		ids := f.cat.shared[c.Param("id")]
		f.cat.mu.Unlock()
		return f.cat.answer(c, ids)
	})
	e.GET("/v1/feed/following", func(c echo.Context) error { return f.cat.answer(c, f.cat.all()) })
	e.GET("/v1/drops", func(c echo.Context) error {
		f.cat.calls.Add(1)
		return c.JSON(http.StatusOK, struct {
			ServerTime time.Time `json:"server_time"`
			Drops      []any     `json:"drops"`
		}{f.clk.Now(), []any{}})
	})
	f.h = e
	return f
}

func (f *fixture) get(target string, hdr ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	rec := testkit.Serve(f.h, http.MethodGet, target, nil, hdr...)
	if rec.Code != http.StatusOK && rec.Code != http.StatusNotModified {
		f.t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec
}

// state is what the cache holds for target now.
func (f *fixture) state(target string) State {
	if !strings.Contains(target, "?") {
		target += "?"
	}
	_, st := f.c.Lookup(target, f.clk.Now())
	return st
}

func TestETagAnd304(t *testing.T) {
	f := newFixture(t)
	r1 := f.get("/v1/search?brand=nike")
	tag := r1.Header().Get("ETag")
	if tag == "" || !strings.HasPrefix(tag, `W/"`) {
		t.Fatalf("ETag %q", tag)
	}
	if cc := r1.Header().Get("Cache-Control"); cc != "public, max-age=0, s-maxage=2, stale-while-revalidate=2" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if sk := r1.Header().Get("Surrogate-Key"); !strings.Contains(sk, "l:l0") || !strings.Contains(sk, "brand:nike") {
		t.Fatalf("Surrogate-Key %q", sk)
	}
	if cs := r1.Header().Get(HeaderCacheStatus); cs != CacheStatusMiss {
		t.Fatalf("first answer: Cache-Status %q, want %q", cs, CacheStatusMiss)
	}
	r2 := f.get("/v1/search?brand=nike", "If-None-Match", tag)
	if cs := r2.Header().Get(HeaderCacheStatus); cs != CacheStatusHit {
		t.Fatalf("second answer: Cache-Status %q, want %q", cs, CacheStatusHit)
	}
	if r2.Code != http.StatusNotModified || r2.Body.Len() != 0 || r2.Header().Get("ETag") != tag {
		t.Fatalf("revalidation: %d %q body %q", r2.Code, r2.Header().Get("ETag"), r2.Body)
	}
	if r3 := f.get("/v1/search?brand=nike", "If-None-Match", `W/"other"`); r3.Code != http.StatusOK || r3.Body.String() != r1.Body.String() {
		t.Fatalf("other ETag: %d", r3.Code)
	}
	if n := f.cat.calls.Load(); n != 1 {
		t.Fatalf("%d computations, want 1", n)
	}
	// A refill that answers the same (but for its cursor) keeps the ETag.
	f.c.Invalidate([]string{"l0"}, nil)
	if cs := f.get("/v1/search?brand=nike").Header().Get(HeaderCacheStatus); cs != CacheStatusStale {
		t.Fatalf("after an invalidation: Cache-Status %q, want %q", cs, CacheStatusStale)
	}
	f.clk.Add(DefaultStale)
	if r4 := f.get("/v1/search?brand=nike"); r4.Header().Get("ETag") != tag || f.cat.calls.Load() != 2 {
		t.Fatalf("refill: ETag %q (was %q), %d computations", r4.Header().Get("ETag"), tag, f.cat.calls.Load())
	}
}

func TestCoalescing(t *testing.T) {
	f := newFixture(t)
	f.cat.gate = make(chan struct{})
	const n = 32
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = f.get("/v1/search?category=women").Body.String()
		}()
	}
	close(f.cat.gate)
	wg.Wait()
	if got := f.cat.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent misses computed %d times, want 1", n, got)
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Fatalf("caller %d got another answer", i)
		}
	}
}

// TestLoadDetached: the first caller giving up does not cancel the load
// the others wait on; each caller waits on its own context.
func TestLoadDetached(t *testing.T) {
	f := newFixture(t)
	f.cat.gate, f.cat.started = make(chan struct{}), make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	fill := func(ctx context.Context) (*Entry, bool, error) {
		f.cat.started <- struct{}{}
		<-f.cat.gate
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return &Entry{Body: []byte(`{"hits":[]}`), Status: 200}, true, nil
	}
	go func() { _, err := f.c.Load(ctx, "k", fill); errc <- err }()
	<-f.cat.started
	second := make(chan error, 1)
	go func() { _, err := f.c.Load(context.Background(), "k", fill); second <- err }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("first caller: %v, want its own cancellation", err)
	}
	close(f.cat.gate)
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v (the load was cancelled with the first)", err)
	}
	if _, st := f.c.Lookup("k", f.clk.Now()); st != Hit {
		t.Fatalf("the load was not stored: %v", st)
	}
}

// TestInvalidationPurgesDependents: a change purges every entry that
// depends on its id or on a tag of its old or new row, and no other.
func TestInvalidationPurgesDependents(t *testing.T) {
	targets := map[string]string{
		"nike":      "/v1/search?brand=nike",
		"adidas":    "/v1/search?brand=adidas",
		"zara":      "/v1/search?brand=zara",
		"women":     "/v1/search?category=women",
		"men":       "/v1/search?category=men",
		"all":       "/v1/search?q=t",
		"party1":    "/v1/parties/p1/feed",
		"party2":    "/v1/parties/p2/feed",
		"following": "/v1/feed/following?user=u1",
	}
	cases := []struct {
		name   string
		ids    []string
		tags   []string
		purged []string
		late   []string // purged too once the counter-only changes are applied (CounterLag)
	}{
		// l0: Nike, Women, seller s0, shared into p1. Its brand moves to
		// Adidas: the old and the new brand's pages, the unfiltered ones,
		// the pages showing it, and the followers of its closet.
		{"brand change", nil, ListingDeps(
			&rummage.Listing{ID: "l0", SellerID: "s0", Brand: "Nike", Category: []string{"Women"}},
			&rummage.Listing{ID: "l0", SellerID: "s0", Brand: "Adidas", Category: []string{"Women"}}, t0),
			[]string{"nike", "adidas", "women", "all", "party1", "following"}, nil},
		// A share reorders its party's feed at once; the pages that only
		// show l4 (its share count) follow within CounterLag.
		{"share into p2", nil, RowDeps("shares", nil, json.RawMessage(`{"id":9,"user_id":"s2","listing_id":"l4","party_id":"p2"}`)),
			[]string{"party2", "following"}, []string{"zara", "women", "all"}},
		{"a follow", nil, RowDeps("follows", nil, json.RawMessage(`{"follower_id":"u1","seller_id":"s2"}`)), []string{"following"}, nil},
		{"by id", []string{"l3"}, nil, []string{"zara", "men", "all", "party1", "party2", "following"}, nil},
		{"suspension", nil, RowDeps("sellers", json.RawMessage(`{"id":"s1","status":"active"}`), json.RawMessage(`{"id":"s1","status":"suspended"}`)),
			[]string{"nike", "adidas", "zara", "women", "men", "all", "party1", "party2", "following"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.soc.following["u1"] = []string{"s0", "s2"}
			f.clk.Add(10 * time.Second) // p2 has started
			for _, target := range targets {
				f.get(target)
			}
			f.c.Invalidate(tc.ids, tc.tags)
			check := func(when string, want []string) {
				t.Helper()
				var purged []string
				for name, target := range targets {
					if st := f.state(target); st != Hit {
						purged = append(purged, name)
					}
				}
				slices.Sort(purged)
				want = slices.Clone(want)
				slices.Sort(want)
				if !slices.Equal(purged, want) {
					t.Fatalf("%s: purged %v, want %v", when, purged, want)
				}
			}
			check("at once", tc.purged)
			f.clk.Add(DefaultCounterLag / 2)
			f.c.Flush()
			check("before CounterLag", tc.purged)
			f.clk.Add(DefaultCounterLag / 2)
			f.c.Flush()
			check("after CounterLag", append(slices.Clone(tc.purged), tc.late...))
		})
	}
}

// TestCountersDoNotDelayAListingChange: applying a listing's counter-only
// changes opens no coalescing window for the listing itself: a sale just
// after them is applied at once; a second change within Coalesce of that
// one still waits.
func TestCountersDoNotDelayAListingChange(t *testing.T) {
	f := newFixture(t)
	f.get("/v1/search?brand=zara") // shows l3 and l4
	f.c.InvalidateDeps([]string{CounterDep("l4")})
	f.clk.Add(DefaultCounterLag)
	f.c.Flush() // the counters are applied
	f.clk.Add(10 * time.Millisecond)
	f.c.Invalidate([]string{"l4"}, nil) // a sale
	if _, pending := f.c.Len(); pending != 0 {
		t.Fatalf("the sale waits (%d pending) for the window the counters opened", pending)
	}
	f.clk.Add(10 * time.Millisecond)
	f.c.Invalidate([]string{"l4"}, nil)
	if _, pending := f.c.Len(); pending != 1 {
		t.Fatalf("a second change within Coalesce of the sale: %d pending, want 1", pending)
	}
}

// TestStaleBound: an invalidated entry is served while one refresh runs,
// never later than Stale after the change; a second change of the same tag
// within Coalesce waits for the window, and its entries still end within
// Stale of it.
func TestStaleBound(t *testing.T) {
	f := newFixture(t)
	const target = "/v1/search?brand=nike"
	f.get(target)
	f.c.Invalidate(nil, []string{BrandTag("nike")})
	if st := f.state(target); st != Stale {
		t.Fatalf("after a change: %v, want stale", st)
	}
	f.clk.Add(DefaultStale)
	if st := f.state(target); st != Miss {
		t.Fatalf("Stale after the change: %v, want miss", st)
	}
	f.get(target) // refilled at +400ms
	f.clk.Add(100 * time.Millisecond)
	f.c.Invalidate(nil, []string{BrandTag("nike")}) // 500ms: the tag was applied at 0, due again
	f.clk.Add(10 * time.Millisecond)
	f.c.Invalidate(nil, []string{BrandTag("nike")}) // within the window: coalesced
	if st := f.state(target); st != Stale {
		t.Fatalf("%v, want stale (first change of the window)", st)
	}
	if _, pending := f.c.Len(); pending != 1 {
		t.Fatalf("%d pending, want 1", pending)
	}
	f.clk.Add(DefaultCoalesce - 10*time.Millisecond)
	f.get(target) // a refill that began before the coalesced application
	f.c.Flush()
	if _, pending := f.c.Len(); pending != 0 {
		t.Fatalf("%d pending after the window, want 0", pending)
	}
	if st := f.state(target); st != Stale {
		t.Fatalf("after the coalesced application: %v, want stale", st)
	}
	f.clk.Add(DefaultStale - DefaultCoalesce + 10*time.Millisecond)
	if st := f.state(target); st != Miss {
		t.Fatalf("Stale after the coalesced change: %v, want miss", st)
	}
}

// TestFillInvalidateRace: a fill that began before an invalidation of one
// of its dependencies is answered but not stored; one that began after is.
func TestFillInvalidateRace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dep    string
		stored bool
	}{
		{"a listing it shows", ListingDep("l0"), false},
		{"its brand", BrandTag("nike"), false},
		{"another brand", BrandTag("gap"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.cat.gate, f.cat.started = make(chan struct{}), make(chan struct{}, 1)
			done := make(chan string)
			go func() { done <- f.get("/v1/search?brand=nike").Body.String() }()
			<-f.cat.started // the fill read its data
			f.c.InvalidateDeps([]string{tc.dep})
			close(f.cat.gate)
			if body := <-done; !strings.Contains(body, `"l0"`) {
				t.Fatalf("the caller got %s", body)
			}
			st := f.state("/v1/search?brand=nike")
			if (st == Hit) != tc.stored {
				t.Fatalf("stored: %v (state %v), want %v", st == Hit, st, tc.stored)
			}
			if d := testutil.ToFloat64(f.c.m.Discarded); (d == 1) == tc.stored {
				t.Fatalf("%v fills discarded", d)
			}
		})
	}
}

// TestBoundaries: no entry and no HTTP lifetime crosses a drop instant or
// a party boundary that changes it.
func TestBoundaries(t *testing.T) {
	f := newFixture(t)
	f.drops = []time.Time{t0.Add(10 * time.Second), t0.Add(time.Hour)}
	r := f.get("/v1/search?brand=nike")
	p1 := f.get("/v1/parties/p1/feed") // p1 runs until +1h: the drop bounds it
	p2 := f.get("/v1/parties/p2/feed") // p2 starts at +5s
	if cc := r.Header().Get("Cache-Control"); cc != "public, max-age=0, s-maxage=2, stale-while-revalidate=2" {
		t.Fatalf("search at -10s: %q", cc)
	}
	_ = p1
	_ = p2
	f.clk.Add(4*time.Second + 500*time.Millisecond)
	if cc := f.get("/v1/parties/p2/feed").Header().Get("Cache-Control"); cc != "public, max-age=0, s-maxage=0, stale-while-revalidate=0" {
		t.Fatalf("p2 feed 0.5s before its start: %q", cc)
	}
	if cc := f.get("/v1/search?brand=nike").Header().Get("Cache-Control"); cc != "public, max-age=0, s-maxage=2, stale-while-revalidate=2" {
		t.Fatalf("search 5.5s before a drop: %q", cc)
	}
	f.clk.Add(500 * time.Millisecond) // p2 starts
	if st := f.state("/v1/parties/p2/feed"); st != Miss {
		t.Fatalf("p2 feed at its start: %v, want miss", st)
	}
	if st := f.state("/v1/parties/p1/feed"); st != Hit {
		t.Fatalf("p1 feed at p2's start: %v, want hit", st)
	}
	f.clk.Add(4 * time.Second) // 1s before the drop
	if cc := f.get("/v1/search?brand=nike").Header().Get("Cache-Control"); cc != "public, max-age=0, s-maxage=1, stale-while-revalidate=0" {
		t.Fatalf("search 1s before a drop: %q", cc)
	}
	f.clk.Add(time.Second) // the drop
	for _, target := range []string{"/v1/search?brand=nike", "/v1/parties/p1/feed"} {
		if st := f.state(target); st != Miss {
			t.Fatalf("%s at the drop: %v, want miss", target, st)
		}
	}
	// A drop scheduled after the entries were filled bounds the entries it
	// could enter once its listing's change reaches the cache; the others
	// it cannot change.
	f.get("/v1/search?brand=gap")
	f.get("/v1/search?brand=nike")
	f.drops = append(f.drops, f.clk.Now().Add(3*time.Second))
	f.c.Invalidate(nil, ListingDeps(nil, &rummage.Listing{ID: "l9", Brand: "Gap", AvailableAt: ptr(f.clk.Now().Add(3 * time.Second))}, f.clk.Now()))
	f.clk.Add(DefaultStale)
	f.get("/v1/search?brand=gap") // refilled: bounded by the new drop
	f.clk.Add(3 * time.Second)
	if st := f.state("/v1/search?brand=gap"); st != Miss {
		t.Fatalf("after a drop scheduled meanwhile: %v, want miss", st)
	}
	if st := f.state("/v1/search?brand=nike"); st != Hit {
		t.Fatalf("a page the drop cannot enter: %v, want hit", st)
	}
}

func ptr[T any](v T) *T { return &v }

// TestViewers: a viewer who blocks nobody shares the anonymous entry; one
// who blocks closets gets an entry of their own, private; the following
// feed is per user.
func TestViewers(t *testing.T) {
	f := newFixture(t)
	f.soc.blocked["u2"] = []string{"s9"}
	anon := f.get("/v1/search?brand=zara")
	u1 := f.get("/v1/search?brand=zara&user=u1")
	if u1.Body.String() != anon.Body.String() || f.cat.calls.Load() != 1 {
		t.Fatalf("a viewer without blocks: %d computations", f.cat.calls.Load())
	}
	u2 := f.get("/v1/search?brand=zara&user=u2")
	if f.cat.calls.Load() != 2 || u2.Header().Get("Cache-Control") != "private, no-store" || u2.Header().Get("Surrogate-Key") != "" {
		t.Fatalf("a viewer with blocks: %d computations, %q", f.cat.calls.Load(), u2.Header().Get("Cache-Control"))
	}
	fl := f.get("/v1/feed/following?user=u1")
	if fl.Header().Get("Cache-Control") != "private, no-store" {
		t.Fatalf("following: %q", fl.Header().Get("Cache-Control"))
	}
	f.c.Invalidate(nil, []string{UserTag("u2")})
	if f.state("/v1/search?brand=zara&user=u2") != Stale || f.state("/v1/search?brand=zara") != Hit {
		t.Fatal("a block change purges the viewer's entries only")
	}
}

func TestDropsServerTime(t *testing.T) {
	f := newFixture(t)
	r1 := f.get("/v1/drops")
	f.clk.Add(1500 * time.Millisecond)
	r2 := f.get("/v1/drops")
	var a, b struct {
		ServerTime time.Time `json:"server_time"`
	}
	if err := json.Unmarshal(r1.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r2.Body.Bytes(), &b); err != nil {
		t.Fatalf("%v: %s", err, r2.Body)
	}
	if f.cat.calls.Load() != 1 || !b.ServerTime.Equal(t0.Add(1500*time.Millisecond)) {
		t.Fatalf("cached drops: server_time %v (want the request's clock)", b.ServerTime)
	}
}

// TestHook: the indexer's changes become the dependencies of their old and
// new rows.
func TestHook(t *testing.T) {
	f := newFixture(t)
	f.get("/v1/search?brand=nike")
	f.get("/v1/search?brand=zara")
	f.get("/v1/search?category=men")
	h := &Hook{Sink: f.c, Now: f.clk.Now}
	err := h.Invalidate(context.Background(), []indexer.Changed{{Table: rummage.ListingsTable,
		Before: json.RawMessage(`{"id":"l7","seller_id":"s1","title":"x","brand":"Nike","category":["Women"],"status":"available"}`),
		After:  json.RawMessage(`{"id":"l7","seller_id":"s1","title":"x","brand":"Zara","category":["Women"],"status":"sold"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if f.state("/v1/search?brand=nike") != Stale || f.state("/v1/search?brand=zara") != Stale || f.state("/v1/search?category=men") != Hit {
		t.Fatal("a brand change purges the old and the new brand's pages, and not the other category's")
	}
	if err := h.Invalidate(context.Background(), []indexer.Changed{{Table: rummage.ListingsTable}}); err != nil {
		t.Fatal(err)
	}
	if f.state("/v1/search?category=men") != Miss {
		t.Fatal("a truncate drops everything")
	}
}

// TestPurgeHook: the webhook hears every applied invalidation, as
// Surrogate-Key tokens, coalesced like the cache's own.
func TestPurgeHook(t *testing.T) {
	got := make(chan []string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Keys []string `json:"surrogate_keys"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		got <- body.Keys
	}))
	defer srv.Close()
	clk := &clock{t: t0}
	c, err := New(Config{Now: clk.Now, Purger: &Webhook{URL: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	c.Invalidate([]string{"l1"}, []string{BrandTag("Free People")})
	keys := <-got
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"brand:free%20people", "l:l1"}) {
		t.Fatalf("purged %v", keys)
	}
	c.Invalidate([]string{"l1"}, nil) // within the window: waits for it
	clk.Add(DefaultCoalesce)
	c.Flush()
	if keys := <-got; !slices.Equal(keys, []string{"l:l1"}) {
		t.Fatalf("coalesced purge %v", keys)
	}
}
