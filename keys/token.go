package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// A user token lets a browser that calls with a public key say user=U: the
// marketplace's backend, which holds a server key (search or admin), signs
// "user U until T" and hands the token to the browser, which sends it in
// the UserTokenHeader. It is a JWT (RFC 7519) signed with EdDSA (Ed25519):
//
//	header  {"alg":"EdDSA","typ":"JWT","kid":"<the signing key's id>"}
//	claims  {"sub":"<user id>","exp":<unix seconds>,"iat":<unix seconds, optional>}
//
// The Ed25519 private key's seed is HMAC-SHA256(key = the signing key's
// secret, message = TokenSeedLabel); Rummage stores only the matching
// public key (Key.TokenKey), so what it stores verifies tokens but cannot
// make one. docs/keys.md shows the signing in other languages.

// UserTokenHeader carries a user token.
const UserTokenHeader = "Rummage-User-Token"

// TokenSeedLabel is the HMAC message that derives a key's token seed.
const TokenSeedLabel = "rummage user token v1"

// MaxUserTokenTTL bounds a token's lifetime: a token cannot be revoked on
// its own (only its signing key can), so it must not live long.
const MaxUserTokenTTL = 24 * time.Hour

// maxTokenLen bounds what is parsed.
const maxTokenLen = 2048

// clockSkew is how far in the future exp may lie beyond MaxUserTokenTTL,
// for a signer whose clock runs ahead.
const clockSkew = time.Minute

// maxUserLen bounds the user id in a token (rummage.MaxIDLen).
const maxUserLen = 128

var (
	// ErrTokenExpired: the token was valid and has expired; the client
	// should fetch a new one (401).
	ErrTokenExpired = errors.New("keys: user token expired")
	// ErrTokenInvalid: malformed, forged, signed by a key that may not
	// sign, or for a revoked key (403).
	ErrTokenInvalid = errors.New("keys: invalid user token")
)

// UserToken is a verified token.
type UserToken struct {
	User    string
	Expires time.Time
	Signer  Key
}

type tokenHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid"`
}

type tokenClaims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat,omitempty"`
}

var b64 = base64.RawURLEncoding

// tokenSigner derives the Ed25519 key with which secret signs user tokens.
func tokenSigner(secret string) ed25519.PrivateKey {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(TokenSeedLabel))
	return ed25519.NewKeyFromSeed(mac.Sum(nil))
}

// SignUserToken returns a token for user, valid until now+ttl, signed by
// the key whose secret is given. That key must be a server key (search or
// admin), going by the kind its secret names; the server checks the stored
// kind again.
func SignUserToken(secret, user string, now time.Time, ttl time.Duration) (string, error) {
	switch {
	case user == "" || len(user) > maxUserLen || !utf8.ValidString(user):
		return "", fmt.Errorf("keys: a user id is 1 to %d bytes of UTF-8", maxUserLen)
	case ttl <= 0 || ttl > MaxUserTokenTTL:
		return "", fmt.Errorf("keys: a user token lives more than 0 and at most %v, not %v", MaxUserTokenTTL, ttl)
	}
	kind, ok := secretKind(secret)
	if !ok {
		return "", errors.New("keys: not a Rummage key (rk_<kind>_...)")
	}
	if !kind.SignsUserTokens() {
		return "", fmt.Errorf("keys: a %s key cannot sign user tokens: sign with a server key (search or admin); a public key is in every browser, so anything it signed anyone could", kind)
	}
	h, _ := json.Marshal(tokenHeader{Alg: "EdDSA", Typ: "JWT", Kid: IDOf(secret)})
	c, _ := json.Marshal(tokenClaims{Sub: user, Exp: now.Add(ttl).Unix(), Iat: now.Unix()})
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sig := ed25519.Sign(tokenSigner(secret), []byte(input))
	return input + "." + b64.EncodeToString(sig), nil
}

// secretKind reads the kind a secret names.
func secretKind(secret string) (Kind, bool) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", false
	}
	kind, _, ok := strings.Cut(rest, "_")
	if !ok {
		return "", false
	}
	k, err := ParseKind(kind)
	return k, err == nil
}

// parsedToken is a token whose signature verified, before the expiry and
// signer checks that depend on the moment and the ring.
type parsedToken struct {
	kid  string
	user string
	exp  time.Time
}

// verifyToken checks the token's form and signature; signer looks up the
// key a kid names among the active keys.
func verifyToken(token string, signer func(kid string) (Key, error)) (parsedToken, Key, error) {
	invalid := func(format string, a ...any) (parsedToken, Key, error) {
		return parsedToken{}, Key{}, fmt.Errorf("%w: %s", ErrTokenInvalid, fmt.Sprintf(format, a...))
	}
	if len(token) > maxTokenLen {
		return invalid("longer than %d bytes", maxTokenLen)
	}
	hb, rest, ok1 := strings.Cut(token, ".")
	cb, sb, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return invalid("not a JWT (header.claims.signature)")
	}
	var h tokenHeader
	if err := decodeSegment(hb, &h); err != nil {
		return invalid("header: %v", err)
	}
	if h.Alg != "EdDSA" {
		return invalid("alg %q; only EdDSA is accepted", h.Alg)
	}
	k, err := signer(h.Kid)
	if err != nil {
		return parsedToken{}, Key{}, err
	}
	sig, err := b64.DecodeString(sb)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return invalid("signature is not %d bytes of base64url", ed25519.SignatureSize)
	}
	if !ed25519.Verify(k.TokenKey, []byte(token[:len(hb)+1+len(cb)]), sig) {
		return invalid("the signature does not verify with key %s", k.ID)
	}
	var c tokenClaims
	if err := decodeSegment(cb, &c); err != nil {
		return invalid("claims: %v", err)
	}
	if c.Sub == "" || len(c.Sub) > maxUserLen || !utf8.ValidString(c.Sub) {
		return invalid("sub must be a user id of 1 to %d bytes", maxUserLen)
	}
	if c.Exp <= 0 {
		return invalid("exp is required")
	}
	return parsedToken{kid: k.ID, user: c.Sub, exp: time.Unix(c.Exp, 0)}, k, nil
}

// decodeSegment decodes one base64url JSON segment strictly.
func decodeSegment(s string, v any) error {
	b, err := b64.DecodeString(s)
	if err != nil {
		return errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return errors.New("not a JSON object of the expected fields")
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// checkTime applies the moment: expired tokens, and tokens living longer
// than MaxUserTokenTTL (a signer that ignores the limit).
func (p parsedToken) checkTime(now time.Time) error {
	if !now.Before(p.exp) {
		return fmt.Errorf("%w at %s", ErrTokenExpired, p.exp.UTC().Format(time.RFC3339))
	}
	if p.exp.After(now.Add(MaxUserTokenTTL + clockSkew)) {
		return fmt.Errorf("%w: expires in more than %v", ErrTokenInvalid, MaxUserTokenTTL)
	}
	return nil
}
