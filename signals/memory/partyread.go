package memory

import (
	"sort"

	"github.com/rummage/rummage/signals"
)

// Party reads: a party's listings at their latest share in a window.

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
