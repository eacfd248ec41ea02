package indexer

import (
	"context"
	"testing"
)

// invalidations records what the indexer tells the serving cache.
type invalidations struct{ flakySink[Changed] }

func (v *invalidations) Invalidate(_ context.Context, changes []Changed) error {
	return v.take("invalidate", changes, len(changes))
}

// TestInvalidatorAfterApplyBeforeCommit: every change of a batch, the
// superseded ones included, reaches the Invalidator with its old and new
// rows, after the apply and before the commit; a failure is retried.
func TestInvalidatorAfterApplyBeforeCommit(t *testing.T) {
	h := newHarness(t, Config{})
	inv := &invalidations{flakySink[Changed]{j: h.j, failures: 1}}
	h.ix.cfg.Invalidator = inv
	h.src.add(key("a"), listingEvent("c", "a", 10, 100, 0))
	h.src.add(key("a"), listingEvent("u", "a", 11, 90, 0))
	h.src.add(key("b"), listingEvent("d", "b", 12, 200, 0))
	h.run(t, func() bool { return h.committed() == 3 })
	h.wantJournal(t, "apply 2", "invalidate failed", "invalidate 3", "commit 2")
	if c := inv.got[2]; c.Table != ListingsTable || c.Before == nil || c.After != nil {
		t.Fatalf("the delete: %+v", c)
	}
	if c := inv.got[1]; c.After == nil {
		t.Fatalf("the update: %+v", c)
	}
}
