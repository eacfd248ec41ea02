package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/query"
)

// Config configures an embedded index.
type Config struct {
	// Dir is the configured index directory (--index-dir). Open opens the
	// generation in use (see ActiveDir: after a zero-downtime reindex it is
	// DIR.g000002, ...). It is created when missing or empty; an existing
	// index is reopened as it is, without reindexing.
	Dir string
	// Aliases expand brand shorthand in queries; nil expands none. The
	// caller loads them (cmd/rummage: --aliases FILE or the shipped
	// fixtures.BrandAliases), so that every backend of a process shares one
	// set.
	Aliases query.Aliases
	// BaselineFacetFields also indexes the facet, filter and sort fields in
	// Bleve, so that SearchBleveFacets can run the same request through
	// Bleve's own facet builder (the baseline of rummage bench search). It
	// makes indexing slower and the index larger; fixed when the index is
	// created.
	BaselineFacetFields bool
	// RefreshInterval is how often segments that Bleve merged in the
	// background are taken into the searched snapshot (their ordinal maps
	// built first). Default 10s.
	RefreshInterval time.Duration
	// BulkBatch is the batch size of Bulk. Default 10,000.
	BulkBatch int
	// Progress, when set, is called now and then while Open loads an
	// existing index and while Bulk indexes.
	Progress func(Progress)
}

// Progress reports a long operation.
type Progress struct {
	Phase   string // "load" (Open reading an existing index), "bulk", or "merge" (Bulk merging segments at its end)
	Done    int    // documents so far
	Total   int    // documents in all, when known; else 0
	Elapsed time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("embedded: Config.Dir is required")
	case c.RefreshInterval < 0:
		return errors.New("embedded: Config.RefreshInterval must be >= 0")
	case c.BulkBatch < 0:
		return errors.New("embedded: Config.BulkBatch must be >= 0")
	}
	return nil
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.RefreshInterval == 0 {
		d.RefreshInterval = 10 * time.Second
	}
	if d.BulkBatch == 0 {
		d.BulkBatch = 10000
	}
	return d
}

// ErrClosed is returned by calls on a closed Index.
var ErrClosed = errors.New("embedded: index is closed")

// ErrLocked means another process has the index open (CheckUnlocked).
var ErrLocked = errors.New("embedded: the index is open in another process")

// noOrd marks a document of a segment that has no ordinal (cannot happen for
// an index written by this package; kept defensive).
const noOrd = math.MaxUint32

// segView maps the documents of one segment of the searched snapshot to
// ordinals: global doc number = offset + local number.
type segView struct {
	offset uint64
	ords   []uint32
}

// Index is the embedded backend: Bleve for text, columns for the rest. It
// implements query.Backend.
type Index struct {
	cfg      Config
	bi       bleve.Index
	m        *mapping.IndexMappingImpl
	an       analyzers
	aliases  query.Aliases
	baseline bool

	// writeMu serializes writers (Apply, Bulk, refresh). A writer prepares
	// everything it can under writeMu alone, then takes mu for a short swap.
	writeMu  sync.Mutex
	segCache map[segment.Segment][]uint32 // per immutable segment; writer-owned

	// mu guards the searched state: the columns, the pinned snapshot and its
	// segment views. Searches hold it shared for their whole run, so the
	// text matches and the columns always belong to the same write.
	mu     sync.RWMutex
	cols   *columns
	snap   *scorch.IndexSnapshot
	segs   []segView
	vis    atomic.Pointer[visibility]
	closed bool

	stop chan struct{}
	done chan struct{}

	catWords categoryWords // which category nodes each word names (text.go)

	building atomic.Bool // an order rebuild is running
	// lastBuildEnd and lastBuildDur (UnixNano, ns) throttle the rebuilds:
	// see maybeRebuildOrders.
	lastBuildEnd, lastBuildDur atomic.Int64
	bulking                    bool           // Bulk runs: orders are rebuilt once at its end (writeMu)
	bg                         sync.WaitGroup // background rebuilds
}

var (
	_ query.Backend       = (*Index)(nil)
	_ query.CounterWriter = (*Index)(nil)
)

// metaFile records the options an index was created with.
const metaFile = "rummage_embedded.json"

type meta struct {
	Format              int  `json:"format"`
	BaselineFacetFields bool `json:"baseline_facet_fields"`
}

// Open opens the generation in use of the index configured at cfg.Dir,
// creating the index when missing. Reopening reads
// the column part of every stored record (not the JSON) to rebuild the
// in-memory columns; nothing is reindexed.
func Open(ctx context.Context, cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	active, err := ActiveDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = active
	x := &Index{cfg: cfg, aliases: cfg.Aliases, segCache: map[segment.Segment][]uint32{}, cols: newColumns(),
		stop: make(chan struct{}), done: make(chan struct{})}

	metaPath := filepath.Join(cfg.Dir, metaFile)
	var md meta
	b, err := os.ReadFile(metaPath)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &md); err != nil || md.Format != 1 {
			return nil, fmt.Errorf("embedded: %s: unknown index format", metaPath)
		}
		if cfg.BaselineFacetFields && !md.BaselineFacetFields {
			return nil, fmt.Errorf("embedded: index in %s was built without baseline facet fields; rebuild it", cfg.Dir)
		}
		x.baseline = md.BaselineFacetFields
		x.bi, err = bleve.OpenUsing(cfg.Dir, scorchConfig())
		if err != nil {
			return nil, fmt.Errorf("embedded: open %s: %w", cfg.Dir, err)
		}
		m, ok := x.bi.Mapping().(*mapping.IndexMappingImpl)
		if !ok {
			x.bi.Close()
			return nil, fmt.Errorf("embedded: %s: unexpected mapping type", cfg.Dir)
		}
		x.m = m
	case errors.Is(err, os.ErrNotExist):
		if entries, err := os.ReadDir(cfg.Dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("embedded: %s is not empty and holds no index", cfg.Dir)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(cfg.Dir)), 0o755); err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		_ = os.Remove(cfg.Dir) // bleve wants to create the directory itself
		x.baseline = cfg.BaselineFacetFields
		if x.m, err = newMapping(x.baseline); err != nil {
			return nil, err
		}
		x.bi, err = bleve.NewUsing(cfg.Dir, x.m, scorch.Name, scorch.Name, scorchConfig())
		if err != nil {
			return nil, fmt.Errorf("embedded: create %s: %w", cfg.Dir, err)
		}
		md = meta{Format: 1, BaselineFacetFields: x.baseline}
		b, _ := json.Marshal(md)
		if err := atomicfile.Write(metaPath, b, 0o644); err != nil {
			x.bi.Close()
			return nil, fmt.Errorf("embedded: %w", err)
		}
	default:
		return nil, fmt.Errorf("embedded: %w", err)
	}
	if x.an, err = newAnalyzers(x.m); err != nil {
		x.bi.Close()
		return nil, err
	}
	if err := x.load(ctx); err != nil {
		x.bi.Close()
		return nil, err
	}
	go x.refreshLoop()
	x.loaded()
	return x, nil
}

func scorchConfig() map[string]any {
	// unsafe_batch stays false: Batch returns only once the segment and the
	// root are on disk (fsync), which is what Apply promises.
	return map[string]any{"unsafe_batch": false}
}

// snapshot returns a new reference to Bleve's current snapshot.
func (x *Index) snapshot() (*scorch.IndexSnapshot, error) {
	adv, err := x.bi.Advanced()
	if err != nil {
		return nil, err
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, err
	}
	s, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		r.Close()
		return nil, fmt.Errorf("embedded: unexpected reader %T", r)
	}
	return s, nil
}

// loadChunk is a run of documents of one segment, decoded by a worker.
type loadChunk struct {
	ss       *scorch.SegmentSnapshot
	from, to uint64
	ids      []string
	recs     []colRecord
	err      error
	done     chan struct{}
}

func (ch *loadChunk) decode() {
	defer close(ch.done)
	del := ch.ss.Deleted()
	for i := ch.from; i < ch.to; i++ {
		if del != nil && del.Contains(uint32(i)) {
			continue
		}
		id, err := ch.ss.DocID(i)
		if err != nil {
			ch.err = err
			return
		}
		var rec colRecord
		var derr error
		found := false
		err = ch.ss.VisitDocument(i, func(field string, _ byte, value []byte, _ []uint64) bool {
			if field == fStored {
				rec, _, derr = decodeHeader(value)
				found = true
				return false
			}
			return true
		})
		if err == nil && derr == nil && !found {
			derr = errCorrupt
		}
		if err != nil || derr != nil {
			ch.err = fmt.Errorf("document %q: %w", id, errors.Join(err, derr))
			return
		}
		ch.ids = append(ch.ids, string(id))
		ch.recs = append(ch.recs, rec)
	}
}

// load rebuilds the columns from the stored records of an opened index:
// workers decode record headers chunk by chunk, and the columns take them
// in order.
func (x *Index) load(ctx context.Context) error {
	snap, err := x.snapshot()
	if err != nil {
		return err
	}
	start := time.Now()
	total := 0
	const chunkDocs = 32 << 10
	var chunks []*loadChunk
	for _, ss := range snap.Segments() {
		total += int(ss.LiveSize())
		n := uint64(ss.FullSize())
		for from := uint64(0); from < n; from += chunkDocs {
			chunks = append(chunks, &loadChunk{ss: ss, from: from, to: min(from+chunkDocs, n), done: make(chan struct{})})
		}
	}
	x.cols.reserve(total)
	// Workers take chunks in order; at most 2×workers are decoded ahead of
	// the columns, which bounds memory.
	workers := max(runtime.GOMAXPROCS(0), 1)
	sem := make(chan struct{}, 2*workers)
	next := make(chan *loadChunk)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range next {
				ch.decode()
			}
		}()
	}
	go func() {
		defer close(next)
		for _, ch := range chunks {
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case next <- ch:
			case <-stop:
				return
			}
		}
	}()
	finish := func(err error) error {
		close(stop)
		wg.Wait()
		if err != nil {
			snap.Close()
		}
		return err
	}
	c := x.cols
	done, reported := 0, 0
	for _, ch := range chunks {
		<-ch.done
		<-sem
		if ch.err != nil {
			return finish(fmt.Errorf("embedded: load: %w", ch.err))
		}
		for i := range ch.ids {
			c.set(c.ordinal(ch.ids[i]), &ch.recs[i])
		}
		done += len(ch.ids)
		ch.ids, ch.recs = nil, nil
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		if x.cfg.Progress != nil && done-reported >= 100000 {
			reported = done
			x.cfg.Progress(Progress{Phase: "load", Done: done, Total: total, Elapsed: time.Since(start)})
		}
	}
	finish(nil)
	if x.cfg.Progress != nil {
		x.cfg.Progress(Progress{Phase: "load", Done: done, Total: total, Elapsed: time.Since(start)})
	}
	x.snap, x.segs = snap, x.views(snap)
	return nil
}

// loaded is called once Open has loaded the columns.
func (x *Index) loaded() { x.maybeRebuildOrders() }

// views returns the segment views of snap, building the ordinal map of any
// segment not seen before. Writer-side (writeMu held, or during Open).
func (x *Index) views(snap *scorch.IndexSnapshot) []segView {
	var off uint64
	segs := make([]segView, 0, len(snap.Segments()))
	keep := make(map[segment.Segment]bool, len(snap.Segments()))
	for _, ss := range snap.Segments() {
		seg := ss.Segment()
		ords, ok := x.segCache[seg]
		if !ok {
			ords = x.buildOrds(ss)
			x.segCache[seg] = ords
		}
		keep[seg] = true
		segs = append(segs, segView{offset: off, ords: ords})
		off += uint64(ss.FullSize())
	}
	for seg := range x.segCache {
		if !keep[seg] {
			delete(x.segCache, seg)
		}
	}
	return segs
}

// buildOrds maps every document of a segment to its ordinal. Zap keeps the
// _id of a document uncompressed at the front of its stored fields, so this
// is a slice read and a map lookup per document, paid once per segment
// instead of once per hit.
func (x *Index) buildOrds(ss *scorch.SegmentSnapshot) []uint32 {
	n := ss.FullSize()
	ords := make([]uint32, n)
	for i := range ords {
		id, err := ss.DocID(uint64(i))
		o, ok := x.cols.ids.lookupBytes(id)
		if err != nil || !ok {
			o = noOrd
		}
		ords[i] = o
	}
	return ords
}

// swap installs a new snapshot (and whatever column updates f makes) for
// searches, then releases the old snapshot. Writer-side.
func (x *Index) swap(snap *scorch.IndexSnapshot, f func(c *columns)) {
	segs := x.views(snap)
	x.mu.Lock()
	old := x.snap
	x.snap, x.segs = snap, segs
	if f != nil {
		f(x.cols)
		x.cols.gen.Add(1)
	}
	x.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if f != nil && !x.bulking {
		x.maybeRebuildOrders()
	}
}

// Orders are worth having from this many listings on, and are rebuilt once
// more than 1/orderDirtyFraction of the listings were written since.
const (
	minOrdered         = 4096
	orderDirtyFraction = 32
	orderRebuildRest   = 2
)

// maybeRebuildOrders starts a background rebuild of the presorted orders
// when there are none or too many listings changed since. The sort columns
// are copied under the lock (a few ms at 1M); sorting runs outside it.
func (x *Index) maybeRebuildOrders() {
	x.mu.RLock()
	n := x.cols.ids.len()
	first := x.cols.ord == nil
	need := n >= minOrdered && (first || x.cols.dirty.GetCardinality() > uint64(n/orderDirtyFraction))
	x.mu.RUnlock()
	// While listings stream in fast (an initial load through Apply), every
	// write would start a rebuild as soon as the last one ended, sorting
	// all listings back to back on a core the writes need. Wait at least
	// orderRebuildRest times the last rebuild's duration after it: the
	// rebuilds then take at most 1/(1+orderRebuildRest) of a core. Searches
	// stay correct meanwhile (they merge the dirty listings in, or sort).
	if !first && time.Now().UnixNano()-x.lastBuildEnd.Load() < orderRebuildRest*x.lastBuildDur.Load() {
		return
	}
	if !need || !x.building.CompareAndSwap(false, true) {
		return
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		x.building.Store(false)
		return
	}
	src := x.cols.orderSource()
	x.cols.pendingDirty = roaring.New()
	x.mu.Unlock()
	x.bg.Add(1)
	go func() {
		defer x.bg.Done()
		defer x.building.Store(false)
		start := time.Now()
		o := buildOrders(src)
		end := time.Now()
		x.lastBuildDur.Store(int64(end.Sub(start)))
		x.lastBuildEnd.Store(end.UnixNano())
		x.mu.Lock()
		x.cols.ord, x.cols.dirty, x.cols.pendingDirty = o, x.cols.pendingDirty, nil
		x.mu.Unlock()
	}()
}

func (x *Index) refreshLoop() {
	defer close(x.done)
	t := time.NewTicker(x.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-t.C:
			x.refresh()
		}
	}
}

// refresh takes in segments merged since the last write, so that searches
// stop pinning the old ones and new big segments are mapped off the query
// path.
func (x *Index) refresh() {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return
	}
	// A rebuild the throttle put off is started here once it may run,
	// also when no more writes come.
	x.maybeRebuildOrders()
	_ = x.installLatest() // a failed install is retried at the next tick
}

// installLatest installs Bleve's current snapshot for searches, unless it
// has the segments of the installed one. Writer-side.
func (x *Index) installLatest() error {
	snap, err := x.snapshot()
	if err != nil {
		return fmt.Errorf("embedded: install the merged segments: %w", err)
	}
	if sameSegments(snap, x.snap) {
		snap.Close()
		return nil
	}
	x.swap(snap, nil)
	return nil
}

func sameSegments(a, b *scorch.IndexSnapshot) bool {
	as, bs := a.Segments(), b.Segments()
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i].Segment() != bs[i].Segment() || as[i].LiveSize() != bs[i].LiveSize() {
			return false
		}
	}
	return true
}

// Close releases the index. Writes that returned are on disk already.
func (x *Index) Close() error {
	x.writeMu.Lock()
	if x.closed {
		x.writeMu.Unlock()
		return nil
	}
	x.mu.Lock()
	x.closed = true
	snap := x.snap
	x.snap = nil
	x.mu.Unlock()
	x.writeMu.Unlock()
	close(x.stop)
	<-x.done
	x.bg.Wait()
	if snap != nil {
		snap.Close()
	}
	return x.bi.Close()
}

// Stats reports the live documents, any status.
func (x *Index) Stats(ctx context.Context) (query.Stats, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return query.Stats{}, ErrClosed
	}
	return query.Stats{Documents: int64(x.cols.live)}, nil
}

// Get returns a listing whatever its status.
func (x *Index) Get(ctx context.Context, id string) (*rummage.Listing, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	o, ok := x.cols.ids.lookup(id)
	if !ok || x.cols.deleted[o] {
		return nil, query.ErrNotFound
	}
	ls, err := x.loadDocs(x.snap, []string{id})
	if err != nil {
		return nil, err
	}
	return &ls[0], nil
}

// Load returns the listings of ids, nil for one the index does not hold;
// see query.Loader.
func (x *Index) Load(ctx context.Context, ids []string) ([]*rummage.Listing, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	out := make([]*rummage.Listing, len(ids))
	held := make([]string, 0, len(ids))
	for _, id := range ids {
		if o, ok := x.cols.ids.lookup(id); ok && !x.cols.deleted[o] {
			held = append(held, id)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	docs, err := x.loadDocs(x.snap, held)
	if err != nil {
		return nil, err
	}
	j := 0
	for i, id := range ids {
		if j < len(held) && held[j] == id {
			out[i] = &docs[j]
			j++
		}
	}
	return out, nil
}

// loadDocs reads listings from their stored records.
func (x *Index) loadDocs(snap *scorch.IndexSnapshot, ids []string) ([]rummage.Listing, error) {
	out := make([]rummage.Listing, len(ids))
	for i, id := range ids {
		d, err := snap.Document(id)
		if err != nil {
			return nil, fmt.Errorf("embedded: load %q: %w", id, err)
		}
		var rec []byte
		if d != nil {
			d.VisitFields(func(f index.Field) {
				if f.Name() == fStored {
					rec = f.Value()
				}
			})
		}
		if out[i], err = storedListing(id, rec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// storedListing decodes the stored record of a document the columns hold as
// live: a missing record or a tombstone is corruption.
func storedListing(id string, rec []byte) (rummage.Listing, error) {
	if rec == nil {
		return rummage.Listing{}, fmt.Errorf("embedded: load %q: %w", id, errCorrupt)
	}
	l, _, ok, err := decodeListing(id, rec)
	if err != nil {
		return rummage.Listing{}, fmt.Errorf("embedded: load %q: %w", id, err)
	}
	if !ok {
		return rummage.Listing{}, fmt.Errorf("embedded: load %q: %w (tombstone)", id, errCorrupt)
	}
	return *l, nil
}

// loadDocsAt is loadDocs for documents whose global doc numbers in snap
// are known (text hits): it reads each record from its segment directly,
// skipping the _id lookup in every segment that Document makes. A
// document whose number does not hold its id is read by id.
func (x *Index) loadDocsAt(snap *scorch.IndexSnapshot, segs []segView, ids []string, docs []uint64) ([]rummage.Listing, error) {
	ss := snap.Segments()
	out := make([]rummage.Listing, len(ids))
	for i, id := range ids {
		si := sort.Search(len(segs), func(k int) bool { return segs[k].offset > docs[i] }) - 1
		var rec []byte
		if si >= 0 && si < len(ss) {
			local := docs[i] - segs[si].offset
			if got, err := ss[si].DocID(local); err == nil && string(got) == id {
				_ = ss[si].VisitDocument(local, func(field string, _ byte, value []byte, _ []uint64) bool {
					if field == fStored {
						rec = bytes.Clone(value)
						return false
					}
					return true
				})
			}
		}
		if rec == nil {
			l, err := x.loadDocs(snap, []string{id})
			if err != nil {
				return nil, err
			}
			out[i] = l[0]
			continue
		}
		var err error
		if out[i], err = storedListing(id, rec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Apply writes a batch of versioned changes; see query.Backend.
func (x *Index) Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	return x.applyLocked(ctx, batch)
}

// ApplyCounters is query.CounterWriter: each held listing whose counters
// differ is written again, whole, at the version it holds (an equal
// version applies), so that the counters are durable with its record.
func (x *Index) ApplyCounters(ctx context.Context, cs []query.Counters) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return ErrClosed
	}
	want := make(map[string]query.Counters, len(cs))
	for _, c := range cs {
		want[c.ID] = c
	}
	ids := make([]string, 0, len(want))
	var vers []uint64
	x.mu.RLock()
	for id := range want {
		if o, ok := x.cols.ids.lookup(id); ok && !x.cols.deleted[o] {
			ids = append(ids, id)
			vers = append(vers, x.cols.version[o])
		}
	}
	docs, err := x.loadDocs(x.snap, ids) // the writer's snapshot: publish installs every write
	x.mu.RUnlock()
	if err != nil {
		return err
	}
	var batch []query.Change
	for i := range docs {
		if want[ids[i]].Set(&docs[i]) {
			batch = append(batch, query.Change{ID: ids[i], Version: vers[i], Doc: &docs[i]})
		}
	}
	_, err = x.applyLocked(ctx, batch)
	return err
}

type prepared struct {
	id      string
	ord     uint32 // set by assignOrdinals
	rec     colRecord
	doc     *document.Document
	listing *rummage.Listing
}

func (x *Index) applyLocked(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	var st query.ApplyStats
	if x.closed {
		return st, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	idx, stale, err := x.plan(batch, x.held)
	st.Stale = stale
	if err != nil || len(idx) == 0 {
		return st, err
	}
	preps := make([]prepared, len(idx))
	if err := x.prepare(batch, idx, preps); err != nil {
		return query.ApplyStats{}, err
	}
	x.assignOrdinals(preps)
	if err := x.writeBleve(preps); err != nil {
		return query.ApplyStats{}, err
	}
	if err := x.publish(preps); err != nil {
		return query.ApplyStats{}, err
	}
	st.Written = len(preps)
	return st, nil
}

// held returns the version held for id: of its document or of its
// tombstone. Writer-side.
func (x *Index) held(id string) (uint64, bool) {
	c := x.cols
	o, ok := c.ids.lookup(id)
	if !ok || (c.deleted[o] && c.version[o] == 0) {
		return 0, false // unknown, or an ordinal whose write never landed
	}
	return c.version[o], true
}

// plan validates a batch and returns the indexes of the changes that take
// effect: per id, the highest version in the batch (among equals, the
// later one: stream order decides), unless it is below the version held;
// an equal version applies. The others are counted stale. On error nothing
// may be written.
func (x *Index) plan(batch []query.Change, held func(string) (uint64, bool)) (idx []int, stale int, err error) {
	for i := range batch {
		ch := &batch[i]
		if ch.ID == "" {
			return nil, 0, fmt.Errorf("embedded: change %d: empty id", i)
		}
		if ch.Delete {
			continue
		}
		if ch.Doc == nil {
			return nil, 0, fmt.Errorf("embedded: change %d (%s): upsert without a document", i, ch.ID)
		}
		if ch.Doc.ID != ch.ID {
			return nil, 0, fmt.Errorf("embedded: change %d: id %q but document id %q", i, ch.ID, ch.Doc.ID)
		}
		if err := ch.Doc.Validate(); err != nil {
			return nil, 0, fmt.Errorf("embedded: change %d (%s): %w", i, ch.ID, err)
		}
	}
	win := make(map[string]int, len(batch))
	for i := range batch {
		ch := &batch[i]
		if v, ok := held(ch.ID); ok && ch.Version < v {
			stale++
			continue
		}
		if j, ok := win[ch.ID]; ok {
			stale++
			if batch[j].Version > ch.Version {
				continue
			}
		}
		win[ch.ID] = i
	}
	idx = make([]int, 0, len(win))
	for i := range batch {
		if j, ok := win[batch[i].ID]; ok && j == i {
			idx = append(idx, i)
		}
	}
	return idx, stale, nil
}

// assignOrdinals gives new ids their ordinals before the write, so that the
// segment it makes can be mapped; an ordinal is invisible to searches until
// its columns are set.
func (x *Index) assignOrdinals(preps []prepared) {
	x.mu.Lock()
	for i := range preps {
		preps[i].ord = x.cols.ordinal(preps[i].id)
	}
	x.mu.Unlock()
}

// writeBleve writes the documents in one Bleve batch, durably.
func (x *Index) writeBleve(preps []prepared) error {
	b := x.bi.NewBatch()
	for i := range preps {
		if err := b.IndexAdvanced(preps[i].doc); err != nil {
			return fmt.Errorf("embedded: batch %s: %w", preps[i].id, err)
		}
	}
	if err := x.bi.Batch(b); err != nil {
		return fmt.Errorf("embedded: write batch: %w", err)
	}
	return nil
}

// publish sets the columns of written documents and installs Bleve's
// current snapshot, in one step for searches.
func (x *Index) publish(preps []prepared) error {
	snap, err := x.snapshot()
	if err != nil {
		return fmt.Errorf("embedded: batch written, but no snapshot: %w", err)
	}
	x.swap(snap, func(c *columns) {
		for i := range preps {
			c.set(preps[i].ord, &preps[i].rec)
		}
	})
	return nil
}

// prepare encodes the documents of batch[idx[i]] into preps[i], in
// parallel for large batches (JSON encoding is most of the CPU of a write
// outside Bleve).
func (x *Index) prepare(batch []query.Change, idx []int, preps []prepared) error {
	workers := 1
	if len(idx) >= 1000 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	chunk := (len(idx) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(idx))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				ch := &batch[idx[i]]
				var l *rummage.Listing
				if !ch.Delete {
					l = ch.Doc
				}
				d, err := buildDoc(ch.ID, l, ch.Version, &x.an, x.baseline)
				if err != nil {
					errs[w] = err
					return
				}
				p := &preps[i] // p.ord may be set already: Bulk assigns ordinals first
				p.id, p.doc, p.listing = ch.ID, d, l
				if l == nil {
					p.rec = colRecord{version: ch.Version, deleted: true}
				} else {
					p.rec = recordOf(l, ch.Version)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Bulk applies the changes next yields until it returns io.EOF, in batches
// of Config.BulkBatch, with the same version rules as Apply; use it to build
// or rebuild big indexes. Two batches are in flight at once (documents of
// one are analyzed and written while the other's segment is persisted), and
// each batch is published when written, in order. When everything is
// written, the index is merged into one segment (see mergeAll). Writes from
// Apply wait until Bulk returns. On error, the batches published before it
// stay.
func (x *Index) Bulk(ctx context.Context, next func() (query.Change, error)) (query.ApplyStats, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	var total query.ApplyStats
	if x.closed {
		return total, ErrClosed
	}
	start := time.Now()
	x.bulking = true
	defer func() {
		x.bulking = false
		x.maybeRebuildOrders()
	}()
	type chunk struct {
		preps []prepared
		err   error
		done  chan struct{}
	}
	// Versions of ids in batches not yet published.
	pending := map[string]uint64{}
	held := func(id string) (uint64, bool) {
		if v, ok := pending[id]; ok {
			return v, true
		}
		return x.held(id)
	}
	var inflight []*chunk
	finish := func() error {
		ch := inflight[0]
		inflight = inflight[1:]
		<-ch.done
		if ch.err != nil {
			return ch.err
		}
		if err := x.publish(ch.preps); err != nil {
			return err
		}
		for i := range ch.preps {
			if pending[ch.preps[i].id] == ch.preps[i].rec.version {
				delete(pending, ch.preps[i].id)
			}
		}
		total.Written += len(ch.preps)
		if x.cfg.Progress != nil {
			x.cfg.Progress(Progress{Phase: "bulk", Done: total.Written + total.Stale, Elapsed: time.Since(start)})
		}
		return nil
	}
	drain := func(err error) (query.ApplyStats, error) {
		for len(inflight) > 0 {
			if ferr := finish(); err == nil {
				err = ferr
			}
		}
		return total, err
	}
	eof := false
	for !eof {
		if err := ctx.Err(); err != nil {
			return drain(err)
		}
		batch := make([]query.Change, 0, x.cfg.BulkBatch)
		for len(batch) < x.cfg.BulkBatch {
			ch, err := next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return drain(err)
			}
			batch = append(batch, ch)
		}
		idx, stale, err := x.plan(batch, held)
		if err != nil {
			return drain(err)
		}
		total.Stale += stale
		if len(idx) == 0 {
			continue
		}
		ch := &chunk{preps: make([]prepared, len(idx)), done: make(chan struct{})}
		for _, i := range idx {
			pending[batch[i].ID] = batch[i].Version
		}
		// prepare fills preps before ordinals are needed; ids are known now.
		for j, i := range idx {
			ch.preps[j].id = batch[i].ID
		}
		x.assignOrdinals(ch.preps)
		go func() {
			defer close(ch.done)
			if ch.err = x.prepare(batch, idx, ch.preps); ch.err == nil {
				ch.err = x.writeBleve(ch.preps)
			}
		}()
		inflight = append(inflight, ch)
		if len(inflight) >= 2 {
			if err := finish(); err != nil {
				return drain(err)
			}
		}
	}
	st, err := drain(nil)
	if err != nil || st.Written == 0 {
		return st, err
	}
	if x.cfg.Progress != nil {
		x.cfg.Progress(Progress{Phase: "merge", Done: st.Written + st.Stale, Elapsed: time.Since(start)})
	}
	return st, x.mergeAll(ctx)
}

// Compact merges the index into one segment and installs it, as Bulk does
// at its end: for after a large load through Apply, such as the CDC's
// initial snapshot or a reindex's backfill. Writes go on meanwhile (Bleve
// merges beside them), so with a steady stream the result may be a few
// segments rather than one.
func (x *Index) Compact(ctx context.Context) error {
	x.writeMu.Lock()
	closed := x.closed
	x.writeMu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := x.forceMerge(ctx); err != nil {
		return err
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if x.closed {
		return ErrClosed
	}
	return x.installLatest()
}

// mergeAll merges the index into one segment (Bleve's single-segment merge
// plan) and installs it for searches. A bulk load leaves about twenty
// segments per million listings, and a text query looks up every word, and
// walks every typo automaton, in each segment's dictionaries: on one
// segment the text p99 at 1M listings went from 10.5 to 6.5 ms, for a 4.4 s
// merge after a 39 s build. Writer-side.
func (x *Index) mergeAll(ctx context.Context) error {
	if err := x.forceMerge(ctx); err != nil {
		return err
	}
	return x.installLatest()
}

// forceMerge runs Bleve's single-segment merge plan until one segment is
// left (or four passes ran). It may run beside writers.
func (x *Index) forceMerge(ctx context.Context) error {
	adv, err := x.bi.Advanced()
	if err != nil {
		return fmt.Errorf("embedded: merge: %w", err)
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	// One pass merges up to ten segments a task, so twenty segments take two.
	for pass := 0; pass < 4 && x.segments(s) > 1; pass++ {
		if err := s.ForceMerge(ctx, nil); err != nil {
			return fmt.Errorf("embedded: merge: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err // ForceMerge gives up quietly when ctx ends
		}
	}
	return nil
}

// segments returns the number of segments in Bleve's current snapshot.
func (x *Index) segments(s *scorch.Scorch) int {
	r, err := s.Reader()
	if err != nil {
		return 0
	}
	defer r.Close()
	if snap, ok := r.(*scorch.IndexSnapshot); ok {
		return len(snap.Segments())
	}
	return 0
}
