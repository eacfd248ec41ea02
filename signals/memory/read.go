package memory

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rummage/rummage/signals"
)

// The Reader's answers over the state; the caller holds the read lock.

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (s *state) sellersOf(ids []string) map[string]signals.Seller {
	out := make(map[string]signals.Seller, len(ids))
	for _, id := range ids {
		if r := s.sellers[s.lookup(id)]; r != nil && !r.dead {
			out[id] = r.row
		}
	}
	return out
}

func (s *state) suspendedSellers() []string {
	out := make([]string, 0, len(s.suspended))
	for id := range s.suspended {
		out = append(out, s.strs[id])
	}
	slices.Sort(out)
	return out
}

func (s *state) edges(m map[uint32][]edge, user string) []edge {
	u := s.lookup(user)
	if u == 0 {
		return nil
	}
	return m[u]
}

func (s *state) blockedBy(user string) []string {
	var out []string
	for _, e := range s.edges(s.blocks, user) {
		if !e.dead {
			out = append(out, s.strs[e.to])
		}
	}
	return out
}

func (s *state) following(user string, limit int) []string {
	var live []edge
	for _, e := range s.edges(s.follows, user) {
		if !e.dead {
			live = append(live, e)
		}
	}
	slices.SortFunc(live, func(a, b edge) int {
		if c := cmp.Compare(b.at, a.at); c != 0 {
			return c
		}
		return strings.Compare(s.strs[a.to], s.strs[b.to])
	})
	if limit > 0 && len(live) > limit {
		live = live[:limit]
	}
	out := make([]string, len(live))
	for i, e := range live {
		out[i] = s.strs[e.to]
	}
	return out
}

func (s *state) followersOf(closets []string) map[string]int {
	out := make(map[string]int, len(closets))
	for _, c := range closets {
		out[c] = int(s.followers[s.lookup(c)])
	}
	return out
}

// hit is a listing at an instant, by a user, while answers are built.
type hit struct {
	at      int64
	lst, by uint32
}

// finish orders hits newest first, ties by listing id, keeps limit (0: all)
// and converts them.
func (s *state) finish(hs []hit, limit int, withBy bool) []signals.ListingAt {
	s.sortHits(hs)
	if limit > 0 && len(hs) > limit {
		hs = hs[:limit]
	}
	if len(hs) == 0 {
		return nil
	}
	out := make([]signals.ListingAt, len(hs))
	for i, h := range hs {
		out[i] = signals.ListingAt{Listing: s.strs[h.lst], At: msTime(h.at)}
		if withBy {
			out[i].By = s.strs[h.by]
		}
	}
	return out
}

// sortHits orders hits newest first, ties by listing id. It sorts packed
// keys (how much older than the newest, then the hit's index) as plain
// integers, which is several times quicker than a comparison function, and
// then orders each run of equal instants by listing id.
func (s *state) sortHits(hs []hit) {
	const idxBits = 22
	byListing := func(a, b hit) int { return strings.Compare(s.strs[a.lst], s.strs[b.lst]) }
	if len(hs) < 64 || len(hs) >= 1<<idxBits {
		slices.SortFunc(hs, func(a, b hit) int {
			if c := cmp.Compare(b.at, a.at); c != 0 {
				return c
			}
			return byListing(a, b)
		})
		return
	}
	newest, oldest := hs[0].at, hs[0].at
	inOrder := true // newest first already (a merge's output)
	for i, h := range hs {
		newest, oldest = max(newest, h.at), min(oldest, h.at)
		if i > 0 && h.at > hs[i-1].at {
			inOrder = false
		}
	}
	switch {
	case inOrder:
	case uint64(newest-oldest) >= 1<<(64-idxBits):
		slices.SortFunc(hs, func(a, b hit) int { return cmp.Compare(b.at, a.at) })
	default:
		keys := make([]uint64, len(hs))
		for i, h := range hs {
			keys[i] = uint64(newest-h.at)<<idxBits | uint64(i)
		}
		slices.Sort(keys)
		sorted := make([]hit, len(hs))
		for i, k := range keys {
			sorted[i] = hs[k&(1<<idxBits-1)]
		}
		copy(hs, sorted)
	}
	for i := 0; i < len(hs); {
		j := i + 1
		for j < len(hs) && hs[j].at == hs[i].at {
			j++
		}
		switch {
		case j-i >= 16:
			s.sortByListing(hs[i:j])
		case j-i > 1:
			slices.SortFunc(hs[i:j], byListing)
		}
		i = j
	}
}

// sortByListing orders hits by listing id. It compares the ids' first 16
// bytes, loaded once per hit, as integers, and the strings themselves only
// when those are equal: comparing the strings each time missed the cache
// twice per comparison (the hits of one instant are many when shares come
// in bursts).
func (s *state) sortByListing(hs []hit) {
	type keyed struct {
		hi, lo uint64
		h      hit
	}
	ks := make([]keyed, len(hs))
	for i, h := range hs {
		hi, lo := prefix16(s.strs[h.lst])
		ks[i] = keyed{hi, lo, h}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		return strings.Compare(s.strs[a.h.lst], s.strs[b.h.lst])
	})
	for i := range ks {
		hs[i] = ks[i].h
	}
}

// prefix16 is the first 16 bytes of id, big-endian, zero-padded: two ids
// whose prefixes differ compare as their prefixes do.
func prefix16(id string) (hi, lo uint64) {
	var b [16]byte
	copy(b[:], id)
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// upTo is the number of events of es (sorted by at) at or before at.
func (s *state) upTo(es []uint32, at int64) int {
	return sort.Search(len(es), func(i int) bool { return s.ev[es[i]].at > at })
}

// window is the events of es (sorted by at) in (since, at]. A timeline
// most often ends before at (a feed of now) and begins after since (a
// closet's shares of the window): each end is checked before it is
// searched for, which spares most of two searches per followed closet,
// each a cache miss per step.
func (s *state) window(es []uint32, since, at int64) []uint32 {
	if len(es) == 0 {
		return nil
	}
	lo, hi := 0, len(es)
	if s.ev[es[0]].at <= since {
		lo = s.upTo(es, since)
	}
	if s.ev[es[hi-1]].at > at {
		hi = s.upTo(es, at)
	}
	return es[lo:max(lo, hi)]
}

// cursor walks one user's timeline backwards: es are the events left (the
// next one last), at the next one's instant (kept here so that the heap
// compares without chasing the arena).
type cursor struct {
	at int64
	es []uint32
}

// timelineHeap is a max-heap of cursors by at.
type timelineHeap []cursor

func (h timelineHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && h[r].at > h[l].at {
			l = r
		}
		if h[i].at >= h[l].at {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}

// merged walks windows of timelines (each sorted by at) backwards, newest
// first, calling f with each live event that keep accepts, each listing
// once (its first, so latest, event); it stops when f returns false.
func (s *state) merged(wins [][]uint32, keep func(e uint32) bool, f func(e uint32) bool) {
	h := make(timelineHeap, 0, len(wins))
	for _, w := range wins {
		h = append(h, cursor{s.ev[w[len(w)-1]].at, w})
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	// Each listing once: marks in a pooled bitset by listing id (a map's
	// hashing was a fifth of a following feed, and an array of counters
	// missed the cache on most marks), cleared on the way out.
	sc := scratchPool.Get().(*scratch)
	seen := sc.marks(len(s.strs) + 1)
	var marked []uint32
	defer func() {
		for _, l := range marked {
			seen.clear(l)
		}
		scratchPool.Put(sc)
	}()
	for len(h) > 0 {
		c := &h[0]
		e := c.es[len(c.es)-1]
		if c.es = c.es[:len(c.es)-1]; len(c.es) > 0 {
			c.at = s.ev[c.es[len(c.es)-1]].at
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		h.down(0)
		if s.isDead(e) || !keep(e) {
			continue
		}
		l := s.ev[e].lst
		if !seen.mark(l) {
			continue
		}
		marked = append(marked, l)
		if !f(e) {
			return
		}
	}
}

// collect gathers merged's events until limit of them are found and the
// next has an earlier instant (so that ties at the cut go by listing id).
//
// When the window holds few events for the limit (many closets with short
// timelines), it gathers them all and sorts instead: fewer steps than the
// heap's.
func (s *state) collect(lines []map[uint32][]uint32, users []uint32, since, at int64, limit int, keep func(e uint32) bool) []hit {
	// Each user's events in (since, at].
	wins := make([][]uint32, 0, len(users)*len(lines))
	total := 0
	for _, u := range users {
		for _, line := range lines {
			if w := s.window(line[u], since, at); len(w) > 0 {
				wins = append(wins, w)
				total += len(w)
			}
		}
	}
	if limit <= 0 || total <= gatherFactor*limit {
		return s.gather(wins, total, keep)
	}
	var hs []hit
	s.merged(wins, keep, func(e uint32) bool {
		if limit > 0 && len(hs) >= limit && s.ev[e].at < hs[len(hs)-1].at {
			return false
		}
		hs = append(hs, hit{at: s.ev[e].at, lst: s.ev[e].lst, by: s.ev[e].user})
		return true
	})
	return hs
}

// gatherFactor is how many events per wanted listing collect gathers and
// sorts rather than merging (a variable for the tests of both ways).
var gatherFactor = 4

// gather is every live event keep accepts of the users' timelines in
// (since, at], newest first (ties by listing id), each listing once.
func (s *state) gather(wins [][]uint32, total int, keep func(e uint32) bool) []hit {
	hs := make([]hit, 0, total)
	for _, w := range wins {
		for _, e := range w {
			if !s.isDead(e) && keep(e) {
				ev := &s.ev[e]
				hs = append(hs, hit{at: ev.at, lst: ev.lst, by: ev.user})
			}
		}
	}
	s.sortHits(hs)
	out := hs[:0]
	if len(hs) < 8192 {
		seen := make(map[uint32]struct{}, len(hs))
		for _, h := range hs {
			if _, ok := seen[h.lst]; !ok {
				seen[h.lst] = struct{}{}
				out = append(out, h)
			}
		}
		return out
	}
	// Many: marks in a pooled bitset by listing id beat a map's hashing.
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	seen := sc.marks(len(s.strs) + 1)
	for _, h := range hs {
		if seen.mark(h.lst) {
			out = append(out, h)
		}
	}
	for _, h := range out {
		seen.clear(h.lst)
	}
	return out
}

func (s *state) ids(names []string) []uint32 {
	out := make([]uint32, 0, len(names))
	for _, n := range names {
		if id := s.lookup(n); id != 0 {
			out = append(out, id)
		}
	}
	return out
}

func all(uint32) bool { return true }

// sharedBy merges the closets' share timelines (their likes are apart).
func (s *state) sharedBy(closets []string, since, at int64, limit int) []signals.ListingAt {
	lines := []map[uint32][]uint32{s.timeline}
	return s.finish(s.collect(lines, s.ids(closets), since, at, limit, all), limit, true)
}

func (s *state) activity(user string, since, at int64, limit int) []signals.ListingAt {
	lines := []map[uint32][]uint32{s.timeline, s.likeline}
	return s.finish(s.collect(lines, s.ids([]string{user}), since, at, limit, all), limit, false)
}

// partyCache is a party's listings, each at its latest share, sorted as
// PartyShares answers (newest first, ties by listing id), as of a version
// of the party: built by the first reader after a change, then shared by
// every reader until the next change. Answers alias it: callers do not
// modify them.
type partyCache struct {
	version uint64
	sorted  []signals.ListingAt
}

// sortedLatest is pl's latest shares in answer order.
func (s *state) sortedLatest(pl *partyLog) []signals.ListingAt {
	if c := pl.cache.Load(); c != nil && c.version == pl.version {
		return c.sorted
	}
	hs := make([]hit, 0, len(pl.latest))
	for l, e := range pl.latest {
		hs = append(hs, hit{at: s.ev[e].at, lst: l})
	}
	c := &partyCache{version: pl.version, sorted: s.finish(hs, 0, false)}
	pl.cache.Store(c) // readers racing here build the same answer
	return c.sorted
}

// laBefore orders two answer entries: newest first, ties by listing id.
func laBefore(a, b *signals.ListingAt) bool {
	if !a.At.Equal(b.At) {
		return a.At.After(b.At)
	}
	return a.Listing < b.Listing
}

func (s *state) partyShares(party string, from, to int64) ([]signals.ListingAt, int) {
	pl := s.partyIx[s.lookup(party)]
	if pl == nil || from >= to {
		return nil, 0
	}
	lo, hi := s.upTo(pl.log, from-1), s.upTo(pl.log, to-1)
	n := hi - lo
	if pl.dead > 0 {
		for _, e := range pl.log[lo:hi] {
			if s.isDead(e) {
				n--
			}
		}
	}
	all := s.sortedLatest(pl)
	// all[:a] have their latest share at or after to; all[a:b] in
	// [from, to) are answered as they are.
	a := sort.Search(len(all), func(i int) bool { return all[i].At.UnixMilli() < to })
	b := a + sort.Search(len(all)-a, func(i int) bool { return all[a+i].At.UnixMilli() < from })
	if a == 0 {
		if b == 0 {
			return nil, n
		}
		return all[:b:b], n
	}
	pending := make(map[uint32]bool, a) // listings whose latest share is at or after to
	for _, la := range all[:a] {
		pending[s.lookup(la.Listing)] = true
	}
	// A walk begun earlier: the pending listings' latest shares before to
	// are found going back through the party's log from to, which stops as
	// soon as each is found (a page begun seconds ago goes back a little:
	// the hot listings are found at once). Past a budget, the few left
	// (listings shared rarely) are looked up along their own chains.
	var hs []hit
	left := len(pending)
	stop := max(lo, hi-(partyScanMin+16*left))
	for i := hi - 1; i >= stop && left > 0; i-- {
		e := pl.log[i]
		if l := s.ev[e].lst; pending[l] && !s.isDead(e) {
			pending[l] = false
			left--
			hs = append(hs, hit{at: s.ev[e].at, lst: l})
		}
	}
	if left > 0 && stop > lo {
		p := s.lookup(party)
		for l, open := range pending {
			if e := s.latestIn(l, p, to); open && e != 0 && s.ev[e].at >= from {
				hs = append(hs, hit{at: s.ev[e].at, lst: l})
			}
		}
	}
	found := s.finish(hs, 0, false)
	// Merge the two sorted runs.
	rest := all[a:b]
	out := make([]signals.ListingAt, 0, len(found)+len(rest))
	i, j := 0, 0
	for i < len(found) && j < len(rest) {
		if laBefore(&found[i], &rest[j]) {
			out = append(out, found[i])
			i++
		} else {
			out = append(out, rest[j])
			j++
		}
	}
	out = append(append(out, found[i:]...), rest[j:]...)
	if len(out) == 0 {
		return nil, n
	}
	return out, n
}

// partyScanMin is how far back a party walk's scan of the log goes at
// least before it looks its last listings up along their chains (a
// variable for the tests of both ways).
var partyScanMin = 1024

// engagements calls f with each user's latest live like or share of
// listing l in (since, at].
func (s *state) engagements(l uint32, since, at int64, f func(u uint32, t int64)) {
	latest := map[uint32]int64{}
	for e := s.head[l]; e != 0 && s.spanTop[e>>spanBits] > since; e = s.ev[e].prev {
		if t := s.ev[e].at; t > since && t <= at && !s.isDead(e) {
			if cur, ok := latest[s.ev[e].user]; !ok || t > cur {
				latest[s.ev[e].user] = t
			}
		}
	}
	for u, t := range latest {
		f(u, t)
	}
}

func (s *state) engagers(listings []string, since, at int64) map[string][]signals.UserAt {
	out := make(map[string][]signals.UserAt, len(listings))
	for _, name := range listings {
		l := s.lookup(name)
		if l == 0 {
			continue
		}
		var us []signals.UserAt
		s.engagements(l, since, at, func(u uint32, t int64) {
			us = append(us, signals.UserAt{User: s.strs[u], At: msTime(t)})
		})
		if len(us) > 0 {
			out[name] = us
		}
	}
	return out
}

// topEngaged scans the events in (since, at] (the spans that overlap it),
// keeps each (listing, user)'s latest and sums their decayed weights.
func (s *state) topEngaged(since, at int64, halfLife time.Duration, k int) []signals.Engaged {
	// The live events in (since, at], grouped by listing (a counting sort
	// over the interned ids: two passes, no map).
	var win []uint32
	for i := len(s.spans) - 1; i >= 0 && s.spanTop[i] > since; i-- {
		if sp := s.spans[i]; sp.max <= since || sp.min > at {
			continue
		}
		end := min((i+1)<<spanBits, len(s.ev))
		for e := i << spanBits; e < end; e++ {
			if ev := &s.ev[e]; ev.at > since && ev.at <= at && ev.party&deadBit == 0 {
				win = append(win, uint32(e))
			}
		}
	}
	if len(win) == 0 {
		return nil
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.grow(len(s.strs) + 1)
	c := sc.cnt
	for _, e := range win {
		c[s.ev[e].lst+1]++
	}
	for i := 1; i < len(c); i++ {
		c[i] += c[i-1]
	}
	grouped := make([]uint32, len(win))
	for _, e := range win {
		l := s.ev[e].lst
		grouped[c[l]] = e
		c[l]++
	}
	// Now c[l] is where listing l's run ends and l+1's begins.

	// Each listing's score: each of its users' latest engagement, summed
	// in the order the users first appear in the arena (so that a score
	// does not depend on anything but the state, to the last bit).
	hl := float64(halfLife.Milliseconds())
	top := topK{s: s, k: k}
	var users []uint32
	begin := uint32(0)
	for l := range len(s.strs) {
		end := c[l]
		if end == begin {
			continue
		}
		users = users[:0]
		for _, e := range grouped[begin:end] {
			ev := &s.ev[e]
			switch t, o := sc.latest[ev.user], offset(ev.at); {
			case t == 0:
				users = append(users, ev.user)
				sc.latest[ev.user] = o
			case o > t:
				sc.latest[ev.user] = o
			}
		}
		var score float64
		for _, u := range users {
			score += math.Exp2(-float64(at-int64(sc.latest[u]-1<<63)) / hl)
			sc.latest[u] = 0
		}
		top.add(scored{uint32(l), score})
		begin = end
	}
	clear(c)
	out := top.sorted()
	res := make([]signals.Engaged, len(out))
	for i, o := range out {
		res[i] = signals.Engaged{Listing: s.strs[o.lst], Score: o.score}
	}
	return res
}

// scratch is a reader's working arrays, one entry per interned id (by
// listing: TopEngaged's counting sort; by user: their latest instant,
// offset, 0 for none; merged's and gather's seen marks, a bit per id):
// readers run at once, so each takes its own from the pool, and leaves it
// zeroed.
type scratch struct {
	cnt    []uint32
	latest []uint64 // offset(at)
	seen   bitset   // merged's and gather's marks by listing
}

// bitset is a set of interned ids, one bit each: a mark of a million ids
// fits in the cache where an array of counters does not.
type bitset []uint64

// mark adds id and says whether it was not there yet.
func (b bitset) mark(id uint32) bool {
	w, bit := id>>6, uint64(1)<<(id&63)
	if b[w]&bit != 0 {
		return false
	}
	b[w] |= bit
	return true
}

func (b bitset) clear(id uint32) { b[id>>6] &^= 1 << (id & 63) }

// marks is sc's bitset for n ids, all clear.
func (sc *scratch) marks(n int) bitset {
	if w := (n + 63) / 64; len(sc.seen) < w {
		sc.seen = make(bitset, w)
	}
	return sc.seen
}

func (sc *scratch) grow(n int) {
	if len(sc.cnt) < n {
		sc.cnt, sc.latest = make([]uint32, n), make([]uint64, n)
	}
}

// offset is an instant as an unsigned number in the same order, 0 only for
// the least int64 (so that 0 can mean none).
func offset(t int64) uint64 { return uint64(t) + 1<<63 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

type scored struct {
	lst   uint32
	score float64
}

// topK keeps the k best scores (all when k <= 0): a min-heap on the worst.
type topK struct {
	s *state
	k int
	h []scored
}

// better orders scores: higher first, ties by listing id.
func (t *topK) better(a, b scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return t.s.strs[a.lst] < t.s.strs[b.lst]
}

func (t *topK) add(x scored) {
	if t.k <= 0 || len(t.h) < t.k {
		t.h = append(t.h, x)
		if t.k > 0 {
			for i := len(t.h) - 1; i > 0; {
				p := (i - 1) / 2
				if !t.better(t.h[p], t.h[i]) {
					break
				}
				t.h[p], t.h[i] = t.h[i], t.h[p]
				i = p
			}
		}
		return
	}
	if !t.better(x, t.h[0]) {
		return
	}
	t.h[0] = x
	for i := 0; ; {
		w, l, r := i, 2*i+1, 2*i+2
		if l < len(t.h) && t.better(t.h[w], t.h[l]) {
			w = l
		}
		if r < len(t.h) && t.better(t.h[w], t.h[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.h[i], t.h[w] = t.h[w], t.h[i]
		i = w
	}
}

func (t *topK) sorted() []scored {
	slices.SortFunc(t.h, func(a, b scored) int {
		switch {
		case t.better(a, b):
			return -1
		case t.better(b, a):
			return 1
		}
		return 0
	})
	return t.h
}

func (s *state) allParties() []signals.Party {
	var out []signals.Party
	for _, r := range s.parties {
		if !r.dead {
			out = append(out, r.row)
		}
	}
	slices.SortFunc(out, func(a, b signals.Party) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *state) partyByID(id string) (*signals.Party, error) {
	r := s.parties[s.lookup(id)]
	if r == nil || r.dead {
		return nil, signals.ErrNotFound
	}
	p := r.row
	return &p, nil
}
