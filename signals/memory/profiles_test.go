package memory

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rummage/rummage/signals"
)

// TestProfilesCompactAndRecover applies enough batches to compact the
// profile log several times, tears the last frame, and checks that a
// reopened store holds every batch but the torn one.
func TestProfilesCompactAndRecover(t *testing.T) {
	defer func(n int64) { profileLogBytes = n }(profileLogBytes)
	profileLogBytes = 300
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	const n = 40
	for i := range n {
		b := signals.ProfileBatch{
			Deltas:    []signals.AffinityDelta{{User: fmt.Sprint("u", i%3), Feature: "b:Nike", Weight: 1, At: at}},
			Positions: []signals.Position{{Topic: "e", Partition: 0, Offset: int64(i)}},
		}
		if err := s.ApplyProfiles(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.prof.gen < 2 {
		t.Fatalf("generation %d: the log never compacted", s.prof.gen)
	}
	// Tear the current log's last frame (a write that never returned).
	log := filepath.Join(dir, profileLogName(s.prof.gen))
	st, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	torn := st.Size() > 0
	if torn {
		if err := os.Truncate(log, st.Size()-1); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	total := 0.0
	for u := range 3 {
		p, _ := r.Profile(ctx, fmt.Sprint("u", u), at)
		total += p["b:Nike"]
	}
	ps, _ := r.ProfilePositions(ctx)
	wantTotal, wantOff := float64(n), int64(n-1)
	if torn {
		wantTotal, wantOff = n-1, n-2
	}
	if math.Abs(total-wantTotal) > 1e-9 || len(ps) != 1 || ps[0].Offset != wantOff {
		t.Fatalf("recovered %v deltas at %v, want %v at offset %d", total, ps, wantTotal, wantOff)
	}
}
