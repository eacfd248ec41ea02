package indexer

import (
	"context"
	"time"

	"github.com/rummage/rummage/query"
)

// Message is one record of the change stream as the Source delivers it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	// HighWaterMark is the partition's end offset when the message was
	// fetched; HighWaterMark-Offset-1 is the lag behind it.
	HighWaterMark int64
	Key, Value    []byte
	Headers       []Header
	Time          time.Time
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Source is a partitioned, replayable stream of change messages with
// committed positions: a Kafka consumer group in production
// (indexer/kafkabus.Reader).
//
// Contract: Fetch blocks until at least one message is available (or ctx is
// done), then returns up to max messages, waiting at most wait for more; it
// returns a non-empty batch or an error, never both. Messages of one
// partition come in offset order. Commit records that every message up to and
// including the highest offset per partition among msgs is processed and
// returns nil only when the broker has acknowledged that. Messages that were
// fetched but not committed are delivered again after a restart or a
// rebalance, so the consumer must tolerate duplicates.
type Source interface {
	Fetch(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	Commit(ctx context.Context, msgs []Message) error
}

// DeadLetter is a message the pipeline gives up on, with why.
type DeadLetter struct {
	Message Message
	Reason  string // a stable code: one of the Reason* constants
	Err     string // human-readable detail
}

// Dead-letter reasons (the value of the rummage.dlq.reason header).
const (
	ReasonDecode              = "decode"               // not a change envelope
	ReasonTransform           = "transform"            // a listing row whose columns do not map to the document
	ReasonInvalid             = "invalid"              // the document fails rummage.Listing.Validate
	ReasonRejected            = "rejected"             // the backend rejected the change as invalid
	ReasonTruncateUnsupported = "truncate_unsupported" // a truncate of listings; see the package doc
)

// DeadLetterSink stores messages the pipeline gives up on (a dead-letter
// topic in production). Send returns nil only once every record is durably
// stored (acknowledged by the broker); on error the loop retries, and does not
// commit past the messages until it succeeds.
type DeadLetterSink interface {
	Send(ctx context.Context, letters []DeadLetter) error
}

// Applier is the part of query.Backend the indexer writes through. Apply is
// durable when it returns nil and idempotent by version; see query.Backend.
type Applier interface {
	Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error)
}
