package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Limits of one POST /v1/events.
const (
	// MaxBatch is the most events one request carries.
	MaxBatch = 100
	// MaxBody is the most bytes of one request's body.
	MaxBody = 256 << 10
)

// ErrMalformed is a body that is not {"events": [...]}: the whole request
// is refused (400).
var ErrMalformed = errors.New("malformed events body")

// ErrTooMany is a batch over MaxBatch: the whole request is refused (400).
var ErrTooMany = errors.New("too many events")

// Rejection is one event a batch refused: its index in the request and why.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Batch is a parsed request: the valid events (in request order) with
// their indexes, and the rejected ones.
type Batch struct {
	Events   []Event
	Indexes  []int // Indexes[i] is Events[i]'s index in the request
	Rejected []Rejection
}

// Reject moves Events[i] to Rejected (the API's own checks: the user).
func (b *Batch) Reject(i int, err error) {
	b.Rejected = append(b.Rejected, Rejection{Index: b.Indexes[i], Error: err.Error()})
	b.Events[i].Type = ""
}

// Compact drops the events Reject refused and orders Rejected by index.
func (b *Batch) Compact() {
	n := 0
	for i := range b.Events {
		if b.Events[i].Type != "" {
			b.Events[n], b.Indexes[n] = b.Events[i], b.Indexes[i]
			n++
		}
	}
	b.Events, b.Indexes = b.Events[:n], b.Indexes[:n]
	sortRejections(b.Rejected)
}

func sortRejections(r []Rejection) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Index < r[j-1].Index; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// clientEvent is what a client may send: the server's own fields
// (variant, the impression's) are unknown fields, refused.
type clientEvent struct {
	Type      Type      `json:"type"`
	User      string    `json:"user"`
	ListingID string    `json:"listing_id"`
	QueryID   string    `json:"query_id"`
	Position  int       `json:"position"`
	Surface   string    `json:"surface"`
	PartyID   string    `json:"party_id"`
	At        time.Time `json:"at"`
}

// ParseBatch parses and validates a POST /v1/events body at server time
// now. A body that is not {"events": [...]} is ErrMalformed, more than max
// events ErrTooMany; each event that does not decode or validate is
// rejected alone. Events without "at" get now.
func ParseBatch(body []byte, max int, now time.Time) (*Batch, error) {
	var env struct {
		Events []json.RawMessage `json:"events"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	if env.Events == nil {
		return nil, fmt.Errorf("%w: want {\"events\": [...]}", ErrMalformed)
	}
	if len(env.Events) > max {
		return nil, fmt.Errorf("%w: %d events, at most %d per request", ErrTooMany, len(env.Events), max)
	}
	b := &Batch{Events: make([]Event, 0, len(env.Events)), Indexes: make([]int, 0, len(env.Events))}
	for i, raw := range env.Events {
		var ce clientEvent
		ed := json.NewDecoder(bytes.NewReader(raw))
		ed.DisallowUnknownFields()
		if err := ed.Decode(&ce); err != nil {
			b.Rejected = append(b.Rejected, Rejection{Index: i, Error: fmt.Sprintf("%v: %v", ErrInvalid, err)})
			continue
		}
		e := Event{Type: ce.Type, User: ce.User, ListingID: ce.ListingID, QueryID: ce.QueryID, Position: ce.Position,
			Surface: ce.Surface, PartyID: ce.PartyID, At: ce.At}
		if err := e.ValidateClient(now); err != nil {
			b.Rejected = append(b.Rejected, Rejection{Index: i, Error: err.Error()})
			continue
		}
		if e.At.IsZero() {
			e.At = now
		}
		e.At = e.At.UTC()
		b.Events = append(b.Events, e)
		b.Indexes = append(b.Indexes, i)
	}
	return b, nil
}
