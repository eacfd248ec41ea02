package embedded

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/query"
)

// Ordering and paging: the candidates of a sort, the keyset cursor's key,
// the page heap, and relevance top-k over score groups.

// candidates yields every ordinal of all with its primary sort value (and
// text score): hits are ordered by it descending, then by id ascending.
// Ascending sorts negate; never-shared listings sort after every shared
// one. For relevance with text the candidates are the text hits (whose
// scores are at hand) that are in all, scored by the first phase.
func (x *Index) candidates(st *budget, s query.Sort, text *textHits, all *roaring.Bitmap, scorer query.Scorer) func(yield func(entry)) {
	c := x.cols
	scan := func(key func(o uint32) float64) func(yield func(entry)) {
		return func(yield func(entry)) {
			buf := make([]uint32, 4096)
			it := all.ManyIterator()
			for n := it.NextMany(buf); n > 0 && !st.spend(n); n = it.NextMany(buf) {
				for _, o := range buf[:n] {
					yield(entry{v: key(o), ord: o})
				}
			}
		}
	}
	switch s {
	case query.SortPriceAsc, query.SortPriceDesc, query.SortRecentlyShared:
		return scan(func(o uint32) float64 { return c.sortValue(s, o) })
	case query.SortRelevance:
		if text == nil {
			break // browsing: relevance is newest
		}
		return func(yield func(entry)) {
			var sig query.Signals
			for i, o := range text.ords {
				if st.spend(1) {
					return
				}
				if !all.Contains(o) {
					continue
				}
				c.signals(o, &sig)
				sig.Text = text.scores[i]
				yield(entry{v: scorer.Score(&sig), text: sig.Text, ord: o})
			}
		}
	}
	return scan(func(o uint32) float64 { return float64(c.listedCol[o]) })
}

// neverShared sorts below any real share instant.
const neverShared = -1 << 62

// cursorKey stores a primary sort value in a cursor key.
func cursorKey(s query.Sort, v float64) int64 {
	switch s {
	case query.SortPriceAsc:
		return int64(-v)
	case query.SortRecentlyShared:
		if v == neverShared {
			return 0
		}
	}
	return int64(v)
}

// cursorValue reads a cursor key back as a primary sort value.
func cursorValue(s query.Sort, key int64) float64 {
	switch s {
	case query.SortPriceAsc:
		return -float64(key)
	case query.SortRecentlyShared:
		if key == 0 {
			return neverShared
		}
	}
	return float64(key)
}

type entry struct {
	v    float64 // the primary sort value (first-phase score for relevance)
	text float64 // the text score, for relevance
	ord  uint32
}

// before reports whether a comes before b: higher value first, then id.
func (c *columns) before(a, b entry) bool {
	if a.v != b.v {
		return a.v > b.v
	}
	return c.ids.compare(a.ord, b.ord) < 0
}

// pageHeap keeps the best k entries seen after a cursor position; its root
// is the worst of them. remaining counts every entry offered after the
// cursor, so that the caller can tell whether a next page exists.
type pageHeap struct {
	c         *columns
	e         []entry
	k         int
	after     bool
	cur       entry
	curID     string
	remaining int
}

// newPage returns an empty page of k entries after the position (nil:
// from the start) in sort s.
func (c *columns) newPage(after *query.Position, s query.Sort, k int) *pageHeap {
	h := &pageHeap{c: c, e: make([]entry, 0, k+1), k: k}
	if after != nil {
		h.after, h.cur.v, h.curID = true, positionValue(s, after), after.ID
	}
	return h
}

// positionValue is the primary sort value of a position.
func positionValue(s query.Sort, p *query.Position) float64 {
	if s == query.SortRelevance {
		return p.Score
	}
	return cursorValue(s, p.Key)
}

// offer considers one entry for the page.
func (h *pageHeap) offer(e entry) {
	if h.after && (e.v > h.cur.v || (e.v == h.cur.v && string(h.c.ids.at(e.ord)) <= h.curID)) {
		return
	}
	h.remaining++
	if len(h.e) < h.k {
		heap.Push(h, e)
	} else if h.c.before(e, h.e[0]) {
		h.e[0] = e
		heap.Fix(h, 0)
	}
}

// result returns the page in sort order, and whether more entries remain
// after it.
func (h *pageHeap) result() ([]entry, bool) {
	out := make([]entry, len(h.e))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(entry)
	}
	return out, h.remaining > h.k
}

func (h *pageHeap) Len() int           { return len(h.e) }
func (h *pageHeap) Less(i, j int) bool { return h.c.before(h.e[j], h.e[i]) }
func (h *pageHeap) Swap(i, j int)      { h.e[i], h.e[j] = h.e[j], h.e[i] }
func (h *pageHeap) Push(v any)         { h.e = append(h.e, v.(entry)) }
func (h *pageHeap) Pop() any {
	v := h.e[len(h.e)-1]
	h.e = h.e[:len(h.e)-1]
	return v
}

// relevancePruning is off only in tests comparing it with a full pass.
var relevancePruning = true

// topKRelevance is topK for relevance with text. Text scores take few
// distinct values (sums of field weights × idf), so hits are grouped by
// score and visited best group first; once the page is full and a group's
// best possible first-phase score (scorer.Bound) is below the page's worst,
// that group and all after it are skipped without reading their rows or
// scoring. A broad word matching 130k listings then scores a few thousand.
func (c *columns) topKRelevance(st *budget, text *textHits, all *roaring.Bitmap, after *query.Position, k int, scorer query.Scorer) ([]entry, bool) {
	g := groupPool.Get().(*scoreGroups)
	defer groupPool.Put(g)
	if !g.build(st, c.ids.len(), text, all) {
		return nil, false
	}
	h := c.newPage(after, query.SortRelevance, k)
	// The scorer is an interface, so the signals it reads escape: a
	// pooled buffer instead of a 33 KB array per query.
	sp := signalBufs.Get().(*[256]query.Signals)
	defer signalBufs.Put(sp)
	sigs := sp[:]
	for gi, sc := range g.scores {
		if len(h.e) == k && scorer.Bound(sc) < h.e[0].v {
			// Every listing left scores below the page's worst, which is
			// after the cursor: they are all after it too.
			h.remaining += len(g.ords) - g.start[gi]
			break
		}
		grp := g.ords[g.start[gi]:g.start[gi+1]]
		for lo := 0; lo < len(grp) && !st.spend(len(sigs)); lo += len(sigs) {
			chunk := grp[lo:min(lo+len(sigs), len(grp))]
			// Read the rows first in a tight loop, so that their cache
			// misses overlap, then (rows in cache) label and blend.
			for i, o := range chunk {
				c.rowSignals(o, &sigs[i])
			}
			for i, o := range chunk {
				s := &sigs[i]
				c.labels(o, s)
				s.Text = sc
				h.offer(entry{v: scorer.Score(s), text: sc, ord: o})
			}
		}
	}
	return h.result()
}

// scoreGroups are the text hits in a result grouped by text score, best
// first: group i is ords[start[i]:start[i+1]], of score scores[i], its hits
// in text order. Pooled: its slices keep their capacity between queries,
// so grouping allocates nothing once warm.
type scoreGroups struct {
	scores []float64 // descending
	start  []int     // len(scores)+1
	ords   []uint32
	// Scratch of build.
	seen   []float64 // the scores in first-seen order
	hitOrd []uint32
	hitGrp []int32 // the group of each hitOrd, in first-seen order
	count  []int
	perm   []int32
	rank   []int32
	index  map[float64]int32
}

var groupPool = sync.Pool{New: func() any { return &scoreGroups{index: map[float64]int32{}} }}

// build groups the hits of text that are in all (a set of ordinals below
// n). It reports false when the budget ran out.
func (g *scoreGroups) build(st *budget, n int, text *textHits, all *roaring.Bitmap) bool {
	// Membership in all through a bitset over ordinals (a load and a
	// shift) instead of a roaring Contains per hit.
	in := getBitset(n)
	defer putBitset(in, all)
	buf := make([]uint32, 1024)
	it := all.ManyIterator()
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, o := range buf[:n] {
			in[o>>6] |= 1 << (o & 63)
		}
	}
	clear(g.index)
	scores, count := g.seen[:0], g.count[:0]
	hitOrd, hitGrp := g.hitOrd[:0], g.hitGrp[:0]
	// Consecutive hits mostly share a score: check the last group first.
	lastSc, last := math.NaN(), int32(-1)
	for lo := 0; lo < len(text.ords); lo += checkEvery {
		hi := min(lo+checkEvery, len(text.ords))
		if st.spend(hi - lo) {
			return false
		}
		for i, o := range text.ords[lo:hi] {
			if in[o>>6]&(1<<(o&63)) == 0 {
				continue
			}
			if sc := text.scores[lo+i]; sc != lastSc {
				gi, ok := g.index[sc]
				if !ok {
					gi = int32(len(scores))
					g.index[sc] = gi
					scores, count = append(scores, sc), append(count, 0)
				}
				lastSc, last = sc, gi
			}
			count[last]++
			hitOrd, hitGrp = append(hitOrd, o), append(hitGrp, last)
		}
	}
	// Order the groups best first; rank maps a first-seen group to its
	// place.
	perm := g.perm[:0]
	for i := range scores {
		perm = append(perm, int32(i))
	}
	slices.SortFunc(perm, func(a, b int32) int { return cmp.Compare(scores[b], scores[a]) })
	rank := slices.Grow(g.rank[:0], len(perm))[:len(perm)]
	g.scores = slices.Grow(g.scores[:0], len(perm))[:len(perm)]
	g.start = slices.Grow(g.start[:0], len(perm)+1)[:len(perm)+1]
	at := 0
	for r, gi := range perm {
		rank[gi] = int32(r)
		g.scores[r] = scores[gi]
		g.start[r] = at
		at += count[gi]
	}
	g.start[len(perm)] = at
	// Scatter the hits into their groups, keeping text order; count
	// becomes each group's next slot.
	for r := range perm {
		count[r] = g.start[r]
	}
	g.ords = slices.Grow(g.ords[:0], len(hitOrd))[:len(hitOrd)]
	for i, o := range hitOrd {
		r := rank[hitGrp[i]]
		g.ords[count[r]] = o
		count[r]++
	}
	g.seen, g.count, g.hitOrd, g.hitGrp, g.perm, g.rank = scores, count, hitOrd, hitGrp, perm, rank
	return true
}

var bitsets sync.Pool // of *[]uint64, all zero

// signalBufs pools the signal buffers of topKRelevance.
var signalBufs = sync.Pool{New: func() any { return new([256]query.Signals) }}

// getBitset returns a zeroed bitset of at least n bits.
func getBitset(n int) []uint64 {
	words := (n + 63) / 64
	if p, ok := bitsets.Get().(*[]uint64); ok && len(*p) >= words {
		return *p
	}
	return make([]uint64, words)
}

// putBitset clears the bits of set in b and pools b.
func putBitset(b []uint64, set *roaring.Bitmap) {
	if set.GetCardinality() > uint64(len(b)) {
		clear(b)
	} else {
		buf := make([]uint32, 1024)
		it := set.ManyIterator()
		for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
			for _, o := range buf[:n] {
				b[o>>6] = 0
			}
		}
	}
	bitsets.Put(&b)
}

// topK returns the first k candidates after the position in sort order,
// and whether more remain after them.
func (c *columns) topK(cands func(yield func(entry)), after *query.Position, s query.Sort, k int) ([]entry, bool) {
	h := c.newPage(after, s, k)
	cands(h.offer)
	return h.result()
}
