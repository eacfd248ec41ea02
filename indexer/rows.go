package indexer

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/rummage/rummage/indexer/change"
)

// RowChange is a change to a row of a table other than listings (sellers,
// follows, likes, shares, parties). The index does not use these rows —
// like and share counters arrive on the listing row itself, kept by triggers
// in the same transaction — but the feed work that follows does.
type RowChange struct {
	Table   string
	Key     string // the primary key as compact JSON, e.g. {"follower_id":"u1","seller_id":"s2"}
	Version uint64 // source.lsn
	Op      change.Op
	Row     json.RawMessage // the row after the change; nil for a delete or truncate
}

// RowStore keeps the rows of the tables the feeds need. ApplyRows must be
// idempotent by version (redelivery after a crash replays rows) and durable
// when it returns nil, since the offsets are committed right after it. A
// truncate (Op "t", Key "") removes every row of the table with a lower
// version.
type RowStore interface {
	ApplyRows(ctx context.Context, rows []RowChange) error
}

// MemRowStore is an in-memory RowStore. It is NOT durable: after a restart it
// holds only what arrived since, while the committed offsets have moved on.
// It serves `rummage dev`, tests, and as the reference for the durable store
// the feed work will add; do not back a production feed with it.
type MemRowStore struct {
	mu       sync.RWMutex
	tables   map[string]map[string]memRow
	truncate map[string]uint64 // per table, the version of the last truncate
}

type memRow struct {
	version uint64
	row     json.RawMessage // nil: deleted (kept as a version tombstone)
}

// NewMemRowStore returns an empty store.
func NewMemRowStore() *MemRowStore {
	return &MemRowStore{tables: map[string]map[string]memRow{}, truncate: map[string]uint64{}}
}

// ApplyRows applies rows in order. A change older than the held version of
// its key, or than the table's last truncate, is ignored. Equal versions (one
// transaction touching a row twice) apply in order, so a replay from any
// committed offset ends at the transaction's last state.
func (s *MemRowStore) ApplyRows(_ context.Context, rows []RowChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		t := s.tables[r.Table]
		if t == nil {
			t = map[string]memRow{}
			s.tables[r.Table] = t
		}
		if r.Op == change.OpTruncate {
			if r.Version > s.truncate[r.Table] {
				s.truncate[r.Table] = r.Version
			}
			for k, v := range t {
				if v.version < r.Version {
					delete(t, k)
				}
			}
			continue
		}
		if r.Version < s.truncate[r.Table] {
			continue
		}
		if held, ok := t[r.Key]; ok && r.Version < held.version {
			continue
		}
		row := r.Row
		if r.Op == change.OpDelete {
			row = nil
		}
		t[r.Key] = memRow{version: r.Version, row: row}
	}
	return nil
}

// Get returns a live row of table by key.
func (s *MemRowStore) Get(table, key string) (json.RawMessage, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.tables[table][key]
	if !ok || r.row == nil {
		return nil, false
	}
	return r.row, true
}

// Len counts the live rows of table.
func (s *MemRowStore) Len(table string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, r := range s.tables[table] {
		if r.row != nil {
			n++
		}
	}
	return n
}
