package embedded

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/query"
)

// feedKeys are a SortFeed restriction resolved to ordinals: the listings
// of the included sellers (keyed by listed_at) and the included ids with
// their keys, in the caller's order (key desc, id asc).
type feedKeys struct {
	sellers *roaring.Bitmap // nil without included sellers
	ords    []uint32        // included ids the index holds, in order
	keys    []int64         // their keys
	// dense holds, by ordinal, the key of each of ords (noTime: not
	// included by id), once feedKey needs it: an array from a pool (no
	// hashing per candidate), given back all noTime by release.
	dense *[]int64
	// keyed: keyAtLeast wrote the final key of each ordinal it kept (those
	// of kept) into dense, so that feedKey reads it there, with no lookup
	// in sellers.
	keyed bool
	kept  []uint32
	// unordered: ords are in no order (query.Restriction.Unordered).
	unordered bool
}

// denseFree holds a few ordinal-indexed arrays of feedKeys for reuse (8
// bytes per listing each). Not a sync.Pool: a collection empties that,
// and filling a new array costs milliseconds at a million listings.
var denseFree = make(chan *[]int64, 4)

func getDense() *[]int64 {
	select {
	case d := <-denseFree:
		return d
	default:
		return new([]int64)
	}
}

// release gives fk's array back, all noTime again.
func (fk *feedKeys) release() {
	if fk == nil || fk.dense == nil {
		return
	}
	d := *fk.dense
	for _, o := range fk.ords {
		d[o] = noTime
	}
	for _, o := range fk.kept {
		d[o] = noTime
	}
	select {
	case denseFree <- fk.dense:
	default:
	}
	fk.dense, fk.keyed, fk.kept = nil, false, nil
}

// denseKeys is fk's array by ordinal, filled with the keys of its ids on
// first use.
func (c *columns) denseKeys(fk *feedKeys) []int64 {
	if fk.dense == nil {
		fk.dense = getDense()
		if n := len(c.rows); len(*fk.dense) < n {
			d := make([]int64, n+n/8)
			for i := range d {
				d[i] = noTime
			}
			*fk.dense = d
		}
		d := *fk.dense
		for i, x := range fk.ords {
			d[x] = fk.keys[i]
		}
	}
	return *fk.dense
}

// key is ordinal o's key: its id key, or listed_at when its seller is
// included, the larger when both.
func (c *columns) feedKey(fk *feedKeys, o uint32) int64 {
	d := c.denseKeys(fk)
	if fk.keyed {
		return d[o]
	}
	k := d[o]
	if fk.sellers != nil && fk.sellers.Contains(o) {
		k = max(k, c.listedCol[o])
	}
	return k
}

// keyAtLeast keeps the ordinals of set whose key is at least min, and
// writes their keys into fk's array for feedKey (which is then asked only
// about those: the result narrows every later set). It walks set and its
// listings of included sellers side by side, both ascending, instead of
// looking each ordinal up in sellers.
func (c *columns) keyAtLeast(set *roaring.Bitmap, fk *feedKeys, min int64) *roaring.Bitmap {
	d := c.denseKeys(fk)
	out := make([]uint32, 0, 1024)
	var sel roaring.ManyIntIterable
	var sbuf []uint32
	next := uint32(0)
	more := false
	if fk.sellers != nil {
		sel = roaring.And(set, fk.sellers).ManyIterator()
		sbuf = make([]uint32, 4096)
	}
	var pending []uint32 // of sbuf, not reached yet
	advance := func() {
		if len(pending) == 0 && sel != nil {
			pending = sbuf[:sel.NextMany(sbuf)]
		}
		if more = len(pending) > 0; more {
			next, pending = pending[0], pending[1:]
		}
	}
	advance()
	buf := make([]uint32, 4096)
	it := set.ManyIterator()
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			k := d[o]
			if more && next == o { // the included sellers' listings are a subset of set
				k = max(k, c.listedCol[o])
				advance()
			}
			if k >= min {
				out = append(out, o)
				d[o] = k
			}
		}
	}
	fk.keyed, fk.kept = true, out
	b := roaring.New()
	b.AddMany(out)
	return b
}

// topKFeed returns the first k candidates of all in feed order after the
// position. Without included sellers the ids are walked in their given
// order (a party feed: a page costs its length over the density, not the
// party's size); with them, or ids in no order, every candidate is keyed
// and the best k kept.
func (c *columns) topKFeed(st *budget, fk *feedKeys, all *roaring.Bitmap, after *query.Position, k int) ([]entry, bool) {
	if fk.sellers != nil || fk.unordered {
		return c.topK(func(yield func(entry)) {
			buf := make([]uint32, 4096)
			it := all.ManyIterator()
			for n := it.NextMany(buf); n > 0 && !st.spend(n); n = it.NextMany(buf) {
				for _, o := range buf[:n] {
					yield(entry{v: float64(c.feedKey(fk, o)), ord: o})
				}
			}
		}, after, query.SortFeed, k)
	}
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(fk.keys, after.Key, func(v, target int64) int {
			switch {
			case v > target:
				return -1
			case v < target:
				return 1
			}
			return 0
		})
		for start < len(fk.ords) && fk.keys[start] == after.Key && string(c.ids.at(fk.ords[start])) <= after.ID {
			start++
		}
	}
	page := make([]entry, 0, k)
	for i := start; i < len(fk.ords) && !st.spend(1); i++ {
		if !all.Contains(fk.ords[i]) {
			continue
		}
		if len(page) == k {
			return page, true
		}
		page = append(page, entry{v: float64(fk.keys[i]), ord: fk.ords[i]})
	}
	return page, false
}

// scope narrows base to the listings matching a scope's text and filters.
func (x *Index) scope(ctx context.Context, base *roaring.Bitmap, sc *query.Scope) (*roaring.Bitmap, error) {
	c := x.cols
	if q := strings.TrimSpace(sc.Query); q != "" {
		clauses, ok, err := x.planText(q, x.snap)
		if err != nil {
			return nil, err
		}
		if !ok {
			return roaring.New(), nil
		}
		text, err := x.matchText(ctx, x.snap, x.segs, clauses, false)
		if err != nil {
			return nil, err
		}
		tb := roaring.New()
		tb.AddMany(sortedCopy(text.ords))
		base = roaring.And(base, tb)
	}
	filters, _ := c.filterSets(base, &sc.Filters)
	var active []*roaring.Bitmap
	for _, b := range filters {
		if b != nil {
			active = append(active, b)
		}
	}
	return intersect(base, active), nil
}

// Drops lists the drops to come; see query.DropLister.
func (x *Index) Drops(ctx context.Context, r *query.DropsRequest) ([]query.DropInstant, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	c := x.cols
	set := c.drops
	if ex := c.sellerBitmap(r.ExcludeSellers); ex != nil {
		set = roaring.AndNot(set, ex)
	}
	from, to := r.From.UnixMilli(), r.To.UnixMilli()
	type instant struct {
		count  int
		brands map[uint32]int
	}
	at := map[int64]*instant{}
	it := set.Iterator()
	for it.HasNext() {
		o := it.Next()
		row := &c.rows[o]
		if row.avail <= from || row.avail > to {
			continue
		}
		in := at[row.avail]
		if in == nil {
			in = &instant{brands: map[uint32]int{}}
			at[row.avail] = in
		}
		in.count++
		if row.brand != 0 {
			in.brands[row.brand]++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := r.BrandLimit
	if limit <= 0 {
		limit = 10
	}
	out := make([]query.DropInstant, 0, len(at))
	for ms, in := range at {
		vals := make([]query.FacetValue, 0, len(in.brands))
		for b, n := range in.brands {
			vals = append(vals, query.FacetValue{Value: c.brands.vals[b], Count: n})
		}
		out = append(out, query.DropInstant{At: msTime(ms), Count: in.count, Brands: query.SortFacet(vals, limit)})
	}
	slices.SortFunc(out, func(a, b query.DropInstant) int { return a.At.Compare(b.At) })
	return out, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

var _ query.DropLister = (*Index)(nil)
