package keys

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rummage/rummage/internal/tick"
)

// Ring answers "which key is this?" from memory: every stored key, by the
// digest of its secret and by id, swapped atomically on refresh. A lookup is
// one SHA-256 of the presented secret and one map read (no lock, no I/O);
// verified user tokens are cached too, so Ed25519 runs once per token.
//
// Refresh reloads the store; Run refreshes when the store says it changed
// (Watcher) and at least every RingConfig.Interval. When a refresh fails the
// ring keeps answering from the last keys it loaded.
type Ring struct {
	store Store
	cfg   RingConfig
	snap  atomic.Pointer[snapshot]

	mu     sync.RWMutex // guards tokens
	tokens map[string]parsedToken
}

// RingConfig tunes a Ring.
type RingConfig struct {
	// Interval is the longest a change made by another process takes to
	// apply when the store cannot notify (default 30 s; a Watcher's
	// notifications apply at once).
	Interval time.Duration
	// TokenCache bounds the verified user tokens kept (default 10,000);
	// when full it starts again empty.
	TokenCache int
	Logger     *slog.Logger
}

type snapshot struct {
	byHash map[Digest]*Key
	byID   map[string]*Key
	active int
}

// NewRing returns a ring over store; call Refresh (or Open) before use:
// until then it knows no key.
func NewRing(store Store, cfg RingConfig) *Ring {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.TokenCache <= 0 {
		cfg.TokenCache = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Ring{store: store, cfg: cfg, tokens: map[string]parsedToken{}}
	r.snap.Store(&snapshot{byHash: map[Digest]*Key{}, byID: map[string]*Key{}})
	return r
}

// Open returns a ring over store, loaded.
func Open(ctx context.Context, store Store, cfg RingConfig) (*Ring, error) {
	r := NewRing(store, cfg)
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Store returns the store the ring reads.
func (r *Ring) Store() Store { return r.store }

// Refresh reloads every key from the store.
func (r *Ring) Refresh(ctx context.Context) error {
	list, err := r.store.List(ctx)
	if err != nil {
		return fmt.Errorf("keys: refresh: %w", err)
	}
	s := &snapshot{byHash: make(map[Digest]*Key, len(list)), byID: make(map[string]*Key, len(list))}
	for i := range list {
		k := &list[i]
		s.byHash[k.Hash] = k
		s.byID[k.ID] = k
		if !k.Revoked() {
			s.active++
		}
	}
	r.snap.Store(s)
	return nil
}

// Run refreshes the ring until ctx ends: on every notification of a
// Watcher store, and every Interval. It returns nil when ctx ends.
func (r *Ring) Run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	if w, ok := r.store.(Watcher); ok {
		go func() {
			err := w.Watch(ctx, func() {
				select {
				case changed <- struct{}{}:
				default:
				}
			})
			if err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("keys: watching the store stopped; refreshing every interval only", "interval", r.cfg.Interval, "err", err)
			}
		}()
	}
	tick.Every(ctx, r.cfg.Interval, changed, func() {
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("keys: refresh failed; answering from the keys loaded before", "err", err)
		}
	})
	return nil
}

// Len returns how many keys the ring holds, and how many are not revoked.
func (r *Ring) Len() (all, active int) {
	s := r.snap.Load()
	return len(s.byHash), s.active
}

// Lookup returns the key whose secret is given: ErrUnknownKey when none
// is, ErrRevokedKey when it was revoked.
func (r *Ring) Lookup(secret string) (Key, error) {
	if len(secret) > MaxSecretLen {
		return Key{}, ErrUnknownKey
	}
	k := r.snap.Load().byHash[HashSecret(secret)]
	switch {
	case k == nil:
		return Key{}, ErrUnknownKey
	case k.Revoked():
		return *k, ErrRevokedKey
	}
	return *k, nil
}

// signer returns the active key kid if it may sign user tokens.
func (r *Ring) signer(kid string) (Key, error) {
	k := r.snap.Load().byID[kid]
	switch {
	case k == nil:
		return Key{}, fmt.Errorf("%w: signed by unknown key %q", ErrTokenInvalid, kid)
	case k.Revoked():
		return Key{}, fmt.Errorf("%w: signed by key %s, which is revoked", ErrTokenInvalid, kid)
	case !k.Kind.SignsUserTokens():
		return Key{}, fmt.Errorf("%w: signed by key %s, a %s key; only search and admin keys sign user tokens", ErrTokenInvalid, kid, k.Kind)
	}
	return *k, nil
}

// VerifyUserToken checks a user token at now: ErrTokenExpired for a valid
// token past its expiry, ErrTokenInvalid (wrapped with the reason) for
// anything else wrong. The signer's revocation applies at once, cached
// tokens included.
func (r *Ring) VerifyUserToken(token string, now time.Time) (UserToken, error) {
	r.mu.RLock()
	p, cached := r.tokens[token]
	r.mu.RUnlock()
	var k Key
	var err error
	if cached {
		k, err = r.signer(p.kid)
	} else {
		p, k, err = verifyToken(token, r.signer)
	}
	if err != nil {
		return UserToken{}, err
	}
	if err := p.checkTime(now); err != nil {
		return UserToken{}, err
	}
	if !cached {
		r.mu.Lock()
		if len(r.tokens) >= r.cfg.TokenCache {
			clear(r.tokens)
		}
		r.tokens[token] = p
		r.mu.Unlock()
	}
	return UserToken{User: p.user, Expires: p.exp, Signer: k}, nil
}

// Create makes a key in the ring's store and refreshes the ring; it
// returns the secret to show once.
func (r *Ring) Create(ctx context.Context, kind Kind, name string) (string, Key, error) {
	secret, k, err := Create(ctx, r.store, kind, name)
	if err != nil {
		return "", Key{}, err
	}
	return secret, k, r.Refresh(ctx)
}

// Revoke revokes a key in the ring's store and refreshes the ring.
func (r *Ring) Revoke(ctx context.Context, id string) (Key, error) {
	k, err := r.store.Revoke(ctx, id, time.Now())
	if err != nil {
		return Key{}, err
	}
	return k, r.Refresh(ctx)
}
