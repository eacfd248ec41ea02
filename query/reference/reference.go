package reference

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// Engine is the brute-force backend. It implements query.Backend and is
// safe for concurrent use; writes are not durable beyond the process.
type Engine struct {
	aliases query.Aliases
	an      analyzers

	mu   sync.RWMutex
	held map[string]*held // by id: documents and tombstones
	// firstPath is the first-seen spelling of every category path (lower
	// case → as written): when paths differ only in case, the category
	// facet lists the children of the spelling seen first.
	firstPath map[string]string
}

var (
	_ query.Backend       = (*Engine)(nil)
	_ query.CounterWriter = (*Engine)(nil)
)

// held is what the engine holds for one id: the version of its last applied
// change, and the listing unless that change was a delete.
type held struct {
	version uint64
	doc     *doc // nil: a tombstone
}

// doc is a listing with what the scan compares, computed once at Apply.
type doc struct {
	l *rummage.Listing

	brandLower, sizeLower string
	colorsLower           []string
	pathsLower            []string // every prefix of the category path, lower-cased, joined by "/"
	listedMs, sharedMs    int64    // sharedMs 0 when never shared
	availMs               int64    // 0 when not a drop
	hasAvail              bool

	text docText
}

// New returns an empty engine that expands queries with aliases (nil: no
// aliases).
func New(aliases query.Aliases) (*Engine, error) {
	an, err := newAnalyzers()
	if err != nil {
		return nil, err
	}
	return &Engine{aliases: aliases, an: an, held: map[string]*held{}, firstPath: map[string]string{}}, nil
}

func (e *Engine) newDoc(l *rummage.Listing) *doc {
	d := &doc{
		l:          l,
		brandLower: strings.ToLower(l.Brand),
		sizeLower:  strings.ToLower(l.Size),
		listedMs:   l.ListedAt().UnixMilli(),
		text:       e.an.docText(l),
	}
	for _, c := range l.Colors {
		d.colorsLower = append(d.colorsLower, strings.ToLower(c))
	}
	for i := range l.Category {
		d.pathsLower = append(d.pathsLower, strings.ToLower(strings.Join(l.Category[:i+1], "/")))
	}
	if l.LastSharedAt != nil {
		d.sharedMs = l.LastSharedAt.UnixMilli()
	}
	if l.AvailableAt != nil {
		d.availMs, d.hasAvail = l.AvailableAt.UnixMilli(), true
	}
	return d
}

// Apply applies the batch in order under the version rule of query.Change:
// a change below the version held for its id is stale; any other replaces
// what is held (a delete leaves a tombstone with its version). Per id, the
// change that is held at the end counts as written and every other change
// of the batch as stale. A malformed batch changes nothing.
func (e *Engine) Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	if err := ctx.Err(); err != nil {
		return query.ApplyStats{}, err
	}
	for i := range batch {
		if err := checkChange(&batch[i]); err != nil {
			return query.ApplyStats{}, fmt.Errorf("reference: change %d: %w", i, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	last := map[string]int{} // id → index of the change applied last
	for i := range batch {
		ch := &batch[i]
		if h, ok := e.held[ch.ID]; ok && ch.Version < h.version {
			continue
		}
		h := &held{version: ch.Version}
		if !ch.Delete {
			h.doc = e.newDoc(clone(ch.Doc))
		}
		e.held[ch.ID] = h
		last[ch.ID] = i
	}
	// Category spellings are first seen in the order of the changes that
	// took effect.
	for i := range batch {
		if j, ok := last[batch[i].ID]; ok && j == i && !batch[i].Delete {
			l := batch[i].Doc
			for k := range l.Category {
				p := strings.Join(l.Category[:k+1], "/")
				if _, seen := e.firstPath[strings.ToLower(p)]; !seen {
					e.firstPath[strings.ToLower(p)] = p
				}
			}
		}
	}
	return query.ApplyStats{Written: len(last), Stale: len(batch) - len(last)}, nil
}

// ApplyCounters is query.CounterWriter: the counters of held listings are
// replaced, their versions kept.
func (e *Engine) ApplyCounters(ctx context.Context, cs []query.Counters) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cs {
		h, ok := e.held[c.ID]
		if !ok || h.doc == nil {
			continue
		}
		l := clone(h.doc.l)
		if c.Set(l) {
			h.doc = e.newDoc(l)
		}
	}
	return nil
}

func checkChange(ch *query.Change) error {
	switch {
	case ch.ID == "":
		return fmt.Errorf("empty id")
	case ch.Delete:
		return nil
	case ch.Doc == nil:
		return fmt.Errorf("%s: upsert without a document", ch.ID)
	case ch.Doc.ID != ch.ID:
		return fmt.Errorf("id %q but document id %q", ch.ID, ch.Doc.ID)
	}
	if err := ch.Doc.Validate(); err != nil {
		return fmt.Errorf("%s: %w", ch.ID, err)
	}
	return nil
}

// Get returns a copy of the listing held for id, whatever its status.
func (e *Engine) Get(ctx context.Context, id string) (*rummage.Listing, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if h, ok := e.held[id]; ok && h.doc != nil {
		return clone(h.doc.l), nil
	}
	return nil, query.ErrNotFound
}

// Load returns a copy of the listing of each id, nil for one not held.
func (e *Engine) Load(ctx context.Context, ids []string) ([]*rummage.Listing, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*rummage.Listing, len(ids))
	for i, id := range ids {
		if h, ok := e.held[id]; ok && h.doc != nil {
			out[i] = clone(h.doc.l)
		}
	}
	return out, nil
}

// Stats counts the documents held, any status; tombstones are not
// documents.
func (e *Engine) Stats(ctx context.Context) (query.Stats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for _, h := range e.held {
		if h.doc != nil {
			n++
		}
	}
	return query.Stats{Documents: int64(n)}, nil
}

// docs returns the documents held, by id. Caller holds mu.
func (e *Engine) docs() []*doc {
	out := make([]*doc, 0, len(e.held))
	for _, h := range e.held {
		if h.doc != nil {
			out = append(out, h.doc)
		}
	}
	slices.SortFunc(out, func(a, b *doc) int { return strings.Compare(a.l.ID, b.l.ID) })
	return out
}

// clone copies a listing deeply enough that neither side sees the other's
// later changes.
func clone(l *rummage.Listing) *rummage.Listing {
	c := *l
	c.Category = slices.Clone(l.Category)
	c.Colors = slices.Clone(l.Colors)
	c.Tags = slices.Clone(l.Tags)
	c.Images = slices.Clone(l.Images)
	if l.AvailableAt != nil {
		t := *l.AvailableAt
		c.AvailableAt = &t
	}
	if l.LastSharedAt != nil {
		t := *l.LastSharedAt
		c.LastSharedAt = &t
	}
	return &c
}
