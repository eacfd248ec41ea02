package feed

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/query"
)

// A cursor is the signed state of a walk through a surface's pages: where
// the last page ended, the instant the first page was evaluated at, and a
// fingerprint of the request it belongs to. It is opaque to clients:
// base64url(JSON) "." base64url(HMAC-SHA256(key, JSON)[:16]). The key comes
// from configuration and is shared by every replica; during a rotation the
// previous key is accepted too. A cursor older than CursorConfig.MaxAge is
// refused, so a pinned instant can never be more than that far behind, and
// an instant after the server's clock is refused outright: no cursor can
// move the instant a page is evaluated at, forward (unreleased drops) or far
// back.

// MaxCursorBytes bounds an encoded cursor.
const MaxCursorBytes = 1024

// cursorVersion is bumped whenever the state's meaning changes; older
// cursors are then refused as invalid rather than misread.
const cursorVersion = 1

// The surfaces a cursor is bound to (cursorState.Surface): a cursor of one
// never pages another.
const (
	surfaceSearch    = "search"
	surfaceFollowing = "following"
	surfaceHome      = "home"
	surfaceParties   = "parties"
	surfaceParty     = "party"
)

// cursorState is what a cursor carries. Surface-specific fields are empty
// where they do not apply.
type cursorState struct {
	Version int        `json:"v"`
	Surface string     `json:"s"`
	Sort    query.Sort `json:"o"`
	At      int64      `json:"t"`           // first page's instant, Unix ms
	Req     string     `json:"r"`           // request fingerprint
	Key     int64      `json:"k,omitempty"` // last hit's sort key (key orders)
	Score   float64    `json:"c,omitempty"` // last hit's score (ranked orders)
	ID      string     `json:"i"`           // last hit's id
	Served  int        `json:"n,omitempty"` // hits served before the next page
}

// CursorConfig configures a Cursors.
type CursorConfig struct {
	// Key signs new cursors and verifies them: at least 32 bytes. Replicas
	// behind one load balancer must share it.
	Key []byte
	// PreviousKey, when set, is also accepted (a key rotation in progress).
	PreviousKey []byte
	// MaxAge is how old a cursor may be; default 1 h.
	MaxAge time.Duration
	// Clock is the server's clock; default time.Now.
	Clock func() time.Time
}

// MinCursorKeyBytes is the shortest key Validate accepts.
const MinCursorKeyBytes = 32

// Validate reports a configuration that cannot sign cursors.
func (c *CursorConfig) Validate() error {
	switch {
	case len(c.Key) < MinCursorKeyBytes:
		return fmt.Errorf("feed: cursor key of %d bytes; want at least %d", len(c.Key), MinCursorKeyBytes)
	case c.PreviousKey != nil && len(c.PreviousKey) < MinCursorKeyBytes:
		return fmt.Errorf("feed: previous cursor key of %d bytes; want at least %d", len(c.PreviousKey), MinCursorKeyBytes)
	case c.MaxAge < 0:
		return errors.New("feed: cursor max age must not be negative")
	}
	return nil
}

// RandomCursorKey returns a fresh key, for a single process whose cursors
// need not survive it.
func RandomCursorKey() []byte {
	k := make([]byte, MinCursorKeyBytes)
	_, _ = rand.Read(k)
	return k
}

// NewRandomCursors is a codec with a random key, for a single process whose
// cursors need not survive it.
func NewRandomCursors() *Cursors {
	c, _ := NewCursors(CursorConfig{Key: RandomCursorKey()}) // a valid config
	return c
}

// ParseCursorKey reads a key given as hex or base64 (standard or URL, with
// or without padding).
func ParseCursorKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("feed: a cursor key must be hex or base64")
}

// Cursors signs and verifies cursors. It is safe for concurrent use.
type Cursors struct {
	key, prev []byte
	maxAge    time.Duration
	clock     func() time.Time
}

// NewCursors returns the codec of cfg.
func NewCursors(cfg CursorConfig) (*Cursors, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cursors{key: slices.Clone(cfg.Key), prev: slices.Clone(cfg.PreviousKey), maxAge: cfg.MaxAge, clock: cfg.Clock}
	if c.maxAge == 0 {
		c.maxAge = time.Hour
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	return c, nil
}

// Now is the codec's clock.
func (c *Cursors) Now() time.Time { return c.clock() }

func mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)[:16]
}

// encode signs st.
func (c *Cursors) encode(st *cursorState) string {
	st.Version = cursorVersion
	payload, _ := json.Marshal(st) // plain fields, finite floats: cannot fail
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac(c.key, payload))
}

// decode verifies a cursor made by surface for the request whose
// fingerprint is req, at instant now (zero: the clock; tests and replays
// that pin their requests' instant pass it, API requests never do). Every
// failure is an *query.InvalidError for field "cursor"; it never panics,
// whatever the input.
func (c *Cursors) decode(s, surface, req string, now time.Time) (*cursorState, error) {
	st, err := c.verify(s)
	if err != nil {
		return nil, err
	}
	switch {
	case st.Surface != surface:
		return nil, badCursor("invalid_cursor", "the cursor was made for another surface (%q)", st.Surface)
	case st.Req != req:
		return nil, badCursor("invalid_cursor", "the cursor belongs to a different query, filters or sort")
	}
	if now.IsZero() {
		now = c.clock()
	}
	nowMs := now.UnixMilli()
	switch {
	case st.At > nowMs+clockSkew.Milliseconds():
		return nil, badCursor("invalid_cursor", "the cursor's instant is in the future")
	case nowMs-st.At > c.maxAge.Milliseconds():
		return nil, badCursor("cursor_expired", "the cursor is older than %v; start again from the first page", c.maxAge)
	}
	return st, nil
}

func badCursor(code, format string, args ...any) error {
	return &query.InvalidError{Code: code, Field: "cursor", Message: fmt.Sprintf(format, args...)}
}

// verify checks a cursor's signature and form, and returns its state.
func (c *Cursors) verify(s string) (*cursorState, error) {
	if len(s) > MaxCursorBytes {
		return nil, badCursor("invalid_cursor", "malformed cursor: too long")
	}
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return nil, badCursor("invalid_cursor", "malformed cursor")
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, badCursor("invalid_cursor", "malformed cursor: not base64url")
	}
	if !hmac.Equal(got, mac(c.key, payload)) && (c.prev == nil || !hmac.Equal(got, mac(c.prev, payload))) {
		return nil, badCursor("invalid_cursor", "the cursor's signature does not verify (forged, truncated, or signed with a retired key); start again from the first page")
	}
	var st cursorState
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || dec.More() {
		return nil, badCursor("invalid_cursor", "malformed cursor")
	}
	switch {
	case st.Version != cursorVersion:
		return nil, badCursor("invalid_cursor", "the cursor is from another version of the service; start again from the first page")
	case st.ID == "" || math.IsNaN(st.Score) || math.IsInf(st.Score, 0) || st.Served < 0:
		return nil, badCursor("invalid_cursor", "malformed cursor")
	}
	return &st, nil
}

// clockSkew tolerates replicas whose clocks differ slightly.
const clockSkew = 2 * time.Second

// fingerprint identifies a request's hits: text, filters, sort, user and
// any surface-specific parts, normalized as retrieval matches them (case
// and value order do not matter). Facets and the page size are not part
// of it: a client may change them between pages.
func fingerprint(r *query.Request, extra ...string) string {
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	norm := func(v []string) []string {
		c := make([]string, len(v))
		for i, s := range v {
			c[i] = strings.ToLower(s)
		}
		slices.Sort(c)
		return slices.Compact(c)
	}
	num := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	f := &r.Filters
	w(strings.ToLower(strings.TrimSpace(r.Query)))
	w(string(r.EffectiveSort()))
	w(norm(f.Brands)...)
	w(norm(f.Sizes)...)
	w(norm(f.Conditions)...)
	w(norm(f.Colors)...)
	w(strings.ToLower(strings.Join(f.Category, "/")))
	w(num(f.PriceMin), num(f.PriceMax))
	w(r.User)
	w(extra...)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// Describe verifies a cursor of any surface and returns its readable state
// ("search sort=newest key=1748772000000 score=0 id=l22 served=24"), for
// logs, debugging and golden tests. It does not check the cursor's age.
func (c *Cursors) Describe(s string) (string, error) {
	st, err := c.verify(s)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s sort=%s key=%d score=%g id=%s served=%d", st.Surface, st.Sort, st.Key, st.Score, st.ID, st.Served), nil
}
