package indexer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// invalidations records what the indexer tells the serving cache.
type invalidations struct {
	j     *journal
	mu    sync.Mutex
	got   []Changed
	fails int
}

func (v *invalidations) Invalidate(_ context.Context, changes []Changed) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fails > 0 {
		v.fails--
		v.j.add("invalidate failed")
		return errors.New("broker down")
	}
	v.got = append(v.got, changes...)
	v.j.add("invalidate %d", len(changes))
	return nil
}

// TestInvalidatorAfterApplyBeforeCommit: every change of a batch, the
// superseded ones included, reaches the Invalidator with its old and new
// rows, after the apply and before the commit; a failure is retried.
func TestInvalidatorAfterApplyBeforeCommit(t *testing.T) {
	h := newHarness(t, Config{})
	inv := &invalidations{j: h.j, fails: 1}
	h.ix.cfg.Invalidator = inv
	h.src.add(key("a"), listingEvent("c", "a", 10, 100, 0))
	h.src.add(key("a"), listingEvent("u", "a", 11, 90, 0))
	h.src.add(key("b"), listingEvent("d", "b", 12, 200, 0))
	h.run(t, func() bool { return h.committed() == 3 })
	want := []string{"apply 2", "invalidate failed", "invalidate 3", "commit 2"}
	if got := h.j.list(); !slices.Equal(got, want) {
		t.Fatalf("journal %v, want %v", got, want)
	}
	if c := inv.got[2]; c.Table != ListingsTable || c.Before == nil || c.After != nil {
		t.Fatalf("the delete: %+v", c)
	}
	if c := inv.got[1]; c.After == nil {
		t.Fatalf("the update: %+v", c)
	}
}
