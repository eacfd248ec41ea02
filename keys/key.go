package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Kind is what a key may do. Which routes accept which kinds is the API's
// table (api/access.go); the kinds themselves are DESIGN.md's.
type Kind string

const (
	// Search keys read (search, listings, feeds); a server key: its caller
	// is trusted with user=.
	Search Kind = "search"
	// Public keys read and send events from browsers; user= needs a user
	// token signed by a server key.
	Public Kind = "public"
	// Events keys only send analytics events.
	Events Kind = "events"
	// Admin keys do everything: reads (trusted with user=), events,
	// analytics, reindex, keys.
	Admin Kind = "admin"
)

// Kinds returns every kind, in the order they are listed.
func Kinds() []Kind { return []Kind{Search, Public, Events, Admin} }

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !slices.Contains(Kinds(), k) {
		return "", fmt.Errorf("keys: unknown kind %q; use search, public, events or admin", s)
	}
	return k, nil
}

// SignsUserTokens reports whether keys of kind k may sign user tokens: the
// server kinds, whose holders are trusted with user= themselves. A public
// key is in every browser, so whatever it could sign, anyone could.
func (k Kind) SignsUserTokens() bool { return k == Search || k == Admin }

// Errors callers branch on.
var (
	// ErrUnknownKey: no key has this secret.
	ErrUnknownKey = errors.New("keys: unknown key")
	// ErrRevokedKey: the key exists and was revoked.
	ErrRevokedKey = errors.New("keys: revoked key")
	// ErrNotFound: no key has this id (Revoke).
	ErrNotFound = errors.New("keys: no key with this id")
	// ErrDuplicate: a key with this id or hash is stored already (Add).
	ErrDuplicate = errors.New("keys: duplicate key")
)

// secretPrefix starts every secret: rk_<kind>_<43 base64url characters>.
// The readable start helps secret scanners and people; the kind in it is
// informational, the stored kind decides.
const secretPrefix = "rk_"

// randomBytes is the entropy of a key: 256 bits.
const randomBytes = 32

// MaxSecretLen bounds what Lookup hashes; longer strings are unknown keys.
const MaxSecretLen = 128

// MaxNameLen bounds a key's name.
const MaxNameLen = 200

// Digest is the SHA-256 of a secret, the only form a key is stored in. It
// encodes as hex in JSON.
type Digest [sha256.Size]byte

// HashSecret returns the digest of secret.
func HashSecret(secret string) Digest { return sha256.Sum256([]byte(secret)) }

// MarshalText implements encoding.TextMarshaler (hex).
func (d Digest) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(d[:])), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(d) {
		return fmt.Errorf("keys: digest must be %d hex characters", 2*len(d))
	}
	_, err := hex.Decode(d[:], b)
	return err
}

// Key is what is stored about a key: never its secret.
type Key struct {
	// ID names the key in listings, revocations and user tokens: the first
	// 12 hex characters of its digest, so the holder of a secret can
	// compute it (IDOf) and it reveals nothing the digest does not.
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Prefix is the start of the secret ("rk_search_Ab3x"), for a person
	// to recognize which key they hold; 24 of the 256 random bits.
	Prefix string `json:"prefix"`
	Hash   Digest `json:"hash"`
	// TokenKey verifies the user tokens this key signs (Ed25519, derived
	// from the secret: see SignUserToken). It is not a secret.
	TokenKey  ed25519.PublicKey `json:"token_key"`
	CreatedAt time.Time         `json:"created_at"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
}

// Revoked reports whether the key was revoked.
func (k *Key) Revoked() bool { return k.RevokedAt != nil }

// IDOf returns the id of the key whose secret is given.
func IDOf(secret string) string { return idOf(HashSecret(secret)) }

func idOf(d Digest) string { return hex.EncodeToString(d[:6]) }

// New makes a key of kind with name: the secret, to show once, and the
// record to store.
func New(kind Kind, name string, now time.Time) (secret string, k Key, err error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return "", Key{}, err
	}
	if err := checkName(name); err != nil {
		return "", Key{}, err
	}
	var b [randomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Key{}, fmt.Errorf("keys: random: %w", err)
	}
	body := base64.RawURLEncoding.EncodeToString(b[:])
	secret = secretPrefix + string(kind) + "_" + body
	d := HashSecret(secret)
	return secret, Key{
		ID:        idOf(d),
		Name:      name,
		Kind:      kind,
		Prefix:    secretPrefix + string(kind) + "_" + body[:4],
		Hash:      d,
		TokenKey:  tokenSigner(secret).Public().(ed25519.PublicKey),
		CreatedAt: now.UTC().Truncate(time.Microsecond), // what Postgres keeps
	}, nil
}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("keys: a key needs a name (who or what uses it)")
	case len(name) > MaxNameLen || !utf8.ValidString(name):
		return fmt.Errorf("keys: a name is valid UTF-8 of at most %d bytes", MaxNameLen)
	}
	return nil
}

// Validate reports a record that cannot have come from New.
func (k *Key) Validate() error {
	if _, err := ParseKind(string(k.Kind)); err != nil {
		return err
	}
	switch {
	case k.ID != idOf(k.Hash):
		return fmt.Errorf("keys: key %q: the id does not match the hash", k.ID)
	case len(k.TokenKey) != ed25519.PublicKeySize:
		return fmt.Errorf("keys: key %q: token key must be %d bytes", k.ID, ed25519.PublicKeySize)
	}
	return checkName(k.Name)
}

// Store keeps key records. Implementations are safe for concurrent use,
// also across processes sharing the same backing store.
type Store interface {
	// Add stores a new key; ErrDuplicate if its id or hash is taken.
	Add(ctx context.Context, k Key) error
	// List returns every key, revoked ones included, oldest first.
	List(ctx context.Context) ([]Key, error)
	// Revoke marks the key revoked at at, and returns it; revoking a
	// revoked key keeps the first time. ErrNotFound for an unknown id.
	Revoke(ctx context.Context, id string, at time.Time) (Key, error)
}

// Watcher is an optional capability of a Store: Watch blocks until ctx
// ends, calling changed whenever the keys may have changed (another
// process created or revoked one). A Ring also refreshes periodically, so
// a missed notification only delays a change.
type Watcher interface {
	Watch(ctx context.Context, changed func()) error
}

// Create makes a key and adds it to s; it returns the secret to show once.
func Create(ctx context.Context, s Store, kind Kind, name string) (string, Key, error) {
	secret, k, err := New(kind, name, time.Now())
	if err != nil {
		return "", Key{}, err
	}
	if err := s.Add(ctx, k); err != nil {
		return "", Key{}, err
	}
	return secret, k, nil
}

// MemStore is a Store in memory, for tests and one-process tools.
type MemStore struct {
	mu   sync.Mutex
	keys []Key
}

// Add implements Store.
func (m *MemStore) Add(_ context.Context, k Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	m.keys, err = appendKey(m.keys, k)
	return err
}

// List implements Store.
func (m *MemStore) List(context.Context) ([]Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys), nil
}

// Revoke implements Store.
func (m *MemStore) Revoke(_ context.Context, id string, at time.Time) (Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return revokeIn(m.keys, id, at)
}

// appendKey adds k to list unless its id or hash is taken.
func appendKey(list []Key, k Key) ([]Key, error) {
	for _, o := range list {
		if o.ID == k.ID || o.Hash == k.Hash {
			return list, fmt.Errorf("%w: id %s", ErrDuplicate, k.ID)
		}
	}
	return append(list, k), nil
}

// revokeIn revokes the key id in list, in place.
func revokeIn(list []Key, id string, at time.Time) (Key, error) {
	for i := range list {
		if list[i].ID != id {
			continue
		}
		if list[i].RevokedAt == nil {
			t := at.UTC().Truncate(time.Microsecond)
			list[i].RevokedAt = &t
		}
		return list[i], nil
	}
	return Key{}, fmt.Errorf("%w: %q", ErrNotFound, id)
}
