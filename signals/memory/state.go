package memory

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/rummage/rummage/signals"
)

// The in-memory state. Ids are interned to uint32 (0 is no id), instants
// are int64 Unix milliseconds. Likes and shares are events in one arena
// (a struct per event, their versions in a column beside), numbered by
// uint32 (0 is no event); every other index holds event numbers, not
// copies. A deleted or replaced event stays in the arena, dead: the indexes
// skip it, and a restart from a snapshot leaves it out. A delete's version
// is kept as a tombstone, a dead event the like's or share's key points
// to.

// event is a like or a share. Its party is 0 for none or likeParty for a
// like, and carries deadBit once the event is deleted.
type event struct {
	at                     int64
	user, lst, party, prev uint32 // prev: the previous event (in arrival order) of the same listing
}

const (
	deadBit   = 1 << 31
	likeParty = deadBit - 1
)

// edge is a follow or a block: from its user to another closet.
type edge struct {
	ver  uint64
	at   int64
	to   uint32
	dead bool
}

// versioned is a keyed row with its version; a delete keeps it as a
// tombstone (dead) so that a replay below its version stays stale.
type versioned[T any] struct {
	ver  uint64
	dead bool
	row  T
}

type (
	sellerRow = versioned[signals.Seller]
	partyRow  = versioned[signals.Party]
)

// applyRow applies c's row to m[id] under the version rule; it reports
// whether the change applied.
func applyRow[T any](s *state, table string, m map[uint32]*versioned[T], id uint32, c *signals.Change, row T) bool {
	r := m[id]
	var rv uint64
	if r != nil {
		rv = r.ver
	}
	if c.Version < s.held(table, rv) {
		return false
	}
	if r == nil {
		r = &versioned[T]{}
		m[id] = r
	}
	r.ver, r.dead, r.row = c.Version, c.Delete, row
	return true
}

// partyLog is what a party's feed reads: its shares by time (log, event
// numbers sorted by at) and each listing's latest share (latest).
type partyLog struct {
	log    []uint32
	latest map[uint32]uint32 // listing → event
	dead   int               // dead events in log
	// version counts the changes to the party's events; cache is latest
	// sorted as PartyShares answers it, as of a version (read.go).
	version uint64
	cache   atomic.Pointer[partyCache]
}

type state struct {
	names map[string]uint32
	strs  []string // by interned id; strs[0] = ""

	floors    map[string]uint64 // truncate floors by table
	positions map[posKey]int64

	sellers   map[uint32]*sellerRow
	suspended map[uint32]struct{}
	parties   map[uint32]*partyRow
	follows   map[uint32][]edge // by follower, sorted by to
	followers []int32           // by interned closet id
	blocks    map[uint32][]edge // by user, sorted by to

	// The event arena: ev holds what readers touch (one cache line read per
	// event), the versions what only writers do (verOf).
	ev []event
	// An event's version is verHi[its span]<<32 | verLo[it], or verX[it]
	// when its high half is not its span's (versions are commit LSNs: the
	// events of a span nearly always share their high half).
	verLo []uint32
	verHi []uint32
	verX  map[uint32]uint64

	head     []uint32             // by interned listing id: its last event
	counts   []listingCounts      // by interned listing id
	timeline map[uint32][]uint32  // by user: their shares sorted by at
	likeline map[uint32][]uint32  // by user: their likes sorted by at
	partyIx  map[uint32]*partyLog // by party
	// dirtyUsers and dirtyParties are the timelines and party logs with
	// events appended out of order since the last settle, each with the
	// length of its sorted prefix.
	dirtyUsers, dirtyLikers, dirtyParties map[uint32]int
	shareIx                               map[int64]*[blockSize]uint32 // share id>>blockBits → events
	likeIx                                map[uint64]uint32            // user<<32|listing → event
	spans                                 []span                       // the at range of each 1<<spanBits events
	// spanTop[k] is the latest instant of the events of spans 0..k: a
	// walk back through the arena (or a listing's chain) stops at a span
	// whose spanTop is at or before the walk's since.
	spanTop []int64
}

// listingCounts are a listing's live likes and shares and its latest
// share's instant (noShare when it has none), kept as events are indexed
// and unindexed so that Counters costs no walk.
type listingCounts struct {
	likes, shares uint32
	lastShare     int64
}

const noShare = math.MinInt64

type posKey struct {
	topic     string
	partition int
}

// positionList returns the positions of m in (topic, partition) order.
func positionList(m map[posKey]int64) []signals.Position {
	out := make([]signals.Position, 0, len(m))
	for k, off := range m {
		out = append(out, signals.Position{Topic: k.topic, Partition: k.partition, Offset: off})
	}
	signals.SortPositions(out)
	return out
}

const (
	blockBits = 8
	blockSize = 1 << blockBits
	spanBits  = 10
)

type span struct{ min, max int64 }

func newState() *state {
	s := &state{
		names:     map[string]uint32{"": 0},
		strs:      []string{""},
		floors:    map[string]uint64{},
		positions: map[posKey]int64{},
		sellers:   map[uint32]*sellerRow{},
		suspended: map[uint32]struct{}{},
		parties:   map[uint32]*partyRow{},
		follows:   map[uint32][]edge{},
		followers: []int32{0},
		blocks:    map[uint32][]edge{},
		head:      []uint32{0},
		counts:    []listingCounts{{lastShare: noShare}},
		timeline:  map[uint32][]uint32{},
		likeline:  map[uint32][]uint32{},
		partyIx:   map[uint32]*partyLog{},
		shareIx:   map[int64]*[blockSize]uint32{},
		likeIx:    map[uint64]uint32{},
	}
	s.kill(s.appendEvent(0, 0, 0, 0, 0)) // event 0: none
	return s
}

func (s *state) intern(name string) uint32 {
	if id, ok := s.names[name]; ok {
		return id
	}
	id := uint32(len(s.strs))
	s.names[name] = id
	s.strs = append(s.strs, name)
	s.followers = append(s.followers, 0)
	s.head = append(s.head, 0)
	s.counts = append(s.counts, listingCounts{lastShare: noShare})
	return id
}

// lookup is name's id, or 0 when the store never saw it.
func (s *state) lookup(name string) uint32 { return s.names[name] }

func (s *state) isDead(e uint32) bool { return s.ev[e].party&deadBit != 0 }

func (s *state) kill(e uint32) { s.ev[e].party |= deadBit }

// partyOf is e's party column without its dead bit.
func (s *state) partyOf(e uint32) uint32 { return s.ev[e].party &^ deadBit }

func (s *state) appendEvent(at int64, ver uint64, user, lst, party uint32) uint32 {
	e := uint32(len(s.ev))
	s.ev = append(s.ev, event{at: at, user: user, lst: lst, party: party})
	k := e >> spanBits
	if int(k) >= len(s.spans) {
		s.spans = append(s.spans, span{at, at})
		s.verHi = append(s.verHi, uint32(ver>>32))
	}
	s.verLo = append(s.verLo, uint32(ver))
	if uint32(ver>>32) != s.verHi[k] {
		if s.verX == nil {
			s.verX = map[uint32]uint64{}
		}
		s.verX[e] = ver
	}
	sp := &s.spans[k]
	sp.min, sp.max = min(sp.min, at), max(sp.max, at)
	if int(k) >= len(s.spanTop) {
		s.spanTop = append(s.spanTop, math.MinInt64)
	}
	if k > 0 {
		s.spanTop[k] = max(s.spanTop[k-1], sp.max)
	} else {
		s.spanTop[k] = sp.max
	}
	return e
}

// verOf is event e's version.
func (s *state) verOf(e uint32) uint64 {
	if s.verX != nil {
		if v, ok := s.verX[e]; ok {
			return v
		}
	}
	return uint64(s.verHi[e>>spanBits])<<32 | uint64(s.verLo[e])
}

// tombstone is a dead event holding only a delete's version.
func (s *state) tombstone(ver uint64) uint32 {
	e := s.appendEvent(0, ver, 0, 0, 0)
	s.kill(e)
	return e
}

// held is the version held for a key: its row's, or the table's floor.
func (s *state) held(table string, rowVer uint64) uint64 { return max(rowVer, s.floors[table]) }

// apply applies one change; it reports whether it took effect.
func (s *state) apply(c *signals.Change) (bool, error) {
	switch {
	case c.Truncate != "":
		return s.truncate(c.Truncate, c.Version)
	case c.Seller != nil:
		return s.applySeller(c), nil
	case c.Follow != nil:
		return s.applyEdge(signals.TableFollows, s.follows, c.Follow.Follower, c.Follow.Seller, c.Follow.At.UnixMilli(), c), nil
	case c.Block != nil:
		return s.applyEdge(signals.TableBlocks, s.blocks, c.Block.User, c.Block.Seller, c.Block.At.UnixMilli(), c), nil
	case c.Party != nil:
		return s.applyParty(c), nil
	case c.Like != nil:
		return s.applyLike(c), nil
	case c.Share != nil:
		return s.applyShare(c), nil
	}
	return false, fmt.Errorf("memory: a change with no row and no truncate (version %d)", c.Version)
}

func (s *state) applySeller(c *signals.Change) bool {
	id := s.intern(c.Seller.ID)
	if !applyRow(s, signals.TableSellers, s.sellers, id, c, *c.Seller) {
		return false
	}
	if !c.Delete && c.Seller.Status == signals.SellerSuspended {
		s.suspended[id] = struct{}{}
	} else {
		delete(s.suspended, id)
	}
	return true
}

func (s *state) applyParty(c *signals.Change) bool {
	return applyRow(s, signals.TableParties, s.parties, s.intern(c.Party.ID), c, *c.Party)
}

func (s *state) applyEdge(table string, m map[uint32][]edge, from, to string, at int64, c *signals.Change) bool {
	f, t := s.intern(from), s.intern(to)
	es := m[f]
	i, found := slices.BinarySearchFunc(es, t, func(e edge, t uint32) int { return cmp.Compare(e.to, t) })
	var rv uint64
	if found {
		rv = es[i].ver
	}
	if c.Version < s.held(table, rv) {
		return false
	}
	wasLive := found && !es[i].dead
	e := edge{ver: c.Version, at: at, to: t, dead: c.Delete}
	if found {
		es[i] = e
	} else {
		es = slices.Insert(es, i, e)
		m[f] = es
	}
	if table == signals.TableFollows {
		switch {
		case wasLive && c.Delete:
			s.followers[t]--
		case !wasLive && !c.Delete:
			s.followers[t]++
		}
	}
	return true
}

func (s *state) applyLike(c *signals.Change) bool {
	u, l := s.intern(c.Like.User), s.intern(c.Like.Listing)
	key := uint64(u)<<32 | uint64(l)
	old := s.likeIx[key]
	if c.Version < s.held(signals.TableLikes, s.verOf(old)) {
		return false
	}
	if old != 0 && !s.isDead(old) {
		s.unindex(old)
	}
	if c.Delete {
		s.likeIx[key] = s.tombstone(c.Version)
		return true
	}
	s.likeIx[key] = s.index(c.Like.At.UnixMilli(), c.Version, u, l, likeParty)
	return true
}

func (s *state) shareSlot(id int64, create bool) *uint32 {
	b := s.shareIx[id>>blockBits]
	if b == nil {
		if !create {
			return nil
		}
		b = new([blockSize]uint32)
		s.shareIx[id>>blockBits] = b
	}
	return &b[id&(blockSize-1)]
}

func (s *state) applyShare(c *signals.Change) bool {
	sh := c.Share
	slot := s.shareSlot(sh.ID, true)
	old := *slot
	if c.Version < s.held(signals.TableShares, s.verOf(old)) {
		return false
	}
	if old != 0 && !s.isDead(old) {
		s.unindex(old)
	}
	if c.Delete {
		*slot = s.tombstone(c.Version)
		return true
	}
	var p uint32
	if sh.Party != "" {
		p = s.intern(sh.Party)
	}
	*slot = s.index(sh.At.UnixMilli(), c.Version, s.intern(sh.User), s.intern(sh.Listing), p)
	return true
}

// index adds a live event and indexes it.
func (s *state) index(at int64, ver uint64, u, l, p uint32) uint32 {
	e := s.appendEvent(at, ver, u, l, p)
	s.ev[e].prev, s.head[l] = s.head[l], e
	if c := &s.counts[l]; p == likeParty {
		c.likes++
	} else {
		c.shares++
		c.lastShare = max(c.lastShare, at)
	}
	line, dirty := s.timeline, &s.dirtyUsers
	if p == likeParty {
		line, dirty = s.likeline, &s.dirtyLikers
	}
	tl := line[u]
	if len(tl) > 0 && s.ev[tl[len(tl)-1]].at > at {
		s.unsettled(dirty, u, len(tl))
	}
	line[u] = append(tl, e)
	if p != 0 && p != likeParty {
		pl := s.partyIx[p]
		if pl == nil {
			pl = &partyLog{latest: map[uint32]uint32{}}
			s.partyIx[p] = pl
		}
		pl.version++
		if n := len(pl.log); n > 0 && s.ev[pl.log[n-1]].at > at {
			s.unsettled(&s.dirtyParties, p, n)
		}
		pl.log = append(pl.log, e)
		if cur, ok := pl.latest[l]; !ok || s.ev[cur].at <= at {
			pl.latest[l] = e
		}
	}
	return e
}

// Timelines and party logs are kept sorted by at then event number. An
// event that arrives in order is appended; one older than the newest held
// is appended too, its slice marked unsettled (with the length of its
// sorted prefix), and settle, which Apply calls after each chunk of
// changes before readers see the state, sorts the slice's new tail and
// merges it into the prefix: O(n) per chunk for a slice, not per event (a
// snapshot of shares arrives in listing order, not time order).

// unsettled records that the slice of key in m has a sorted prefix of n
// (the first record of a chunk holds).
func (s *state) unsettled(m *map[uint32]int, key uint32, n int) {
	if *m == nil {
		*m = map[uint32]int{}
	}
	if _, ok := (*m)[key]; !ok {
		(*m)[key] = n
	}
}

// settle sorts every unsettled timeline and party log.
func (s *state) settle() {
	for u, n := range s.dirtyUsers {
		s.timeline[u] = s.mergeTail(s.timeline[u], n)
	}
	for u, n := range s.dirtyLikers {
		s.likeline[u] = s.mergeTail(s.likeline[u], n)
	}
	for p, n := range s.dirtyParties {
		if pl := s.partyIx[p]; pl != nil {
			pl.log = s.mergeTail(pl.log, min(n, len(pl.log)))
		}
	}
	clear(s.dirtyUsers)
	clear(s.dirtyLikers)
	clear(s.dirtyParties)
}

// byTime orders events by at then event number.
func (s *state) byTime(a, b uint32) int {
	if c := cmp.Compare(s.ev[a].at, s.ev[b].at); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

// mergeTail sorts es[n:] and merges it into es[:n], which is sorted.
func (s *state) mergeTail(es []uint32, n int) []uint32 {
	if n >= len(es) {
		return es
	}
	tail := slices.Clone(es[n:])
	slices.SortFunc(tail, s.byTime)
	// Merge backwards: the prefix's elements after the tail's smallest
	// move up, the rest stay.
	i, j, k := n-1, len(tail)-1, len(es)-1
	for j >= 0 {
		if i >= 0 && s.byTime(es[i], tail[j]) > 0 {
			es[k] = es[i]
			i--
		} else {
			es[k] = tail[j]
			j--
		}
		k--
	}
	return es
}

// unindex kills a live event. The timelines and logs keep it (readers skip
// dead events); a party's latest share of its listing is found again.
func (s *state) unindex(e uint32) {
	s.kill(e)
	p := s.partyOf(e)
	l := s.ev[e].lst
	if c := &s.counts[l]; p == likeParty {
		c.likes--
	} else {
		c.shares--
		if c.lastShare == s.ev[e].at {
			c.lastShare = s.latestShare(l)
		}
	}
	if p == 0 || p == likeParty {
		return
	}
	pl := s.partyIx[p]
	pl.dead++
	pl.version++
	if pl.latest[l] == e {
		if n := s.latestIn(l, p, math.MaxInt64); n != 0 {
			pl.latest[l] = n
		} else {
			delete(pl.latest, l)
		}
	}
	if pl.dead > 64 && pl.dead > len(pl.log)/4 {
		if n, ok := s.dirtyParties[p]; ok {
			pl.log = s.mergeTail(pl.log, n) // the prefix's length changes
			delete(s.dirtyParties, p)
		}
		pl.log = slices.DeleteFunc(pl.log, s.isDead)
		pl.dead = 0
	}
}

// latestIn is listing l's latest live share into party p before the
// instant before (0 if none), from the listing's chain of events.
func (s *state) latestIn(l, p uint32, before int64) uint32 {
	var best uint32
	for e := s.head[l]; e != 0; e = s.ev[e].prev {
		if best != 0 && s.spanTop[e>>spanBits] <= s.ev[best].at {
			break // nothing this early in the arena is later than best
		}
		if s.ev[e].party == p && s.ev[e].at < before && !s.isDead(e) && (best == 0 || s.ev[e].at > s.ev[best].at) {
			best = e
		}
	}
	return best
}

// latestShare is the instant of listing l's latest live share (noShare if
// none), from its chain of events.
func (s *state) latestShare(l uint32) int64 {
	best := int64(noShare)
	for e := s.head[l]; e != 0; e = s.ev[e].prev {
		if best != noShare && s.spanTop[e>>spanBits] <= best {
			break // nothing this early in the arena is later than best
		}
		if s.partyOf(e) != likeParty && !s.isDead(e) {
			best = max(best, s.ev[e].at)
		}
	}
	return best
}

// countersOf answers signals.Reader.Counters.
func (s *state) countersOf(listings []string) map[string]signals.Counters {
	out := make(map[string]signals.Counters, len(listings))
	for _, name := range listings {
		var c signals.Counters
		if l := s.lookup(name); l != 0 {
			lc := s.counts[l]
			c.Likes, c.Shares = int64(lc.likes), int64(lc.shares)
			if lc.lastShare != noShare {
				c.LastSharedAt = msTime(lc.lastShare)
			}
		}
		out[name] = c
	}
	return out
}

// truncate removes the rows of table below v and sets its floor.
func (s *state) truncate(table string, v uint64) (bool, error) {
	switch table {
	case signals.TableSellers:
		for id, r := range s.sellers {
			if r.ver < v {
				delete(s.sellers, id)
				delete(s.suspended, id)
			}
		}
	case signals.TableParties:
		for id, r := range s.parties {
			if r.ver < v {
				delete(s.parties, id)
			}
		}
	case signals.TableFollows, signals.TableBlocks:
		m := s.follows
		if table == signals.TableBlocks {
			m = s.blocks
		}
		for f, es := range m {
			es = slices.DeleteFunc(es, func(e edge) bool {
				if e.ver >= v {
					return false
				}
				if !e.dead && table == signals.TableFollows {
					s.followers[e.to]--
				}
				return true
			})
			if len(es) == 0 {
				delete(m, f)
			} else {
				m[f] = es
			}
		}
	case signals.TableLikes:
		for k, e := range s.likeIx {
			if s.verOf(e) < v {
				if !s.isDead(e) {
					s.unindex(e)
				}
				delete(s.likeIx, k)
			}
		}
	case signals.TableShares:
		for _, b := range s.shareIx {
			for i, e := range b {
				if e != 0 && s.verOf(e) < v {
					if !s.isDead(e) {
						s.unindex(e)
					}
					b[i] = 0
				}
			}
		}
	default:
		return false, fmt.Errorf("memory: truncate of an unknown table %q", table)
	}
	s.floors[table] = max(s.floors[table], v)
	return true, nil
}
