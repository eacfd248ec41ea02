package embedded

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

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
