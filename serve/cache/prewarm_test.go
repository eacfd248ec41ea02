package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// TestPrewarmDrop: before a drop, the entries it ends are computed as of
// its instant and switched in when it comes: until then every answer is
// the old one (the drop's listing never shows early), from the instant on
// the new one, without a computation at the instant; a change that lands
// in between discards the staged answer.
func TestPrewarmDrop(t *testing.T) {
	f := newFixture(t)
	drop := t0.Add(10 * time.Second)
	f.drops = []time.Time{drop}
	f.cat.listings["l9"] = &rummage.Listing{ID: "l9", SellerID: "s9", Title: "tl9", Brand: "Nike", Category: []string{"Women"}, Status: rummage.StatusAvailable, AvailableAt: &drop}
	shows := func(target, id string) bool { return strings.Contains(f.get(target).Body.String(), `"id":"`+id+`"`) }

	for _, target := range []string{"/v1/search?brand=nike", "/v1/search?brand=zara", "/v1/parties/p1/feed"} {
		if shows(target, "l9") {
			t.Fatalf("%s shows the drop's listing before it", target)
		}
	}
	calls := f.cat.calls.Load()
	f.clk.Add(8 * time.Second)
	if n := f.c.StageAt(context.Background(), drop); n != 3 {
		t.Fatalf("staged %d entries, want the 3 the drop ends", n)
	}
	staged := f.cat.calls.Load() - calls
	f.clk.Add(2*time.Second - time.Millisecond)
	if shows("/v1/search?brand=nike", "l9") || f.state("/v1/search?brand=nike") != Hit {
		t.Fatal("a staged answer was served before its instant")
	}
	// A change between staging and the instant: Zara's listing l3 sold.
	f.cat.mu.Lock()
	f.cat.listings["l3"].Status = rummage.StatusSold
	f.cat.mu.Unlock()
	f.c.Invalidate([]string{"l3"}, ListingDeps(nil, f.cat.listings["l3"], f.clk.Now()))

	f.clk.Add(time.Millisecond) // the drop
	before := f.cat.calls.Load()
	r := f.get("/v1/search?brand=nike")
	if !strings.Contains(r.Body.String(), `"id":"l9"`) || r.Header().Get(HeaderCacheStatus) != CacheStatusHit || f.cat.calls.Load() != before {
		t.Fatalf("at the drop: %s (Cache-Status %q, %d computations)", r.Body, r.Header().Get(HeaderCacheStatus), f.cat.calls.Load()-before)
	}
	// The Zara page was staged showing l3; the sale discarded it.
	if shows("/v1/search?brand=zara", "l3") || f.cat.calls.Load() != before+1 {
		t.Fatalf("the Zara page after a sale between staging and the drop: %d computations", f.cat.calls.Load()-before)
	}
	if staged != 3 {
		t.Errorf("%d computations to stage 3 entries", staged)
	}
}

// TestPrewarmDropThroughAPI: through the real API, a page staged for a
// drop an hour away is computed as of the drop (the API answers as of
// query.WithAsOf) and shows the drop's listing only once the cache's clock
// reaches the drop.
func TestPrewarmDropThroughAPI(t *testing.T) {
	st, x := partyData(t, 200, 20)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	at := now.Add(time.Hour)
	l := &rummage.Listing{ID: "drop1", SellerID: "s001", Title: "Nike drop jacket", Brand: "Nike", Category: []string{"Women", "Coats"},
		PriceCents: 5000, Status: rummage.StatusAvailable, CreatedAt: now, UpdatedAt: now, AvailableAt: &at}
	if _, err := x.Apply(ctx, []query.Change{{ID: l.ID, Version: 2, Doc: l}}); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: now}
	c, err := New(Config{Now: clk.Now, Boundaries: &Boundaries{Drops: DropsOf(x), Parties: st.Parties}})
	if err != nil {
		t.Fatal(err)
	}
	h := partyServer(t, c, st, x)
	get := func() (string, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/search?brand=Nike&sort=newest", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		return rec.Body.String(), rec.Header().Get(HeaderCacheStatus)
	}
	if body, _ := get(); strings.Contains(body, `"drop1"`) {
		t.Fatal("the drop's listing shows an hour early")
	}
	clk.Add(time.Hour - 30*time.Second) // filled again: it now ends at the drop
	if body, _ := get(); strings.Contains(body, `"drop1"`) {
		t.Fatal("the drop's listing shows 30 s early")
	}
	clk.Add(28 * time.Second)
	if n := c.StageAt(ctx, at); n != 1 {
		t.Fatalf("staged %d, want 1", n)
	}
	if body, cs := get(); strings.Contains(body, `"drop1"`) || cs != CacheStatusHit {
		t.Fatalf("2 s before the drop: %s, drop shown %v", cs, strings.Contains(body, `"drop1"`))
	}
	clk.Add(2 * time.Second)
	if body, cs := get(); !strings.Contains(body, `"drop1"`) || cs != CacheStatusHit {
		t.Fatalf("at the drop: %s, drop shown %v", cs, strings.Contains(body, `"drop1"`))
	}
}
