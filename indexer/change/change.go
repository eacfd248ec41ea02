package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Op is the kind of change, as Debezium spells it.
type Op string

// The operations. A truncate ("t") has neither before nor after; it means
// "every row of the table with a version below source.lsn is gone".
const (
	OpCreate   Op = "c"
	OpUpdate   Op = "u"
	OpDelete   Op = "d"
	OpRead     Op = "r" // a row of the initial (or reindex) snapshot
	OpTruncate Op = "t"
)

// Valid reports whether o is one of the five operations.
func (o Op) Valid() bool {
	switch o {
	case OpCreate, OpUpdate, OpDelete, OpRead, OpTruncate:
		return true
	}
	return false
}

// Snapshot says whether an event comes from a snapshot. Debezium writes it as
// a string ("true", "last", "false", and in newer versions "first",
// "incremental", ...); old versions wrote a boolean. Both decode.
type Snapshot string

// The snapshot markers this project writes.
const (
	SnapshotFalse Snapshot = "false"
	SnapshotTrue  Snapshot = "true"
	SnapshotLast  Snapshot = "last" // the last row of a snapshot
)

// UnmarshalJSON accepts a string, a boolean or null.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "null", "false":
		*s = SnapshotFalse
		return nil
	case "true":
		*s = SnapshotTrue
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("change: snapshot: %w", err)
	}
	*s = Snapshot(v)
	return nil
}

// InSnapshot reports whether the event belongs to a snapshot (any marker
// other than "false" or empty).
func (s Snapshot) InSnapshot() bool { return s != "" && s != SnapshotFalse }

// Source describes where an event comes from (Debezium's "source" block; the
// fields Debezium writes that Rummage does not use are ignored on decode).
type Source struct {
	Version   string   `json:"version"`   // "rummage" for events this project writes
	Connector string   `json:"connector"` // "postgresql"
	Name      string   `json:"name"`      // the topic prefix
	TsMs      int64    `json:"ts_ms"`     // commit time of the transaction (ms since epoch)
	Snapshot  Snapshot `json:"snapshot"`
	DB        string   `json:"db,omitempty"`
	Schema    string   `json:"schema"`
	Table     string   `json:"table"`
	TxID      int64    `json:"txId"`
	// LSN is the version of the event: the commit LSN of its transaction, or
	// the snapshot's consistent point for op "r".
	LSN uint64 `json:"lsn"`
	// Seq orders the events of one transaction (1, 2, ...); 0 for snapshot
	// rows and for producers that do not set it. See the package comment.
	Seq uint32 `json:"seq,omitempty"`
}

// Event is one change envelope. Before and After are JSON objects (column
// name → value) or nil (encoded as null). Key is the Kafka message key, the
// primary key as a JSON object ({"id":"l123"}); it is not part of the
// envelope value.
type Event struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Op     Op              `json:"op"`
	TsMs   int64           `json:"ts_ms"` // when the CDC processed the event
	Source Source          `json:"source"`

	Key json.RawMessage `json:"-"`
}

// Version is the event's version for downstream ordering: source.lsn.
func (e Event) Version() uint64 { return e.Source.LSN }

// Topic is the event's topic under prefix: <prefix>.<schema>.<table>.
func (e Event) Topic(prefix string) string { return Topic(prefix, e.Source.Schema, e.Source.Table) }

// DefaultTopicPrefix is the default topic prefix (source.name): topics are
// <prefix>.<schema>.<table>. Every role that names topics defaults to it.
const DefaultTopicPrefix = "rummage"

// Topic names the topic of a table: <prefix>.<schema>.<table>.
func Topic(prefix, schema, table string) string { return prefix + "." + schema + "." + table }

// Row returns After, or Before for a delete: the row the event is about.
func (e Event) Row() json.RawMessage {
	if e.Op == OpDelete || isNull(e.After) {
		return e.Before
	}
	return e.After
}

// Marshal encodes the envelope (the Kafka message value).
func (e Event) Marshal() ([]byte, error) {
	if !e.Op.Valid() {
		return nil, fmt.Errorf("%w: op %q", ErrInvalid, e.Op)
	}
	return json.Marshal(e)
}

// ErrInvalid marks an envelope that cannot be decoded or makes no sense; a
// consumer sends such a message to its dead-letter topic.
var ErrInvalid = errors.New("change: invalid event")

// Unmarshal decodes a message value and key into an Event. It accepts the
// plain envelope and Debezium's JSON-converter form with the schema wrapper
// ({"schema":{...},"payload":{...}}); a key with the wrapper is unwrapped too.
// A null value (a Kafka tombstone) yields ErrTombstone.
func Unmarshal(key, value []byte) (Event, error) {
	var e Event
	value = bytes.TrimSpace(value)
	if len(value) == 0 || string(value) == "null" {
		return e, ErrTombstone
	}
	payload, err := unwrap(value)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(payload, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !e.Op.Valid() {
		return e, fmt.Errorf("%w: op %q", ErrInvalid, e.Op)
	}
	if isNull(e.Before) {
		e.Before = nil
	}
	if isNull(e.After) {
		e.After = nil
	}
	switch e.Op {
	case OpCreate, OpRead, OpUpdate:
		if e.After == nil {
			return e, fmt.Errorf("%w: op %q without after", ErrInvalid, e.Op)
		}
	case OpDelete:
		if e.Before == nil {
			return e, fmt.Errorf("%w: delete without before", ErrInvalid)
		}
	}
	if k := bytes.TrimSpace(key); len(k) > 0 && string(k) != "null" {
		if k, err = unwrap(k); err != nil {
			return e, err
		}
		e.Key = append(json.RawMessage(nil), k...)
	}
	return e, nil
}

// ErrTombstone is returned for a message with a null value: Debezium follows
// every delete with one (for log compaction). It carries no change.
var ErrTombstone = errors.New("change: tombstone")

// unwrap returns payload when b is {"schema":...,"payload":...}, else b.
func unwrap(b []byte) ([]byte, error) {
	var w struct {
		Schema  json.RawMessage `json:"schema"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if w.Schema != nil && w.Payload != nil {
		return w.Payload, nil
	}
	return b, nil
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// FormatLSN prints an LSN the way Postgres does (16/B374D848).
func FormatLSN(lsn uint64) string {
	return strings.ToUpper(strconv.FormatUint(lsn>>32, 16) + "/" + strconv.FormatUint(lsn&0xffffffff, 16))
}
