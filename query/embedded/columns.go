package embedded

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/rummage/rummage/query"
)

// dict interns the values of one field. Id 0 is the empty value (absent).
// Filters match values case-insensitively: lower maps the lower-cased form
// to every id spelled that way (data may hold "Nike" and "NIKE"), the
// first-seen spelling first; facets answer with the values as listed.
type dict struct {
	ids   map[string]uint32
	vals  []string
	lower map[string][]uint32 // nil for dicts no filter reads
}

func newDict() dict { return dict{ids: map[string]uint32{"": 0}, vals: []string{""}} }

// newFilterDict is a dict with the case-insensitive index.
func newFilterDict() dict {
	d := newDict()
	d.lower = map[string][]uint32{}
	return d
}

func (d *dict) intern(s string) uint32 {
	if id, ok := d.ids[s]; ok {
		return id
	}
	id := uint32(len(d.vals))
	d.ids[s] = id
	d.vals = append(d.vals, s)
	if d.lower != nil {
		l := strings.ToLower(s)
		d.lower[l] = append(d.lower[l], id)
	}
	return id
}

// match returns the ids of every spelling of v, ignoring case.
func (d *dict) match(v string) []uint32 {
	if id, ok := d.ids[v]; ok && d.lower == nil {
		return []uint32{id}
	}
	return d.lower[strings.ToLower(v)]
}

// catNode is one node of the category tree. Node 0 is the invisible root
// whose children are the top-level categories.
type catNode struct {
	parent   uint32
	path     string // full path joined by "/", as listed
	children []uint32
	anc      []uint32 // the path as nodes, top level first, ending with this node
}

// row is what filters, facets, sorts and ranking read of one listing, in
// one 64-byte cache line: a text query or a narrow browse touches a few
// thousand scattered ordinals, and reading six facet columns of separate
// arrays cost six cache misses per document where a row costs one.
type row struct {
	price   int64
	created int64
	shared  int64 // noTime when never shared
	avail   int64 // noTime when not a drop
	brand   uint32
	size    uint32
	seller  uint32
	colors  uint32 // into colorSets
	node    uint32 // category leaf; 0 for none
	likes   uint32
	shares  uint32
	cond    uint8
	status  uint8
}

// columns hold, per ordinal, what filters, facets and sorts read, and the
// bitmaps of ordinals per filter value. Every ordinal ever seen keeps its slot
// (a deleted listing is a tombstone holding its version), so ordinals are
// stable for the life of the process. Guarded by Index.mu.
type columns struct {
	ids     idTable
	version []uint64
	deleted []bool
	rows    []row
	// Copies of a few row fields as plain arrays, for passes over large
	// sets: a sort over every visible listing reads 8 bytes a listing
	// instead of a 64-byte row, brand and size facets over a large set are
	// counted from 4-byte columns, and the text score's category boost
	// reads the category leaf of every text hit from nodeCol. listedCol is
	// max(created, available_at): "newest" orders by when shoppers first
	// saw a listing, so a drop lands at the top at its instant.
	brandCol, sizeCol, nodeCol     []uint32
	priceCol, listedCol, sharedCol []int64

	brands, sizes, colorVals dict
	// sellerIDs interns seller ids (ordinal 0 is "", no seller) in an
	// arena, and the listings of each seller are a doubly linked list
	// through flat arrays (sellerHead by seller, sellerNext/sellerPrev by
	// listing, ordinal+1 with 0 for none): a bitmap per seller was a
	// dozen objects per closet for the garbage collector to chase, which
	// at 1M listings and 90k closets made every cycle several times
	// costlier and text p99 three times slower.
	sellerIDs                          idTable
	sellerHead, sellerNext, sellerPrev []uint32
	colorSets                          dict              // key: sorted color ids joined by ","
	colorSetIDs                        [][]uint32        // colorSets id → color ids
	colorSetByNames                    map[string]uint32 // colors as listed, joined by NUL → colorSets id

	nodes       []catNode
	nodeByPath  map[string]uint32
	nodeByLower map[string][]uint32 // lower-cased path → nodes, first-seen first

	available *roaring.Bitmap   // status available (drops included)
	drops     *roaring.Bitmap   // available and with an available_at
	brandBM   []*roaring.Bitmap // by brand id
	sizeBM    []*roaring.Bitmap
	colorBM   []*roaring.Bitmap
	condBM    []*roaring.Bitmap // by condition code
	nodeBM    []*roaring.Bitmap // by node; a node holds its whole subtree
	priceBM   []*roaring.Bitmap // by query.PriceBuckets() index

	live int // documents that are not tombstones

	// Presorted orders (see order.go) and the ordinals written since they
	// were built; pendingDirty collects writes while a rebuild runs.
	ord                 *orders
	dirty, pendingDirty *roaring.Bitmap

	gen atomic.Uint64 // bumped by every write, invalidates caches
}

func newColumns() *columns {
	c := &columns{
		ids:             newIDTable(),
		brands:          newFilterDict(),
		sizes:           newFilterDict(),
		colorVals:       newFilterDict(),
		sellerIDs:       newIDTable(),
		colorSets:       newDict(),
		colorSetByNames: map[string]uint32{},
		nodes:           []catNode{{}},
		nodeByPath:      map[string]uint32{"": 0},
		nodeByLower:     map[string][]uint32{},
		available:       roaring.New(),
		dirty:           roaring.New(),
		drops:           roaring.New(),
	}
	c.colorSetIDs = [][]uint32{nil}
	c.brandBM = []*roaring.Bitmap{roaring.New()}
	c.sizeBM = []*roaring.Bitmap{roaring.New()}
	c.sellerIDs.add("")
	c.sellerHead = []uint32{0}
	c.colorBM = []*roaring.Bitmap{roaring.New()}
	c.nodeBM = []*roaring.Bitmap{roaring.New()}
	for range len(conditionsPlusNone) {
		c.condBM = append(c.condBM, roaring.New())
	}
	for range query.NumPriceBuckets {
		c.priceBM = append(c.priceBM, roaring.New())
	}
	return c
}

var conditionsPlusNone = [5]struct{}{}

// ordinal returns the ordinal of id, assigning a fresh empty slot if new.
func (c *columns) ordinal(id string) uint32 {
	if o, ok := c.ids.lookup(id); ok {
		return o
	}
	o := c.ids.add(id)
	c.version = append(c.version, 0)
	c.deleted = append(c.deleted, true)
	c.rows = append(c.rows, row{shared: noTime, avail: noTime})
	c.brandCol = append(c.brandCol, 0)
	c.nodeCol = append(c.nodeCol, 0)
	c.sizeCol = append(c.sizeCol, 0)
	c.priceCol = append(c.priceCol, 0)
	c.listedCol = append(c.listedCol, 0)
	c.sellerNext = append(c.sellerNext, 0)
	c.sellerPrev = append(c.sellerPrev, 0)
	c.sharedCol = append(c.sharedCol, noTime)
	return o
}

// reserveIDLen is the id length reserve plans for; longer ids only make the
// arena grow once more.
const reserveIDLen = 16

// reserve makes room for n more ordinals, so that loading a big index does
// not grow the map and slices step by step.
func (c *columns) reserve(n int) {
	if c.ids.len() > 0 {
		return
	}
	c.ids.reserve(n, reserveIDLen)
	c.version = make([]uint64, 0, n)
	c.deleted = make([]bool, 0, n)
	c.rows = make([]row, 0, n)
	c.brandCol = make([]uint32, 0, n)
	c.nodeCol = make([]uint32, 0, n)
	c.sizeCol = make([]uint32, 0, n)
	c.priceCol = make([]int64, 0, n)
	c.listedCol = make([]int64, 0, n)
	c.sellerNext = make([]uint32, 0, n)
	c.sellerPrev = make([]uint32, 0, n)
	c.sharedCol = make([]int64, 0, n)
}

func bm(list *[]*roaring.Bitmap, id uint32) *roaring.Bitmap {
	for uint32(len(*list)) <= id {
		*list = append(*list, roaring.New())
	}
	return (*list)[id]
}

func (c *columns) colorSet(colors []string) uint32 {
	if len(colors) == 0 {
		return 0
	}
	names := strings.Join(colors, "\x00")
	if set, ok := c.colorSetByNames[names]; ok {
		return set
	}
	set := c.colorSetSlow(colors)
	c.colorSetByNames[names] = set
	return set
}

func (c *columns) colorSetSlow(colors []string) uint32 {
	ids := make([]uint32, 0, len(colors))
	for _, s := range colors {
		if s != "" {
			ids = append(ids, c.colorVals.intern(s))
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var key strings.Builder
	for i, id := range ids {
		if i > 0 {
			key.WriteByte(',')
		}
		key.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	before := len(c.colorSets.vals)
	set := c.colorSets.intern(key.String())
	if len(c.colorSets.vals) > before {
		c.colorSetIDs = append(c.colorSetIDs, ids)
	}
	return set
}

// categoryNode returns the node of a path, creating it and its ancestors.
func (c *columns) categoryNode(path []string) uint32 {
	if len(path) == 0 {
		return 0
	}
	if n, ok := c.nodeByPath[strings.Join(path, "/")]; ok {
		return n
	}
	node := uint32(0)
	for i := range path {
		p := strings.Join(path[:i+1], "/")
		n, ok := c.nodeByPath[p]
		if !ok {
			n = uint32(len(c.nodes))
			anc := append(slices.Clone(c.nodes[node].anc), n)
			c.nodes = append(c.nodes, catNode{parent: node, path: p, anc: anc})
			c.nodes[node].children = append(c.nodes[node].children, n)
			c.nodeByPath[p] = n
			lp := strings.ToLower(p)
			c.nodeByLower[lp] = append(c.nodeByLower[lp], n)
		}
		node = n
	}
	return node
}

func priceBucket(p int64) int { return query.PriceBucketOf(p) }

// clear takes ordinal o out of every bitmap.
func (c *columns) clear(o uint32) {
	if c.deleted[o] {
		return
	}
	c.available.Remove(o)
	c.drops.Remove(o)
	c.brandBM[c.rows[o].brand].Remove(o)
	c.sizeBM[c.rows[o].size].Remove(o)
	c.unlinkSeller(o)
	c.condBM[c.rows[o].cond].Remove(o)
	for _, col := range c.colorSetIDs[c.rows[o].colors] {
		c.colorBM[col].Remove(o)
	}
	for n := c.rows[o].node; n != 0; n = c.nodes[n].parent {
		c.nodeBM[n].Remove(o)
	}
	if b := priceBucket(c.rows[o].price); b >= 0 {
		c.priceBM[b].Remove(o)
	}
	c.live--
	c.deleted[o] = true
}

// set replaces what the columns hold for ordinal o.
func (c *columns) set(o uint32, r *colRecord) {
	c.dirty.Add(o)
	if c.pendingDirty != nil {
		c.pendingDirty.Add(o)
	}
	c.clear(o)
	c.version[o] = r.version
	if r.deleted {
		c.rows[o].status = stNone
		return
	}
	c.deleted[o] = false
	c.live++
	c.rows[o].status = r.status
	c.rows[o].brand = c.brands.intern(r.brand)
	c.rows[o].size = c.sizes.intern(r.size)
	c.rows[o].seller = c.sellerOrdinal(r.seller)
	c.rows[o].cond = r.cond
	c.rows[o].colors = c.colorSet(r.colors)
	c.rows[o].node = c.categoryNode(r.category)
	c.rows[o].price = r.price
	c.rows[o].created = r.created
	c.rows[o].shared = r.shared
	c.rows[o].avail = r.avail
	c.rows[o].likes = uint32(min(r.likes, 1<<32-1))
	c.rows[o].shares = uint32(min(r.shares, 1<<32-1))
	c.brandCol[o], c.sizeCol[o], c.nodeCol[o] = c.rows[o].brand, c.rows[o].size, c.rows[o].node
	c.priceCol[o], c.listedCol[o], c.sharedCol[o] = r.price, c.rows[o].listed(), r.shared

	if r.status == stAvailable {
		c.available.Add(o)
		if r.avail != noTime {
			c.drops.Add(o)
		}
	}
	bm(&c.brandBM, c.rows[o].brand).Add(o)
	bm(&c.sizeBM, c.rows[o].size).Add(o)
	c.linkSeller(o)
	c.condBM[c.rows[o].cond].Add(o)
	for _, col := range c.colorSetIDs[c.rows[o].colors] {
		bm(&c.colorBM, col).Add(o)
	}
	for n := c.rows[o].node; n != 0; n = c.nodes[n].parent {
		bm(&c.nodeBM, n).Add(o)
	}
	if b := priceBucket(r.price); b >= 0 {
		c.priceBM[b].Add(o)
	}
}

// sellerOrdinal interns a seller id.
func (c *columns) sellerOrdinal(id string) uint32 {
	if s, ok := c.sellerIDs.lookup(id); ok {
		return s
	}
	s := c.sellerIDs.add(id)
	c.sellerHead = append(c.sellerHead, 0)
	return s
}

// linkSeller puts listing o first in its seller's list.
func (c *columns) linkSeller(o uint32) {
	s := c.rows[o].seller
	head := c.sellerHead[s]
	c.sellerNext[o], c.sellerPrev[o] = head, 0
	if head != 0 {
		c.sellerPrev[head-1] = o + 1
	}
	c.sellerHead[s] = o + 1
}

// unlinkSeller takes listing o out of its seller's list.
func (c *columns) unlinkSeller(o uint32) {
	s := c.rows[o].seller
	next, prev := c.sellerNext[o], c.sellerPrev[o]
	if prev != 0 {
		c.sellerNext[prev-1] = next
	} else if c.sellerHead[s] == o+1 {
		c.sellerHead[s] = next
	}
	if next != 0 {
		c.sellerPrev[next-1] = prev
	}
	c.sellerNext[o], c.sellerPrev[o] = 0, 0
}

// sellerBitmap returns the live listings of the given sellers (ids match
// exactly), or nil when none of them is known.
func (c *columns) sellerBitmap(sellers []string) *roaring.Bitmap {
	var ords []uint32
	known := false
	for _, id := range sellers {
		s, ok := c.sellerIDs.lookup(id)
		if !ok || s == 0 {
			continue
		}
		known = true
		for o := c.sellerHead[s]; o != 0; o = c.sellerNext[o-1] {
			ords = append(ords, o-1)
		}
	}
	if !known {
		return nil
	}
	slices.Sort(ords)
	b := roaring.New()
	b.AddMany(ords)
	return b
}

// sellerOf is listing o's seller id.
func (c *columns) sellerOf(o uint32) string { return c.sellerIDs.str(c.rows[o].seller) }

// listed is max(created, available_at) in Unix ms: when shoppers first saw
// the listing.
func (r *row) listed() int64 {
	if r.avail != noTime {
		return max(r.created, r.avail)
	}
	return r.created
}

// visibility caches the visible set for an interval of instants: between two
// consecutive drop instants nothing changes, so queries evaluated "now" share
// one bitmap until the next drop goes live or a write lands.
type visibility struct {
	gen     uint64
	lo, hi  int64 // valid for lo <= t < hi
	visible *roaring.Bitmap
}

// visibleAt returns the ordinals visible at instant t (Unix ms): available,
// and a drop's instant not after t. The result must not be modified.
func (c *columns) visibleAt(cache *atomic.Pointer[visibility], t int64) *roaring.Bitmap {
	gen := c.gen.Load()
	if v := cache.Load(); v != nil && v.gen == gen && v.lo <= t && t < v.hi {
		return v.visible
	}
	lo, hi := int64(noTime), int64(1<<63-1)
	hidden := roaring.New()
	it := c.drops.Iterator()
	for it.HasNext() {
		o := it.Next()
		at := c.rows[o].avail
		if at > t {
			hidden.Add(o)
			hi = min(hi, at)
		} else {
			lo = max(lo, at)
		}
	}
	vis := c.available
	if !hidden.IsEmpty() {
		vis = roaring.AndNot(c.available, hidden)
	}
	cache.Store(&visibility{gen: gen, lo: lo, hi: hi, visible: vis})
	return vis
}
