package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/rummage/rummage/query"
)

// TestBulkMerges loads in small batches (a segment each) and wants one
// segment at the end, installed for searches, with every listing in it.
func TestBulkMerges(t *testing.T) {
	ctx := context.Background()
	var phases []string
	const n = 3000
	x, g := testIndex(t, Config{BulkBatch: 200, Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}}, 5, n)
	st, err := x.Bulk(ctx, generated(g))
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != n || st.Stale != 0 {
		t.Fatalf("first load: %+v, want %d written", st, n)
	}
	adv, err := x.bi.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	if got := x.segments(adv.(*scorch.Scorch)); got != 1 {
		t.Errorf("%d segments after Bulk, want 1", got)
	}
	x.mu.RLock()
	installed := len(x.snap.Segments())
	x.mu.RUnlock()
	if installed != 1 {
		t.Errorf("searches see %d segments, want the merged one", installed)
	}
	if phases[len(phases)-1] != "merge" {
		t.Errorf("progress phases %v, want merge last", phases)
	}
	stats, err := x.Stats(ctx)
	if err != nil || stats.Documents != n {
		t.Fatalf("Stats = %+v, %v; want %d documents", stats, err, n)
	}
	for i := 0; i < n; i += 97 {
		l := g.Listing(i)
		got, err := x.Get(ctx, l.ID)
		if err != nil || got.Title != l.Title {
			t.Fatalf("Get(%s) = %v, %v; want title %q", l.ID, got, err, l.Title)
		}
	}
}

// TestCompact merges what batches of Apply left (a segment each) into one.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	x, g := testIndex(t, Config{}, 6, 900)
	for b := 0; b < 3; b++ {
		if _, err := x.Apply(ctx, upserts(g, b*300, (b+1)*300)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	x.mu.RLock()
	installed := len(x.snap.Segments())
	x.mu.RUnlock()
	if installed != 1 {
		t.Errorf("searches see %d segments after Compact, want 1", installed)
	}
	if st, err := x.Stats(ctx); err != nil || st.Documents != 900 {
		t.Errorf("Stats = %+v, %v; want 900 documents", st, err)
	}
}

// TestCompactBesideWrites runs Compact while batches keep being applied:
// both finish, nothing is lost, and searches see every document.
func TestCompactBesideWrites(t *testing.T) {
	ctx := context.Background()
	x, g := testIndex(t, Config{}, 7, 2000)
	apply := func(lo, hi int) error {
		_, err := x.Apply(ctx, upserts(g, lo, hi))
		return err
	}
	for b := 0; b < 10; b++ {
		if err := apply(b*100, (b+1)*100); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		for b := 10; b < 20; b++ {
			if err := apply(b*100, (b+1)*100); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := x.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, err := x.Stats(ctx); err != nil || st.Documents != 2000 {
		t.Fatalf("Stats = %+v, %v; want 2000 documents", st, err)
	}
	res, err := x.Retrieve(ctx, &query.Retrieval{N: 1, Now: benchNow.Add(time.Hour * 24 * 365)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total == 0 {
		t.Error("no visible listing after Compact")
	}
	for i := 0; i < 2000; i += 131 {
		if _, err := x.Get(ctx, g.Listing(i).ID); err != nil {
			t.Errorf("Get(%s): %v", g.Listing(i).ID, err)
		}
	}
}
