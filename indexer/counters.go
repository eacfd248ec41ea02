package indexer

import (
	"context"
	"fmt"
	"slices"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// CounterSource answers the present counters of listings: the read side of
// the signals store the indexer derives like_count, share_count and
// last_shared_at from (migration 0004 dropped the triggers that kept them
// on the listing row; docs/architecture.md says why).
type CounterSource interface {
	// Counters returns every listing asked for, zero counters included.
	Counters(ctx context.Context, listings []string) (map[string]signals.Counters, error)
}

// counters is the derivation of the counters, on when the signals store
// can read them (CounterSource) and the backend can write them
// (query.CounterWriter).
type counters struct {
	src CounterSource
	dst query.CounterWriter
}

func newCounters(store signals.Writer, backend Applier) *counters {
	src, ok1 := store.(CounterSource)
	dst, ok2 := backend.(query.CounterWriter)
	if !ok1 || !ok2 {
		return nil
	}
	return &counters{src: src, dst: dst}
}

// fill sets the counters the store holds on the upserts of changes: the
// listing row does not carry them, and an upsert must not take back
// counters the index held. The store may not have this batch's likes and
// shares yet; refresh writes those listings again once it has.
func (c *counters) fill(ctx context.Context, changes []pending) error {
	batch := make([]query.Change, len(changes))
	for i, p := range changes {
		batch[i] = p.change // Doc is shared: filled in place
	}
	return FillCounters(ctx, c.src, batch)
}

// FillCounters sets on every upsert of batch the counters src holds for
// its listing (a reindex's backfill does too: snapshot rows carry none).
func FillCounters(ctx context.Context, src CounterSource, batch []query.Change) error {
	var ids []string
	for _, ch := range batch {
		if !ch.Delete {
			ids = append(ids, ch.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	got, err := src.Counters(ctx, ids)
	if err != nil {
		return fmt.Errorf("indexer: read counters: %w", err)
	}
	for _, ch := range batch {
		if !ch.Delete {
			toQuery(ch.ID, got[ch.ID]).Set(ch.Doc)
		}
	}
	return nil
}

// refresh writes the absolute counters of the listings the batch's likes
// and shares touch, read from the store once they are durable there.
// Replays write the same values again.
func (c *counters) refresh(ctx context.Context, social []signals.Change) error {
	return WriteCounters(ctx, c.src, c.dst, touchedListings(social))
}

// WriteCounters writes the counters src holds for ids to dst.
func WriteCounters(ctx context.Context, src CounterSource, dst query.CounterWriter, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	got, err := src.Counters(ctx, ids)
	if err != nil {
		return fmt.Errorf("indexer: read counters: %w", err)
	}
	cs := make([]query.Counters, len(ids))
	for i, id := range ids {
		cs[i] = toQuery(id, got[id])
	}
	if err := dst.ApplyCounters(ctx, cs); err != nil {
		return fmt.Errorf("indexer: write counters: %w", err)
	}
	return nil
}

// touchedListings are the listings of the likes and shares among social,
// each once, sorted. A truncate of likes or shares names none: reconcile
// reports the counters it leaves behind.
func touchedListings(social []signals.Change) []string {
	var ids []string
	for _, ch := range social {
		switch {
		case ch.Like != nil:
			ids = append(ids, ch.Like.Listing)
		case ch.Share != nil:
			ids = append(ids, ch.Share.Listing)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func toQuery(id string, c signals.Counters) query.Counters {
	q := query.Counters{ID: id, Likes: c.Likes, Shares: c.Shares}
	if !c.LastSharedAt.IsZero() {
		t := c.LastSharedAt
		q.LastSharedAt = &t
	}
	return q
}
