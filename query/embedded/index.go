package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	segment "github.com/blevesearch/scorch_segment_api/v2"

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
	mu   sync.RWMutex
	cols *columns
	snap *scorch.IndexSnapshot
	segs []segView
	vis  atomic.Pointer[visibility]
	// restricted caches long restrictions by ids (restrictcache.go).
	restricted restrictCache
	sellersBM  sellerCache
	closed     bool

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
