package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

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
