package cache

import (
	"context"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer"
)

// Sink receives the dependencies a batch of changes touched: the Cache
// itself in one process (rummage dev), a Kafka topic that every API
// replica reads otherwise (package serve/cache/kafkainv).
type Sink interface {
	Send(ctx context.Context, deps []string) error
}

// Send invalidates deps: the Cache is the in-process Sink.
func (c *Cache) Send(_ context.Context, deps []string) error {
	c.InvalidateDeps(deps)
	return nil
}

// Hook is the indexer's Invalidator: it turns applied changes into their
// dependencies (old and new rows both) and sends them to Sink.
type Hook struct {
	Sink Sink
	// Now is the clock (time.Now): a drop is a future available_at.
	Now func() time.Time
}

// Invalidate implements indexer.Invalidator.
func (h *Hook) Invalidate(ctx context.Context, changes []indexer.Changed) error {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	deps := ChangeDeps(changes, now())
	if len(deps) == 0 {
		return nil
	}
	return h.Sink.Send(ctx, deps)
}

// ChangeDeps are the dependencies of a batch of changes, each once. A row
// that cannot be read, or a truncate, purges everything.
func ChangeDeps(changes []indexer.Changed, now time.Time) []string {
	seen := map[string]bool{}
	var out []string
	add := func(ds []string) {
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	for _, ch := range changes {
		if ch.Before == nil && ch.After == nil {
			return []string{All} // a truncate
		}
		if ch.Table != rummage.ListingsTable {
			add(RowDeps(ch.Table, ch.Before, ch.After))
			continue
		}
		var before, after *rummage.Listing
		for _, x := range []struct {
			raw []byte
			dst **rummage.Listing
		}{{ch.Before, &before}, {ch.After, &after}} {
			if x.raw == nil {
				continue
			}
			l, err := indexer.DecodeListing(x.raw)
			if err != nil {
				return []string{All}
			}
			*x.dst = &l
		}
		add(ListingDeps(before, after, now))
	}
	if seen[All] {
		return []string{All}
	}
	return out
}

// Sinks sends to each sink in turn: the topic other replicas read, then
// this process's own cache.
type Sinks []Sink

// Send implements Sink; it stops at the first error (the indexer retries
// the batch's invalidations whole: a cache hears some twice, which is
// harmless).
func (s Sinks) Send(ctx context.Context, deps []string) error {
	for _, k := range s {
		if err := k.Send(ctx, deps); err != nil {
			return err
		}
	}
	return nil
}
