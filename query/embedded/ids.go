package embedded

import "context"

// idsChunk is how many ids IDs copies under the read lock at a time.
const idsChunk = 1024

// IDs calls fn with the id and version of every live document (tombstones
// are left out), in no particular order, until fn returns an error, which
// IDs returns. It holds the state lock only while copying a chunk of ids,
// never while fn runs, so fn may call Get; documents written meanwhile may
// or may not be seen. rummage reconcile uses it to find documents whose rows
// are gone from Postgres.
func (x *Index) IDs(ctx context.Context, fn func(id string, version uint64) error) error {
	type entry struct {
		id      string
		version uint64
	}
	buf := make([]entry, 0, idsChunk)
	for next := 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		x.mu.RLock()
		if x.closed {
			x.mu.RUnlock()
			return ErrClosed
		}
		c := x.cols
		n := c.ids.len()
		for ; next < n && len(buf) < idsChunk; next++ {
			if !c.deleted[next] {
				buf = append(buf, entry{c.ids.str(uint32(next)), c.version[next]})
			}
		}
		x.mu.RUnlock()
		for _, e := range buf {
			if err := fn(e.id, e.version); err != nil {
				return err
			}
		}
		if next >= n {
			return nil
		}
	}
}
