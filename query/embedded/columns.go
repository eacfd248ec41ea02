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
type dict struct {
	ids  map[string]uint32
	vals []string
}

func newDict() dict { return dict{ids: map[string]uint32{"": 0}, vals: []string{""}} }

func (d *dict) intern(s string) uint32 {
	if id, ok := d.ids[s]; ok {
		return id
	}
	id := uint32(len(d.vals))
	d.ids[s] = id
	d.vals = append(d.vals, s)
	return id
}

// catNode is one node of the category tree. Node 0 is the invisible root
// whose children are the top-level categories.
type catNode struct {
	parent   uint32
	path     string // full path joined by "/"
	children []uint32
	anc      []uint32 // the path as nodes, top level first, ending with this node
}

// columns hold, per ordinal, what filters, facets and sorts read, and the
// bitmaps of ordinals per filter value. Every ordinal ever seen keeps its slot
// (a deleted listing is a tombstone holding its version), so ordinals are
// stable for the life of the process. Guarded by Index.mu.
type columns struct {
	ids     []string
	ordOf   map[string]uint32
	version []uint64
	deleted []bool
	status  []uint8
	brand   []uint32
	size    []uint32
	cond    []uint8
	colors  []uint32 // into colorSets
	node    []uint32 // category leaf; 0 for none
	price   []int64
	created []int64
	shared  []int64 // noTime when never shared
	avail   []int64 // noTime when not a drop
	likes   []uint32
	shares  []uint32

	brands, sizes, colorVals dict
	colorSets                dict              // key: sorted color ids joined by ","
	colorSetIDs              [][]uint32        // colorSets id → color ids
	colorSetByNames          map[string]uint32 // colors as listed, joined by NUL → colorSets id

	nodes      []catNode
	nodeByPath map[string]uint32

	available *roaring.Bitmap   // status available (drops included)
	drops     *roaring.Bitmap   // available and with an available_at
	brandBM   []*roaring.Bitmap // by brand id
	sizeBM    []*roaring.Bitmap
	colorBM   []*roaring.Bitmap
	condBM    []*roaring.Bitmap // by condition code
	nodeBM    []*roaring.Bitmap // by node; a node holds its whole subtree
	priceBM   []*roaring.Bitmap // by query.PriceBuckets index

	live int // documents that are not tombstones

	gen atomic.Uint64 // bumped by every write, invalidates caches
}

func newColumns() *columns {
	c := &columns{
		ordOf:           map[string]uint32{},
		brands:          newDict(),
		sizes:           newDict(),
		colorVals:       newDict(),
		colorSets:       newDict(),
		colorSetByNames: map[string]uint32{},
		nodes:           []catNode{{}},
		nodeByPath:      map[string]uint32{"": 0},
		available:       roaring.New(),
		drops:           roaring.New(),
	}
	c.colorSetIDs = [][]uint32{nil}
	c.brandBM = []*roaring.Bitmap{roaring.New()}
	c.sizeBM = []*roaring.Bitmap{roaring.New()}
	c.colorBM = []*roaring.Bitmap{roaring.New()}
	c.nodeBM = []*roaring.Bitmap{roaring.New()}
	for range len(conditionsPlusNone) {
		c.condBM = append(c.condBM, roaring.New())
	}
	for range query.PriceBuckets {
		c.priceBM = append(c.priceBM, roaring.New())
	}
	return c
}

var conditionsPlusNone = [5]struct{}{}

// ordinal returns the ordinal of id, assigning a fresh empty slot if new.
func (c *columns) ordinal(id string) uint32 {
	if o, ok := c.ordOf[id]; ok {
		return o
	}
	o := uint32(len(c.ids))
	c.ordOf[id] = o
	c.ids = append(c.ids, id)
	c.version = append(c.version, 0)
	c.deleted = append(c.deleted, true)
	c.status = append(c.status, stNone)
	c.brand = append(c.brand, 0)
	c.size = append(c.size, 0)
	c.cond = append(c.cond, 0)
	c.colors = append(c.colors, 0)
	c.node = append(c.node, 0)
	c.price = append(c.price, 0)
	c.created = append(c.created, 0)
	c.shared = append(c.shared, noTime)
	c.avail = append(c.avail, noTime)
	c.likes = append(c.likes, 0)
	c.shares = append(c.shares, 0)
	return o
}

func (c *columns) len() int { return len(c.ids) }

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
		}
		node = n
	}
	return node
}

func priceBucket(p int64) int {
	for i, b := range query.PriceBuckets {
		if p >= b.From && (b.To == 0 || p < b.To) {
			return i
		}
	}
	return -1 // below the first bucket: negative prices are invalid
}

// clear takes ordinal o out of every bitmap.
func (c *columns) clear(o uint32) {
	if c.deleted[o] {
		return
	}
	c.available.Remove(o)
	c.drops.Remove(o)
	c.brandBM[c.brand[o]].Remove(o)
	c.sizeBM[c.size[o]].Remove(o)
	c.condBM[c.cond[o]].Remove(o)
	for _, col := range c.colorSetIDs[c.colors[o]] {
		c.colorBM[col].Remove(o)
	}
	for n := c.node[o]; n != 0; n = c.nodes[n].parent {
		c.nodeBM[n].Remove(o)
	}
	if b := priceBucket(c.price[o]); b >= 0 {
		c.priceBM[b].Remove(o)
	}
	c.live--
	c.deleted[o] = true
}

// set replaces what the columns hold for ordinal o.
func (c *columns) set(o uint32, r *colRecord) {
	c.clear(o)
	c.version[o] = r.version
	if r.deleted {
		c.status[o] = stNone
		return
	}
	c.deleted[o] = false
	c.live++
	c.status[o] = r.status
	c.brand[o] = c.brands.intern(r.brand)
	c.size[o] = c.sizes.intern(r.size)
	c.cond[o] = r.cond
	c.colors[o] = c.colorSet(r.colors)
	c.node[o] = c.categoryNode(r.category)
	c.price[o] = r.price
	c.created[o] = r.created
	c.shared[o] = r.shared
	c.avail[o] = r.avail
	c.likes[o] = uint32(min(r.likes, 1<<32-1))
	c.shares[o] = uint32(min(r.shares, 1<<32-1))

	if r.status == stAvailable {
		c.available.Add(o)
		if r.avail != noTime {
			c.drops.Add(o)
		}
	}
	bm(&c.brandBM, c.brand[o]).Add(o)
	bm(&c.sizeBM, c.size[o]).Add(o)
	c.condBM[c.cond[o]].Add(o)
	for _, col := range c.colorSetIDs[c.colors[o]] {
		bm(&c.colorBM, col).Add(o)
	}
	for n := c.node[o]; n != 0; n = c.nodes[n].parent {
		bm(&c.nodeBM, n).Add(o)
	}
	if b := priceBucket(r.price); b >= 0 {
		c.priceBM[b].Add(o)
	}
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
		at := c.avail[o]
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
