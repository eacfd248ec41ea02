package cache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// partyServer is the API over an embedded index of n listings and an
// in-memory signals store with a live party p1 into which shared listings
// were shared; with c set, its middleware caches.
func partyServer(b *testing.B, n, shared int, c *cache.Cache, st *memory.Store, x *embedded.Index) http.Handler {
	b.Helper()
	var opts []api.Option
	if c != nil {
		opts = append(opts, api.WithMiddleware(c.Middleware(cache.HTTPConfig{Social: st})))
	}
	s, err := api.New(api.Config{Signals: st, Auth: api.Auth{AnonymousReads: true}}, x, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func partyData(b *testing.B, n, shared int) (*memory.Store, *embedded.Index) {
	ctx := context.Background()
	x, err := embedded.Open(ctx, embedded.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	brands := []string{"Nike", "Zara", "Gap", "Adidas", "Levi's", "Madewell"}
	batch := make([]query.Change, n)
	for i := range batch {
		l := &rummage.Listing{ID: fmt.Sprintf("l%05d", i), SellerID: fmt.Sprintf("s%03d", i%300),
			Title: fmt.Sprintf("%s jacket %d", brands[i%len(brands)], i), Description: "a good jacket, barely worn, with pockets",
			Brand: brands[i%len(brands)], Category: []string{"Women", "Coats"}, Size: "M", Condition: "good",
			PriceCents: int64(1000 + i), Status: rummage.StatusAvailable, CreatedAt: now.Add(-time.Duration(i) * time.Minute), UpdatedAt: now,
			Images: []rummage.Image{{URL: fmt.Sprintf("https://img.example/%d/t.jpg", i), Width: 150, Height: 150},
				{URL: fmt.Sprintf("https://img.example/%d/m.jpg", i), Width: 600, Height: 600}}}
		batch[i] = query.Change{ID: l.ID, Version: 1, Doc: l}
	}
	if _, err := x.Apply(ctx, batch); err != nil {
		b.Fatal(err)
	}
	st, err := memory.Open("")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	sb := signals.Batch{Changes: []signals.Change{{Version: 1, Party: &signals.Party{ID: "p1", Name: "Coats", StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)}}}}
	for i := range shared {
		sb.Changes = append(sb.Changes, signals.Change{Version: uint64(i + 2), Share: &signals.Share{ID: int64(i + 1), User: fmt.Sprintf("u%d", i%50),
			Listing: fmt.Sprintf("l%05d", (i*7)%n), Party: "p1", At: now.Add(-time.Duration(shared-i) * time.Second)}})
	}
	sb.Positions = []signals.Position{{Topic: "bench", Partition: 0, Offset: 1}}
	if err := st.Apply(ctx, sb); err != nil {
		b.Fatal(err)
	}
	return st, x
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPartyFeedFirstPage: the party feed's first page (24 hits) over
// 20,000 listings and 5,000 shares, computed every time and from the
// cache, in one run: CPU per request (cpu-µs/op) and bytes per answer.
func BenchmarkPartyFeedFirstPage(b *testing.B) {
	st, x := partyData(b, 20000, 5000)
	c, err := cache.New(cache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		c    *cache.Cache
	}{{"uncached", nil}, {"cached", c}} {
		h := partyServer(b, 20000, 5000, bc.c, st, x)
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v1/parties/p1/feed", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
			size := rec.Body.Len()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuNow()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d", rec.Code)
				}
			}
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(size), "bytes/answer")
		})
	}
}
