package embedded

import (
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// A long restriction by ids (a party's shared listings, a following
// feed's shared listings) costs a hash lookup per id, and the same one
// comes again and again: every viewer of a party that did not change, the
// pages of a following feed (pinned to one instant), a refresh with no new
// share. resolvedIDs remembers what a list of ids (and keys) resolved to,
// by content: a list is found by a few of its entries and then compared
// whole, which costs a pointer comparison per id when the caller passes
// the same strings again (the signals stores intern them), as of a write
// generation of the columns; after writes it resolves again from the
// ordinals it found (a check of their deleted flags, and a lookup of the
// ids it did not find only), not from the strings.

// resolvedIDs is a restriction's ids resolved to ordinals.
type resolvedIDs struct {
	ids  []string // the first caller's slices (read-only, query.Restriction)
	keys []int64
	sig  [6]uint64
	gen  uint64
	at   []uint32 // by index in ids: its ordinal + 1, 0 when the index does not hold it

	// The ids the index holds and has not deleted, in the caller's order,
	// with their keys (nil without keys), and as a bitmap. Read-only.
	ords   []uint32
	okeys  []int64
	bitmap *roaring.Bitmap
}

// restrictCacheMin is the shortest list of ids the cache keeps (a
// variable for the tests).
var restrictCacheMin = 2048

// restrictCacheIDs bounds the ids the cache holds in all.
const restrictCacheIDs = 2 << 20

// restrictCache is a small LRU of resolved restrictions.
type restrictCache struct {
	mu      sync.Mutex
	entries []*resolvedIDs // most recent last
}

// signature is a cheap key of a list: its length and a few entries.
func signature(ids []string, keys []int64) [6]uint64 {
	var sig [6]uint64
	sig[0], sig[1] = uint64(len(ids)), uint64(len(keys))
	if n := len(ids); n > 0 {
		sig[2] = uint64(len(ids[0]))<<32 | uint64(len(ids[n/2]))<<16 | uint64(len(ids[n-1]))
	}
	if n := len(keys); n > 0 {
		sig[3], sig[4], sig[5] = uint64(keys[0]), uint64(keys[n/2]), uint64(keys[n-1])
	}
	return sig
}

func (e *resolvedIDs) same(sig [6]uint64, ids []string, keys []int64) bool {
	return e.sig == sig && slices.Equal(e.ids, ids) && slices.Equal(e.keys, keys)
}

func (rc *restrictCache) get(ids []string, keys []int64) *resolvedIDs {
	sig := signature(ids, keys)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, e := range rc.entries {
		if e.same(sig, ids, keys) {
			copy(rc.entries[i:], rc.entries[i+1:])
			rc.entries[len(rc.entries)-1] = e
			return e
		}
	}
	return nil
}

func (rc *restrictCache) put(r *resolvedIDs) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	total := len(r.ids)
	kept := rc.entries[:0]
	for i := len(rc.entries) - 1; i >= 0; i-- { // newest first
		e := rc.entries[i]
		if e.same(r.sig, r.ids, r.keys) || total+len(e.ids) > restrictCacheIDs || len(kept) >= 7 {
			continue
		}
		total += len(e.ids)
		kept = append(kept, e)
	}
	// kept is newest first; store oldest first, then r.
	out := make([]*resolvedIDs, 0, len(kept)+1)
	for i := len(kept) - 1; i >= 0; i-- {
		out = append(out, kept[i])
	}
	rc.entries = append(out, r)
}

// resolveIDs resolves ids (with keys, or nil) to the ordinals the index
// holds and has not deleted, through the cache for a long list.
func (c *columns) resolveIDs(rc *restrictCache, ids []string, keys []int64) *resolvedIDs {
	gen := c.gen.Load()
	if len(ids) < restrictCacheMin || rc == nil {
		return c.resolve(&resolvedIDs{ids: ids, keys: keys, gen: gen}, nil)
	}
	prev := rc.get(ids, keys)
	if prev != nil && prev.gen == gen {
		return prev
	}
	if prev != nil {
		ids, keys = prev.ids, prev.keys // the same content
	}
	r := c.resolve(&resolvedIDs{ids: ids, keys: keys, sig: signature(ids, keys), gen: gen, at: make([]uint32, len(ids))}, prev)
	rc.put(r)
	return r
}

// resolve fills r, from prev's ordinals when set (the same ids).
func (c *columns) resolve(r *resolvedIDs, prev *resolvedIDs) *resolvedIDs {
	r.ords = make([]uint32, 0, len(r.ids))
	if r.keys != nil {
		r.okeys = make([]int64, 0, len(r.ids))
	}
	for i, id := range r.ids {
		var o uint32
		var ok bool
		if prev != nil && prev.at[i] != 0 {
			o, ok = prev.at[i]-1, true // ordinals never change
		} else {
			o, ok = c.ids.lookup(id)
		}
		if !ok {
			continue
		}
		if r.at != nil {
			r.at[i] = o + 1
		}
		if c.deleted[o] {
			continue
		}
		r.ords = append(r.ords, o)
		if r.keys != nil {
			r.okeys = append(r.okeys, r.keys[i])
		}
	}
	sorted := sortedCopy(r.ords)
	r.bitmap = roaring.New()
	r.bitmap.AddMany(sorted)
	r.ords = r.ords[:len(r.ords):len(r.ords)]
	if r.okeys != nil {
		r.okeys = r.okeys[:len(r.okeys):len(r.okeys)]
	}
	return r
}

// sellerCache remembers the listings of a few lists of sellers (the
// suspended closets every surface excludes, a user's followed closets),
// by content, as of a write generation: a list of a thousand sellers
// walks tens of thousands of listings, where comparing the list again
// costs a pointer comparison per seller (the callers pass the same
// strings).
type sellerCache struct {
	mu      sync.Mutex
	entries []sellerEntry // most recent last
}

type sellerEntry struct {
	gen     uint64
	sellers []string // a copy of the caller's list
	bm      *roaring.Bitmap
}

// sellerCacheMin is the shortest list of sellers the cache keeps (a
// variable for the tests).
var sellerCacheMin = 64

// cachedSellerBitmap is sellerBitmap through the cache; the result must
// not be modified.
func (c *columns) cachedSellerBitmap(sc *sellerCache, sellers []string) *roaring.Bitmap {
	if len(sellers) < sellerCacheMin || sc == nil {
		return c.sellerBitmap(sellers)
	}
	gen := c.gen.Load()
	sc.mu.Lock()
	for i, e := range sc.entries {
		if e.gen == gen && slices.Equal(e.sellers, sellers) {
			copy(sc.entries[i:], sc.entries[i+1:])
			sc.entries[len(sc.entries)-1] = e
			sc.mu.Unlock()
			return e.bm
		}
	}
	sc.mu.Unlock()
	bm := c.sellerBitmap(sellers)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	kept := sc.entries[:0]
	for _, e := range sc.entries {
		if e.gen == gen {
			kept = append(kept, e)
		}
	}
	if len(kept) >= 16 {
		kept = kept[1:]
	}
	sc.entries = append(kept, sellerEntry{gen: gen, sellers: slices.Clone(sellers), bm: bm})
	return bm
}
