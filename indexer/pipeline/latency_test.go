package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

type nopApplier struct{}

func (nopApplier) Apply(context.Context, []query.Change) (query.ApplyStats, error) {
	return query.ApplyStats{}, nil
}

func priceChange(id string, marker int64) query.Change {
	return query.Change{ID: id, Version: 1, Doc: &rummage.Listing{ID: id, PriceCents: marker}}
}

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	r := NewRecorder(nopApplier{})
	t0 := time.Now()
	r.Expect("a", 1)
	r.Expect("a", 2) // coalesced with 3 below
	r.Expect("a", 3)
	r.Expect("b", 4) // applied before its commit is seen
	r.Expect("c", 5) // never applied
	r.Expect("d", 6) // failed transaction
	r.Committed(t0, 1, 2, 3)
	r.Forget(6)
	if _, err := r.Apply(ctx, []query.Change{priceChange("a", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := r.Outstanding(); got != 4 {
		t.Fatalf("outstanding = %d, want 4 (a/2, a/3, b, c)", got)
	}
	r.Apply(ctx, []query.Change{priceChange("a", 3), priceChange("b", 4), priceChange("zz", 99)})
	r.Committed(time.Now(), 4)
	s := r.Summary()
	if s.Count != 4 || s.Outstanding != 1 {
		t.Fatalf("summary = %+v, want 4 measured and 1 outstanding", s)
	}
	if s.P50Ms < 0 || s.MaxMs < s.P50Ms {
		t.Errorf("bad percentiles: %+v", s)
	}
	if m := r.Missing(5); len(m) != 1 {
		t.Errorf("missing = %v, want c only", m)
	}
	// A redelivery changes nothing.
	r.Apply(ctx, []query.Change{priceChange("a", 3)})
	if got := r.Summary().Count; got != 4 {
		t.Errorf("count after redelivery = %d, want 4", got)
	}
}

func TestLatencyWindows(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	commits := []time.Time{t0.Add(25 * time.Second), t0, t0.Add(9 * time.Second), t0.Add(21 * time.Second)}
	lat := []time.Duration{4 * time.Second, 100 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second}
	got := windows(commits, lat)
	want := []LatencyWindow{
		{StartS: 0, Count: 2, P50Ms: 300, P99Ms: 300, MaxMs: 300},
		{StartS: 20, Count: 2, P50Ms: 4000, P99Ms: 4000, MaxMs: 4000},
	}
	if len(got) != len(want) {
		t.Fatalf("windows = %+v, want %+v (the empty 10-20 s window left out)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("window %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
