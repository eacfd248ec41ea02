package embedded

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rummage/rummage/query"
)

// countdown is a context whose deadline passes at its after-th look (Err
// call): a test of where Retrieve looks, without a clock.
type countdown struct {
	context.Context
	after int64
	looks atomic.Int64
}

func (c *countdown) Err() error {
	if c.looks.Add(1) > c.after {
		return context.DeadlineExceeded
	}
	return nil
}

// TestRetrieveHonoursTheDeadlineInItsLoops: a match-all browse with every
// facet over more listings than checkEvery looks at its context inside
// the facet and top-k loops, and wherever the deadline passes the answer
// is the context's error, never a partial result.
func TestRetrieveHonoursTheDeadlineInItsLoops(t *testing.T) {
	const n = 5 * checkEvery
	x, g := testIndex(t, Config{}, 7, n)
	ctx := context.Background()
	if _, err := x.Apply(ctx, upserts(g, 0, n)); err != nil {
		t.Fatal(err)
	}
	freshOrders(x) // the same path for every run below
	now := benchNow.Add(time.Hour)
	sorts := []query.Sort{query.SortRelevance, query.SortPriceAsc, query.SortNewest}
	defer func(f int) { orderFrac = f }(orderFrac)
	for i := range 2 * len(sorts) {
		sort := sorts[i%len(sorts)]
		if i == len(sorts) {
			orderFrac = 0 // then the top-k scans, without presorted orders
		}
		r := func() *query.Retrieval {
			return &query.Retrieval{Now: now, N: 24, Docs: 24, Sort: sort, Facets: query.Facets()}
		}
		res, err := x.Retrieve(ctx, r())
		if err != nil || res.Total < checkEvery || len(res.Hits) != 24 {
			t.Fatalf("%s: %v (%+v)", sort, err, res)
		}
		// An already-expired deadline: no answer.
		expired, cancel := context.WithDeadline(ctx, time.Unix(0, 0))
		if _, err := x.Retrieve(expired, r()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s, expired deadline: %v, want DeadlineExceeded", sort, err)
		}
		cancel()
		// How often a whole answer looks.
		probe := &countdown{Context: ctx, after: 1 << 62}
		if _, err := x.Retrieve(probe, r()); err != nil {
			t.Fatal(err)
		}
		looks := probe.looks.Load()
		t.Logf("%s (orderFrac %d): %d looks over %d listings", sort, orderFrac, looks, res.Total)
		// The facet counting walks the whole set (and the top-k scan too,
		// where no presorted order serves); the phases look 3 times.
		if min := int64(res.Total/checkEvery + 3); looks < min {
			t.Errorf("%s: %d looks at the context over %d listings; want at least %d (one per %d in the facet loops)", sort, looks, res.Total, min, checkEvery)
		}
		// The deadline passing at any of them is an error.
		for after := range looks {
			c := &countdown{Context: ctx, after: after}
			if res, err := x.Retrieve(c, r()); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s, deadline at look %d of %d: %v %v, want DeadlineExceeded", sort, after+1, looks, res != nil, err)
			}
		}
	}
}
