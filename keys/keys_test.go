package keys

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/testkit"
)

func newRing(t testing.TB) *Ring {
	t.Helper()
	r, err := Open(context.Background(), &MemStore{}, RingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func create(t testing.TB, r *Ring, kind Kind) (string, Key) {
	t.Helper()
	secret, k, err := r.Create(context.Background(), kind, "test "+string(kind))
	if err != nil {
		t.Fatal(err)
	}
	return secret, k
}

func TestNewKey(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	secret, k, err := New(Public, "web", now)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(secret, "rk_public_")
	if !ok || len(body) != 43 {
		t.Fatalf("secret %q: want rk_public_ and 43 base64url characters (256 bits)", secret)
	}
	if k.ID != IDOf(secret) || len(k.ID) != 12 || k.Hash != HashSecret(secret) || k.Prefix != "rk_public_"+body[:4] {
		t.Errorf("record %+v does not match the secret", k)
	}
	if strings.Contains(k.Prefix, body[4:8]) || !k.CreatedAt.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("prefix %q or created_at %v", k.Prefix, k.CreatedAt)
	}
	if err := k.Validate(); err != nil {
		t.Error(err)
	}
	other, _, _ := New(Public, "web", now)
	if other == secret {
		t.Error("two keys with the same secret")
	}
	for _, bad := range []struct {
		kind Kind
		name string
	}{{"root", "x"}, {Search, ""}, {Search, "  "}, {Search, strings.Repeat("n", MaxNameLen+1)}} {
		if _, _, err := New(bad.kind, bad.name, now); err == nil {
			t.Errorf("New(%q, %q) accepted", bad.kind, bad.name)
		}
	}
	k.ID = "000000000000"
	if k.Validate() == nil {
		t.Error("Validate accepts an id that is not the hash's")
	}
}

func TestRingLookup(t *testing.T) {
	ctx := context.Background()
	r := newRing(t)
	search, sk := create(t, r, Search)
	admin, _ := create(t, r, Admin)
	if k, err := r.Lookup(search); err != nil || k.ID != sk.ID || k.Kind != Search {
		t.Errorf("Lookup(search) = %+v, %v", k, err)
	}
	for _, s := range []string{"", "rk_search_nope", search + "x", strings.Repeat("a", MaxSecretLen+1)} {
		if _, err := r.Lookup(s); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Lookup(%.20q) = %v, want ErrUnknownKey", s, err)
		}
	}
	if _, err := r.Revoke(ctx, sk.ID); err != nil {
		t.Fatal(err)
	}
	if k, err := r.Lookup(search); !errors.Is(err, ErrRevokedKey) || k.RevokedAt == nil {
		t.Errorf("after revoke: %+v, %v, want ErrRevokedKey", k, err)
	}
	if _, err := r.Lookup(admin); err != nil {
		t.Errorf("the other key: %v", err)
	}
	first, _ := r.Lookup(search)
	again, err := r.Revoke(ctx, sk.ID)
	if err != nil || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Errorf("revoking twice: %v %v, want the first time kept", again.RevokedAt, err)
	}
	if _, err := r.Revoke(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if all, active := r.Len(); all != 2 || active != 1 {
		t.Errorf("Len = %d, %d", all, active)
	}
}

// TestRingSeesOtherWriters: a key added to the store behind the ring's
// back (another process) is known after a refresh, and Run refreshes.
func TestRingSeesOtherWriters(t *testing.T) {
	store := &MemStore{}
	r, err := Open(context.Background(), store, RingConfig{Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Go(context.Background(), t, "Run", r.Run)
	secret, _, err := Create(context.Background(), store, Search, "other process")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "Run refreshes", 10*time.Second, func() bool { _, err := r.Lookup(secret); return err == nil })
	stop()
}

func TestUserToken(t *testing.T) {
	ctx := context.Background()
	r := newRing(t)
	search, sk := create(t, r, Search)
	admin, _ := create(t, r, Admin)
	public, pk := create(t, r, Public)
	events, _ := create(t, r, Events)
	other, ok := create(t, r, Search)
	now := time.Now()

	tok, err := SignUserToken(search, "u42", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.VerifyUserToken(tok, now)
	if err != nil || got.User != "u42" || got.Signer.ID != sk.ID || got.Expires.Unix() != now.Add(time.Hour).Unix() {
		t.Fatalf("valid token: %+v, %v", got, err)
	}
	if _, err := r.VerifyUserToken(tok, now.Add(30*time.Minute)); err != nil {
		t.Errorf("valid token, second use (cached): %v", err)
	}
	if _, err := r.VerifyUserToken(tok, now.Add(time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("at its expiry: %v, want ErrTokenExpired", err)
	}
	adminTok, _ := SignUserToken(admin, "u1", now, time.Minute)
	if _, err := r.VerifyUserToken(adminTok, now); err != nil {
		t.Errorf("admin-signed: %v", err)
	}

	// Public and events keys cannot sign: refused when signing, and a
	// token made by hand with their derived key is refused when verified.
	for _, s := range []string{public, events, "not a key"} {
		if _, err := SignUserToken(s, "u1", now, time.Hour); err == nil {
			t.Errorf("SignUserToken with %.12s accepted", s)
		}
	}
	forgedByPublic := handMade(t, public, pk.ID, `{"sub":"u1","exp":`+itoa(now.Add(time.Hour).Unix())+`}`)

	parts := strings.Split(tok, ".")
	otherTok, _ := SignUserToken(other, "u42", now, time.Hour)
	otherParts := strings.Split(otherTok, ".")
	cases := []struct {
		name, token string
	}{
		{"empty", ""},
		{"not a JWT", "abc"},
		{"claims changed", parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"admin","exp":`+itoa(now.Add(time.Hour).Unix())+`}`)) + "." + parts[2]},
		{"signature of another key", parts[0] + "." + parts[1] + "." + otherParts[2]},
		{"claims of another key's token", otherParts[0] + "." + parts[1] + "." + parts[2]},
		{"kid of another key", b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+ok.ID+`"}`)) + "." + parts[1] + "." + parts[2]},
		{"unknown kid", handMade(t, search, "000000000000", `{"sub":"u1","exp":`+itoa(now.Add(time.Hour).Unix())+`}`)},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+sk.ID+`"}`)) + "." + parts[1] + "."},
		{"alg HS256", b64.EncodeToString([]byte(`{"alg":"HS256","kid":"`+sk.ID+`"}`)) + "." + parts[1] + "." + parts[2]},
		{"signed by a public key", forgedByPublic},
		{"no sub", handMade(t, search, sk.ID, `{"exp":`+itoa(now.Add(time.Hour).Unix())+`}`)},
		{"no exp", handMade(t, search, sk.ID, `{"sub":"u1"}`)},
		{"lives too long", handMade(t, search, sk.ID, `{"sub":"u1","exp":`+itoa(now.Add(48*time.Hour).Unix())+`}`)},
		{"trailing data", handMade(t, search, sk.ID, `{"sub":"u1","exp":`+itoa(now.Add(time.Hour).Unix())+`} {}`)},
		{"too long", strings.Repeat("a", maxTokenLen+1)},
	}
	for _, c := range cases {
		if _, err := r.VerifyUserToken(c.token, now); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: %v, want ErrTokenInvalid", c.name, err)
		}
	}
	// A forged token that is also expired is invalid, not expired.
	expiredForgery := parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"u1","exp":1}`)) + "." + parts[2]
	if _, err := r.VerifyUserToken(expiredForgery, now); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired forgery: %v, want ErrTokenInvalid", err)
	}

	// Revoking the signer ends its tokens at once, cached ones included.
	if _, err := r.Revoke(ctx, sk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.VerifyUserToken(tok, now); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("after revoking the signer: %v, want ErrTokenInvalid", err)
	}
	if _, err := SignUserToken(search, "", now, time.Hour); err == nil {
		t.Error("empty user accepted")
	}
	if _, err := SignUserToken(admin, "u", now, 25*time.Hour); err == nil {
		t.Error("ttl above the maximum accepted")
	}
}

// handMade signs arbitrary claims as the key secret would, with kid.
func handMade(t *testing.T, secret, kid, claims string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"`+kid+`"}`)) + "." + b64.EncodeToString([]byte(claims))
	return input + "." + b64.EncodeToString(signBytes(secret, input))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func signBytes(secret, input string) []byte { return ed25519.Sign(tokenSigner(secret), []byte(input)) }

func BenchmarkLookup(b *testing.B) {
	r := newRing(b)
	for range 1000 {
		create(b, r, Search)
	}
	secret, _ := create(b, r, Public)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Lookup(secret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUserToken(b *testing.B) {
	r := newRing(b)
	search, _ := create(b, r, Search)
	now := time.Now()
	tok, _ := SignUserToken(search, "u1", now, time.Hour)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.VerifyUserToken(tok, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first use", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := verifyToken(tok, r.signer); err != nil {
				b.Fatal(err)
			}
		}
	})
}
