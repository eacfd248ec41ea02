package query

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cursor is a position in a sorted result: the sort key and id of the last hit
// of a page. The next page holds the hits strictly after it in (key, id)
// order, so pages never repeat or skip a listing that did not change.
//
// Key holds the sort value: price in cents, a time in Unix milliseconds (0 for
// never shared), or for relevance the score as math.Float64bits. Request is
// the fingerprint of the query and filters the cursor was made for. At is the
// instant (Unix ms) the first page was evaluated at: later pages evaluate
// visibility and freshness at the same instant, so scores and the set of
// visible drops do not shift under the client while it pages.
type Cursor struct {
	Sort    Sort   `json:"s"`
	Key     int64  `json:"k"`
	ID      string `json:"i"`
	Request uint32 `json:"r"`
	At      int64  `json:"t"`
}

// MaxCursorBytes bounds an encoded cursor.
const MaxCursorBytes = 512

// ScoreKey stores a relevance score in a cursor key.
func ScoreKey(score float64) int64 { return int64(math.Float64bits(score)) }

// KeyScore reads a relevance score back from a cursor key.
func KeyScore(key int64) float64 { return math.Float64frombits(uint64(key)) }

// Encode returns the opaque, URL-safe form of the cursor.
func (c *Cursor) Encode() string {
	b, _ := json.Marshal(c) // cannot fail: plain fields
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses an opaque cursor. Any malformed input yields an
// *InvalidError; it never panics.
func DecodeCursor(s string) (*Cursor, error) {
	bad := func(why string) error { return invalid("invalid_cursor", "cursor", "malformed cursor: %s", why) }
	if len(s) > MaxCursorBytes {
		return nil, bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad("not base64url")
	}
	var c Cursor
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, bad("not a cursor")
	}
	if !validSort(c.Sort) {
		return nil, bad("unknown sort")
	}
	if c.ID == "" || len(c.ID) > 128 {
		return nil, bad("bad id")
	}
	if c.Sort == SortRelevance {
		if f := KeyScore(c.Key); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad("bad score")
		}
	}
	return &c, nil
}

// Fingerprint identifies the query, filters and sort of a request, so a cursor
// is only accepted by the search it came from. Value order does not matter.
func (r *Request) Fingerprint() uint32 {
	h := fnv.New32a()
	w := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	sorted := func(v []string) []string {
		c := append([]string(nil), v...)
		sort.Strings(c)
		return c
	}
	num := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	f := &r.Filters
	w(strings.TrimSpace(r.Query))
	w(string(r.EffectiveSort()))
	w(sorted(f.Brands)...)
	w(sorted(f.Sizes)...)
	w(sorted(f.Conditions)...)
	w(sorted(f.Colors)...)
	w(f.Category...)
	w(num(f.PriceMin), num(f.PriceMax))
	w(r.User)
	return h.Sum32()
}

// NewCursor returns the encoded cursor positioned at a hit with sort key key,
// for a request evaluated at instant now.
func (r *Request) NewCursor(now time.Time, key int64, id string) string {
	c := Cursor{Sort: r.EffectiveSort(), Key: key, ID: id, Request: r.Fingerprint(), At: now.UnixMilli()}
	return c.Encode()
}

// Instant is the instant the request is evaluated at: the cursor's for a later
// page, else Now, else the clock.
func (r *Request) Instant() time.Time {
	switch {
	case r.After != nil && r.After.At != 0:
		return time.UnixMilli(r.After.At).UTC()
	case !r.Now.IsZero():
		return r.Now
	}
	return time.Now()
}
