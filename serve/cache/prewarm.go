package cache

import (
	"context"
	"time"

	"github.com/rummage/rummage/internal/tick"
	"github.com/rummage/rummage/query"
)

// staged is an entry computed ahead as of a coming instant: it replaces
// the entry under its key when that instant comes (promote), unless an
// invalidation of one of its dependencies was applied after it began (the
// generation check of store1).
type staged struct {
	e   *Entry
	at  time.Time
	gen uint64
}

// Prewarm computes, PrewarmLead before each drop instant or party
// boundary, the answers of the entries that instant ends (their Expires
// is the instant: the hot pages the drop or the party changes), each as of
// the instant (query.WithAsOf), and keeps them aside: at the instant the
// first lookup switches each in atomically, so that the first requests of
// a drop or a party find its answers computed instead of all missing at
// once. Changes that land in between invalidate the staged answers as
// they do entries. It returns when ctx is done.
func (c *Cache) Prewarm(ctx context.Context) {
	if c.cfg.PrewarmLead < 0 || c.cfg.Boundaries == nil {
		return
	}
	var last time.Time
	tick.Every(ctx, 100*time.Millisecond, nil, func() {
		at := c.cfg.Boundaries.Next(ctx, c.cfg.Now(), true, "*")
		if at.IsZero() || at.Equal(last) || at.Sub(c.cfg.Now()) > c.cfg.PrewarmLead {
			return
		}
		last = at
		c.StageAt(ctx, at)
	})
}

// StageAt computes, as of at, the entries that expire at at (at most
// PrewarmMax) and stages them, returning how many it staged. Prewarm calls
// it; tests call it directly.
func (c *Cache) StageAt(ctx context.Context, at time.Time) int {
	c.mu.Lock()
	c.drainEvicted()
	now := c.cfg.Now()
	for k, s := range c.staged {
		if now.Sub(s.at) > c.cfg.TTL {
			delete(c.staged, k) // never looked up since
		}
	}
	c.nStaged.Store(int64(len(c.staged)))
	todo := map[string]*Entry{}
	for _, m := range c.byDep {
		for key, e := range m {
			if len(todo) >= c.cfg.PrewarmMax {
				break
			}
			if e.Expires.Equal(at) && e.refill != nil && c.staged[key] == nil {
				todo[key] = e
			}
		}
	}
	c.mu.Unlock()
	n := 0
	for key, e := range todo {
		if ctx.Err() != nil {
			break
		}
		c.mu.Lock()
		gen := c.gen
		c.inflight.Add(1)
		c.mu.Unlock()
		lctx, cancel := context.WithTimeout(query.WithAsOf(ctx, at), c.cfg.LoadTimeout)
		ne, cacheable, err := e.refill(lctx)
		cancel()
		c.inflight.Add(-1)
		if err != nil || !cacheable || (!ne.Expires.IsZero() && !ne.Expires.After(at)) {
			continue
		}
		c.mu.Lock()
		c.staged[key] = &staged{e: ne, at: at, gen: gen}
		c.nStaged.Store(int64(len(c.staged)))
		c.mu.Unlock()
		c.m.Prewarmed.Inc()
		n++
	}
	return n
}

// promote switches in key's staged entry once its instant has come; nil
// when there is none, or it lost to an invalidation.
func (c *Cache) promote(key string, now time.Time) *Entry {
	if c.nStaged.Load() == 0 {
		return nil // the common miss: nothing staged
	}
	c.mu.Lock()
	s := c.staged[key]
	if s == nil || now.Before(s.at) {
		c.mu.Unlock()
		return nil
	}
	delete(c.staged, key)
	c.nStaged.Store(int64(len(c.staged)))
	c.mu.Unlock()
	if !c.store1(key, s.e, s.at, s.gen) {
		return nil
	}
	return s.e
}
