package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rummage/rummage/internal/atomicfile"
)

// Type is what a shopper did.
type Type string

// The event types of POST /v1/events (DESIGN.md "Events and analytics").
// Impression is recorded by the server itself, one per origin answer of a
// listing list; clients cannot send it.
const (
	View       Type = "view"
	Click      Type = "click"
	Like       Type = "like"
	Share      Type = "share"
	AddToCart  Type = "add_to_cart"
	Purchase   Type = "purchase"
	Impression Type = "impression"
)

// ClientTypes are the types a client may post.
var ClientTypes = []Type{View, Click, Like, Share, AddToCart, Purchase}

// Event is one analytics event as it travels on the events topic. User is
// already pseudonymous there (Pseudonymizer); the raw id never leaves the
// API process.
type Event struct {
	Type      Type      `json:"type"`
	User      string    `json:"user,omitempty"`
	ListingID string    `json:"listing_id,omitempty"`
	QueryID   string    `json:"query_id,omitempty"`
	Position  int       `json:"position,omitempty"` // 1-based rank on the page; 0: unknown
	Surface   string    `json:"surface,omitempty"`  // search, party, following, home, listing, drop
	PartyID   string    `json:"party_id,omitempty"`
	At        time.Time `json:"at"`
	// Variant is "<experiment>/<variant>" when the user was in an
	// experiment; stamped by the server, never taken from a client.
	Variant string `json:"variant,omitempty"`
	// Impression fields (Type == Impression), stamped by the server.
	Query     string   `json:"query,omitempty"`   // the normalized query text (NormalizeQuery)
	Filters   string   `json:"filters,omitempty"` // the canonical filters (Filters)
	Total     int      `json:"total,omitempty"`
	IDs       []string `json:"ids,omitempty"` // listing ids shown, in position order
	LatencyUS int64    `json:"latency_us,omitempty"`
	Cached    bool     `json:"cached,omitempty"`
}

// Surfaces a client event or impression may name.
var Surfaces = []string{"search", "party", "following", "home", "listing", "drop"}

// ErrInvalid wraps every validation failure of a client event.
var ErrInvalid = errors.New("invalid event")

// MaxSkew bounds how far a client's "at" may lie from the server's clock.
const MaxSkew = 24 * time.Hour

// ValidateClient checks an event a client posted, at server time now.
// A zero At is allowed (the server stamps now).
func (e *Event) ValidateClient(now time.Time) error {
	ok := false
	for _, t := range ClientTypes {
		ok = ok || e.Type == t
	}
	if !ok {
		return fmt.Errorf("%w: type %q: want one of view, click, like, share, add_to_cart, purchase", ErrInvalid, e.Type)
	}
	if e.ListingID == "" && e.Type != View {
		return fmt.Errorf("%w: listing_id is required for %s", ErrInvalid, e.Type)
	}
	if len(e.User) > 128 || len(e.ListingID) > 128 || len(e.QueryID) > 128 || len(e.PartyID) > 128 {
		return fmt.Errorf("%w: ids are at most 128 bytes", ErrInvalid)
	}
	if e.Position < 0 || e.Position > 10000 {
		return fmt.Errorf("%w: position %d: want 1..10000 (0: unknown)", ErrInvalid, e.Position)
	}
	if e.Surface != "" {
		known := false
		for _, s := range Surfaces {
			known = known || e.Surface == s
		}
		if !known {
			return fmt.Errorf("%w: surface %q: want one of search, party, following, home, listing, drop", ErrInvalid, e.Surface)
		}
	}
	if !e.At.IsZero() && (e.At.Before(now.Add(-MaxSkew)) || e.At.After(now.Add(MaxSkew))) {
		return fmt.Errorf("%w: at %s is more than %s from the server's clock", ErrInvalid, e.At.Format(time.RFC3339), MaxSkew)
	}
	return nil
}

// Topic is the events topic of a Kafka topic prefix.
func Topic(prefix string) string { return prefix + ".events" }

// TopicErrors are what is wrong with the brokers and topic prefix of a
// client of the events topic (none when both are set), for the Validate of
// the producer's and the consumers' configurations.
func TopicErrors(brokers []string, prefix string) []error {
	var errs []error
	if len(brokers) == 0 {
		errs = append(errs, errors.New("at least one broker is required"))
	}
	if prefix == "" {
		errs = append(errs, errors.New("a topic prefix is required"))
	}
	return errs
}

// Pseudonymizer maps user ids to stable pseudonyms with a keyed HMAC, so
// the events topic, the rollups and the affinity profiles never hold a raw
// user id, and nobody without the key can link a pseudonym to a user. The
// same key must be configured on every replica.
type Pseudonymizer struct{ key []byte }

// NewPseudonymizer returns a Pseudonymizer over key (at least 16 bytes).
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("events: pseudonymization key: %d bytes, want at least 16", len(key))
	}
	return &Pseudonymizer{key: append([]byte(nil), key...)}, nil
}

// Of returns the pseudonym of user ("" for anonymous): "h_" and 22
// base64url characters (128 bits of HMAC-SHA256).
func (p *Pseudonymizer) Of(user string) string {
	if user == "" {
		return ""
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(user))
	return "h_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// LoadOrCreateKey reads the pseudonymization key in the file at path (hex),
// creating it with 32 random bytes (mode 0600) when it does not exist: a
// single-process deployment (rummage dev) keeps its pseudonyms stable
// across restarts. Replicas share one key: give each the same file.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 16 {
			return nil, fmt.Errorf("events: pseudonymization key %s: want at least 32 hex digits", path)
		}
		return key, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("events: pseudonymization key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("events: pseudonymization key: %w", err)
	}
	return key, nil
}
