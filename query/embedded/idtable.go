package embedded

import (
	"bytes"
	"hash/maphash"
)

// idList is every listing id by ordinal, back to back in one byte arena.
// Entries never change once added, so a copy of the slice headers (frozen)
// stays a valid read-only view while the writer appends.
type idList struct {
	arena []byte
	ends  []int // ends[o] is where ordinal o's id ends in arena
}

func (l idList) len() int { return len(l.ends) }

// at returns ordinal o's id, aliasing the arena: the caller must not keep
// or modify it (str copies).
func (l idList) at(o uint32) []byte {
	start := 0
	if o > 0 {
		start = l.ends[o-1]
	}
	return l.arena[start:l.ends[o]:l.ends[o]]
}

func (l idList) str(o uint32) string { return string(l.at(o)) }

// compare orders two ordinals by id.
func (l idList) compare(a, b uint32) int { return bytes.Compare(l.at(a), l.at(b)) }

// frozen returns a view of the ids added so far that later appends never
// write into.
func (l idList) frozen() idList {
	return idList{arena: l.arena[:len(l.arena):len(l.arena)], ends: l.ends[:len(l.ends):len(l.ends)]}
}

// idTable is an idList with the reverse lookup, id → ordinal. It holds no
// Go pointer per id: a []string and a map[string]uint32 over a million ids
// were two million pointers that every garbage collection cycle chased
// (about 100 ms of CPU per cycle at 1M listings, taken from the searches
// running meanwhile), while byte and integer arrays and a map of integers
// are not scanned at all. The map is keyed by a 64-bit hash of the id and
// every hit is checked against the arena; an id whose hash an earlier id
// already holds (odds about 3e-8 among a million ids) goes to clash.
type idTable struct {
	idList
	seed   maphash.Seed
	byHash map[uint64]uint32
	clash  map[string]uint32
}

func newIDTable() idTable {
	return idTable{seed: maphash.MakeSeed(), byHash: map[uint64]uint32{}}
}

// reserve makes room for n ids of about avgLen bytes each.
func (t *idTable) reserve(n, avgLen int) {
	t.arena = make([]byte, 0, n*avgLen)
	t.ends = make([]int, 0, n)
	t.byHash = make(map[uint64]uint32, n)
}

func (t *idTable) lookup(id string) (uint32, bool) {
	if o, ok := t.byHash[maphash.String(t.seed, id)]; ok && string(t.at(o)) == id {
		return o, true
	}
	o, ok := t.clash[id]
	return o, ok
}

// lookupBytes is lookup without converting id to a string.
func (t *idTable) lookupBytes(id []byte) (uint32, bool) {
	if o, ok := t.byHash[maphash.Bytes(t.seed, id)]; ok && bytes.Equal(t.at(o), id) {
		return o, true
	}
	o, ok := t.clash[string(id)]
	return o, ok
}

// add appends id, which must not be in the table, and returns its ordinal.
func (t *idTable) add(id string) uint32 {
	o := uint32(len(t.ends))
	t.arena = append(t.arena, id...)
	t.ends = append(t.ends, len(t.arena))
	h := maphash.String(t.seed, id)
	if _, taken := t.byHash[h]; !taken {
		t.byHash[h] = o
		return o
	}
	if t.clash == nil {
		t.clash = map[string]uint32{}
	}
	t.clash[id] = o
	return o
}
