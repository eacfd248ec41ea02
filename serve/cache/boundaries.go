package cache

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// Boundaries are the instants at which answers change without a write:
// drop instants (a listing becomes visible) and party boundaries (a party
// starts or ends). No entry and no HTTP lifetime crosses one that changes
// it. They are read again when an invalidation touches drops or parties,
// and at least every Refresh.
type Boundaries struct {
	// Drops returns the drop instants after from, soonest first.
	Drops func(ctx context.Context, from time.Time) ([]time.Time, error)
	// Parties returns every party.
	Parties func(ctx context.Context) ([]signals.Party, error)
	// Refresh bounds how old the instants read may be (10 s).
	Refresh time.Duration

	mu      sync.Mutex
	loaded  time.Time
	dirty   bool
	drops   []time.Time
	parties map[string][2]time.Time
	all     []time.Time // every party boundary, sorted
}

// DropsOf reads drop instants from a backend that lists them, over the
// next 30 days.
func DropsOf(dl query.DropLister) func(ctx context.Context, from time.Time) ([]time.Time, error) {
	return func(ctx context.Context, from time.Time) ([]time.Time, error) {
		ds, err := dl.Drops(ctx, &query.DropsRequest{From: from, To: from.Add(30 * 24 * time.Hour)})
		if err != nil {
			return nil, err
		}
		out := make([]time.Time, len(ds))
		for i, d := range ds {
			out[i] = d.At
		}
		return out, nil
	}
}

// Invalidate makes the next use read the instants again.
func (b *Boundaries) Invalidate() {
	b.mu.Lock()
	b.dirty = true
	b.mu.Unlock()
}

// ensure reads the instants when dirty or old; mu held. On an error the
// answer is "now": nothing may be cached until the schedule is known.
func (b *Boundaries) ensure(ctx context.Context, now time.Time) bool {
	refresh := b.Refresh
	if refresh == 0 {
		refresh = 10 * time.Second
	}
	if !b.dirty && !b.loaded.IsZero() && now.Sub(b.loaded) < refresh && now.After(b.loaded) {
		return true
	}
	var drops []time.Time
	if b.Drops != nil {
		d, err := b.Drops(ctx, now)
		if err != nil {
			return false
		}
		drops = slices.SortedFunc(slices.Values(d), time.Time.Compare)
	}
	parties := map[string][2]time.Time{}
	var all []time.Time
	if b.Parties != nil {
		ps, err := b.Parties(ctx)
		if err != nil {
			return false
		}
		for _, p := range ps {
			parties[p.ID] = [2]time.Time{p.StartsAt, p.EndsAt}
			all = append(all, p.StartsAt, p.EndsAt)
		}
		slices.SortFunc(all, time.Time.Compare)
	}
	b.drops, b.parties, b.all, b.loaded, b.dirty = drops, parties, all, now, false
	return true
}

// Next returns the first instant after now at which an answer that depends
// on drops (every listing surface) and on party (a party id, "" for none,
// "*" for every party) may change; the zero time when none is known. With
// the schedule unreadable it answers now (do not cache).
func (b *Boundaries) Next(ctx context.Context, now time.Time, drops bool, party string) time.Time {
	if b == nil {
		return time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ensure(ctx, now) {
		return now
	}
	var next time.Time
	earliest := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if drops {
		i, _ := slices.BinarySearchFunc(b.drops, now, func(t, n time.Time) int {
			if !t.After(n) {
				return -1
			}
			return 1
		})
		if i < len(b.drops) {
			earliest(b.drops[i])
		}
	}
	switch party {
	case "":
	case "*":
		for _, t := range b.all {
			if t.After(now) {
				earliest(t)
				break
			}
		}
	default:
		if p, ok := b.parties[party]; ok {
			earliest(p[0])
			earliest(p[1])
		}
	}
	return next
}
