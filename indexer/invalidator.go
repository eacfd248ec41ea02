package indexer

import (
	"context"
	"encoding/json"
)

// Invalidator hears what a batch changed once the listings are applied
// (searchable) and the rows stored, before the offsets are committed: the
// serving cache purges what depends on it. Invalidate is retried like a
// row store write until it succeeds, so every change reaches it at least
// once.
type Invalidator interface {
	Invalidate(ctx context.Context, changes []Changed) error
}

// Changed is one applied change: its table and its old and new rows as
// the stream carries them (JSON objects; nil when absent: a create has no
// old row, a delete no new one). Under REPLICA IDENTITY FULL an update has
// both, so that what depended on the old row is purged too.
type Changed struct {
	Table         string
	Before, After json.RawMessage
}
