package cache

import (
	"time"

	"github.com/maypok86/otter/v2"
)

// Store keeps entries by key, bounded by their bytes. Implementations are
// safe for concurrent use. Removed is called for every entry that leaves
// the store other than by Delete or Clear (evicted for room or expired),
// so that the cache forgets its dependencies.
type Store interface {
	Get(key string) (*Entry, bool)
	// Set stores e for at most ttl.
	Set(key string, e *Entry, ttl time.Duration)
	Delete(key string)
	Clear()
	// Bytes is the weight of what the store holds.
	Bytes() uint64
}

// otterStore is Store over otter: W-TinyLFU admission, weighed by bytes,
// with a per-entry expiry.
type otterStore struct {
	c *otter.Cache[string, *Entry]
}

// NewOtterStore returns a Store of at most maxBytes; removed (may be nil)
// hears of evictions and expiries.
func NewOtterStore(maxBytes uint64, removed func(key string, e *Entry)) (Store, error) {
	opts := &otter.Options[string, *Entry]{
		MaximumWeight: maxBytes,
		Weigher:       func(k string, e *Entry) uint32 { return uint32(min(e.weight(len(k)), 1<<32-1)) },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			return e.Value.ttl
		}),
	}
	if removed != nil {
		opts.OnDeletion = func(ev otter.DeletionEvent[string, *Entry]) {
			if ev.WasEvicted() {
				removed(ev.Key, ev.Value)
			}
		}
	}
	c, err := otter.New(opts)
	if err != nil {
		return nil, err
	}
	return &otterStore{c: c}, nil
}

func (s *otterStore) Get(key string) (*Entry, bool) { return s.c.GetIfPresent(key) }

func (s *otterStore) Set(key string, e *Entry, ttl time.Duration) {
	e.ttl = max(ttl, time.Millisecond)
	s.c.Set(key, e)
}

func (s *otterStore) Delete(key string) { s.c.Invalidate(key) }
func (s *otterStore) Clear()            { s.c.InvalidateAll() }
func (s *otterStore) Bytes() uint64     { return s.c.WeightedSize() }
