package reindex

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/swap"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// TestBackfillTakesCountersFromTheStore: snapshot rows carry no counters
// (migration 0004); the new index gets those of the signals store.
func TestBackfillTakesCountersFromTheStore(t *testing.T) {
	ctx := context.Background()
	store, err := memory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := store.Apply(ctx, signals.Batch{Changes: []signals.Change{
		{Version: 5, Like: &signals.Like{User: "u1", Listing: "l1", At: at}},
		{Version: 5, Share: &signals.Share{ID: 1, User: "u1", Listing: "l1", At: at}},
		{Version: 5, Share: &signals.Share{ID: 2, User: "u2", Listing: "l2", At: at.Add(time.Minute)}},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := embedded.Config{Dir: filepath.Join(t.TempDir(), "index")}
	old, err := embedded.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	live := swap.New(old)
	defer live.Close()
	snapshot := func(ctx context.Context, fn func(context.Context, []change.Event) error) (uint64, error) {
		var evs []change.Event
		for _, id := range []string{"l1", "l2", "l3"} {
			evs = append(evs, change.Event{Op: change.OpRead, Source: change.Source{Table: "listings", LSN: 100},
				After: []byte(fmt.Sprintf(`{"id":%q,"seller_id":"s1","title":"Listing %s","created_at":"2026-04-01T00:00:00Z"}`, id, id))})
		}
		return 100, fn(ctx, evs)
	}
	if _, err := Run(ctx, &Embedded{Live: live, Config: cfg}, Options{Snapshot: snapshot, Counters: store}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		id            string
		likes, shares int64
	}{{"l1", 1, 1}, {"l2", 0, 1}, {"l3", 0, 0}} {
		l, err := live.Get(ctx, w.id)
		if err != nil {
			t.Fatal(err)
		}
		if l.LikeCount != w.likes || l.ShareCount != w.shares || (w.shares > 0) != (l.LastSharedAt != nil) {
			t.Errorf("%s: %d likes, %d shares, last %v; want %d, %d", w.id, l.LikeCount, l.ShareCount, l.LastSharedAt, w.likes, w.shares)
		}
	}
}
