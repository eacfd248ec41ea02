package indexer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rummage/rummage/query/reference"
	"github.com/rummage/rummage/signals/memory"
)

// TestCountersDerivedFromTheStore: the listings' counters are the store's
// likes and shares, whatever the batch boundaries and the order the topics
// arrive in; a listing update keeps them (the row carries none), a listing
// seen after its likes gets them, a delete of a share takes it back.
func TestCountersDerivedFromTheStore(t *testing.T) {
	at := func(min int) string { return time.Date(2026, 5, 1, 12, min, 0, 0, time.UTC).Format(time.RFC3339) }
	share := func(id int, listing string, lsn, min int, op string) string {
		row := fmt.Sprintf(`{"id":%d,"user_id":"u%d","listing_id":%q,"party_id":"p1","created_at":%q}`, id, id, listing, at(min))
		if op == "d" {
			return fmt.Sprintf(`{"before":%s,"op":"d","source":{"table":"shares","lsn":%d}}`, row, lsn)
		}
		return fmt.Sprintf(`{"after":%s,"op":"c","source":{"table":"shares","lsn":%d}}`, row, lsn)
	}
	like := func(user, listing string, lsn int) string {
		return fmt.Sprintf(`{"after":{"user_id":%q,"listing_id":%q,"created_at":%q},"op":"c","source":{"table":"likes","lsn":%d}}`, user, listing, at(0), lsn)
	}
	for _, size := range []int{1, 3, 100} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			ctx := context.Background()
			store, err := memory.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			ref, err := reference.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			j := &journal{}
			src := &fakeSource{j: j}
			ix, err := New(src, ref, &fakeDLQ{flakySink[DeadLetter]{j: j}}, Config{Signals: store, BatchSize: size, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{j: j, src: src, ix: ix}
			h.addOn("p.public.listings", 0, key("a"), listingEvent("c", "a", 10, 100, 99)) // 99: a row's own share_count is not trusted
			h.addOn("p.public.shares", 0, `{"id":1}`, share(1, "a", 11, 5, "c"))
			h.addOn("p.public.shares", 1, `{"id":2}`, share(2, "a", 12, 9, "c"))
			h.addOn("p.public.shares", 0, `{"id":3}`, share(3, "a", 13, 7, "c"))
			h.addOn("p.public.likes", 0, `{"user_id":"u1"}`, like("u1", "a", 14))
			h.addOn("p.public.likes", 0, `{"user_id":"u2"}`, like("u2", "b", 15)) // b is not seen yet
			h.addOn("p.public.listings", 0, key("a"), listingEvent("u", "a", 16, 200, 0))
			h.addOn("p.public.listings", 0, key("b"), listingEvent("c", "b", 17, 300, 0))
			h.addOn("p.public.shares", 1, `{"id":2}`, share(2, "a", 18, 9, "d")) // the latest share deleted
			n := int64(len(src.msgs))
			h.run(t, func() bool { return h.committed() == n })

			for _, w := range []struct {
				id            string
				price         int64
				likes, shares int64
				last          string
			}{{"a", 200, 1, 2, at(7)}, {"b", 300, 1, 0, ""}} {
				l, err := ref.Get(ctx, w.id)
				if err != nil {
					t.Fatal(err)
				}
				last := ""
				if l.LastSharedAt != nil {
					last = l.LastSharedAt.Format(time.RFC3339)
				}
				if l.PriceCents != w.price || l.LikeCount != w.likes || l.ShareCount != w.shares || last != w.last {
					t.Errorf("%s: price %d, %d likes, %d shares, last %q; want %d, %d, %d, %q",
						w.id, l.PriceCents, l.LikeCount, l.ShareCount, last, w.price, w.likes, w.shares, w.last)
				}
			}
		})
	}
}
