package feed

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/query"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func key(b byte) []byte { return []byte(strings.Repeat(string(b), MinCursorKeyBytes)) }

func codec(t testing.TB, cur, prev []byte, clock *time.Time) *Cursors {
	t.Helper()
	c, err := NewCursors(CursorConfig{Key: cur, PreviousKey: prev, Clock: func() time.Time { return *clock }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func state(req *query.Request) *cursorState {
	return &cursorState{Surface: surfaceSearch, Sort: req.EffectiveSort(), At: t0.UnixMilli(), Req: fingerprint(req), Key: 4800, ID: "l-1", Served: 24}
}

func code(err error) string {
	var ie *query.InvalidError
	if errors.As(err, &ie) && ie.Field == "cursor" {
		return ie.Code
	}
	if err == nil {
		return ""
	}
	return "not an InvalidError: " + err.Error()
}

// TestCursorVerification: only a cursor this service signed for this
// request, within its age, is accepted; forged, foreign, expired and
// future ones are 400s with a stable code.
func TestCursorVerification(t *testing.T) {
	now := t0.Add(time.Minute)
	req := &query.Request{Sort: query.SortPriceAsc, Filters: query.Filters{Brands: []string{"Nike"}}}
	mine := codec(t, key('a'), nil, &now)
	good := mine.encode(state(req))

	forged := func() string {
		// A drop-revealing instant in 2100, re-signed with a guessed key.
		st := state(req)
		st.At = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		return codec(t, key('z'), nil, &now).encode(st)
	}()
	tampered := func() string {
		p, sig, _ := strings.Cut(good, ".")
		return p[:len(p)-2] + "AA." + sig
	}()
	future := func() string {
		st := state(req)
		st.At = now.Add(time.Hour).UnixMilli()
		return mine.encode(st)
	}()
	cases := []struct {
		name   string
		cursor string
		req    *query.Request
		at     time.Time
		want   string
	}{
		{"good", good, req, now, ""},
		{"same request, other value order and case", good, &query.Request{Sort: query.SortPriceAsc, Filters: query.Filters{Brands: []string{"NIKE"}}}, now, ""},
		{"forged with another key", forged, req, now, "invalid_cursor"},
		{"tampered payload", tampered, req, now, "invalid_cursor"},
		{"other filters", good, &query.Request{Sort: query.SortPriceAsc}, now, "invalid_cursor"},
		{"other sort", good, &query.Request{Sort: query.SortPriceDesc, Filters: req.Filters}, now, "invalid_cursor"},
		{"other user", good, &query.Request{Sort: query.SortPriceAsc, Filters: req.Filters, User: "u1"}, now, "invalid_cursor"},
		{"expired", good, req, t0.Add(61 * time.Minute), "cursor_expired"},
		{"instant in the future", future, req, now, "invalid_cursor"},
		{"not a cursor", "hello", req, now, "invalid_cursor"},
		{"not base64", "!!.!!", req, now, "invalid_cursor"},
		{"too long", strings.Repeat("A", MaxCursorBytes+1), req, now, "invalid_cursor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now = c.at
			st, err := mine.decode(c.cursor, surfaceSearch, fingerprint(c.req), time.Time{})
			if got := code(err); got != c.want {
				t.Fatalf("decode: %q (%v), want %q", got, err, c.want)
			}
			if c.want == "" && (st.ID != "l-1" || st.Key != 4800 || st.At != t0.UnixMilli() || st.Served != 24) {
				t.Errorf("state %+v", st)
			}
		})
	}
	now = t0.Add(time.Minute)
	if _, err := mine.decode(good, "party", fingerprint(req), time.Time{}); code(err) != "invalid_cursor" {
		t.Errorf("a search cursor on another surface: %v", err)
	}
}

// TestCursorKeyRotation: during a rotation the previous key still
// verifies; once retired it does not.
func TestCursorKeyRotation(t *testing.T) {
	now := t0
	req := &query.Request{}
	old := codec(t, key('a'), nil, &now).encode(state(req))
	rotating := codec(t, key('b'), key('a'), &now)
	if _, err := rotating.decode(old, surfaceSearch, fingerprint(req), time.Time{}); err != nil {
		t.Errorf("old key during rotation: %v", err)
	}
	retired := codec(t, key('b'), nil, &now)
	if _, err := retired.decode(old, surfaceSearch, fingerprint(req), time.Time{}); code(err) != "invalid_cursor" {
		t.Errorf("old key after rotation: %v", err)
	}
	fresh := rotating.encode(state(req))
	if _, err := retired.decode(fresh, surfaceSearch, fingerprint(req), time.Time{}); err != nil {
		t.Errorf("new cursors are signed with the new key: %v", err)
	}
}

func TestCursorConfig(t *testing.T) {
	for _, c := range []struct {
		cfg CursorConfig
		ok  bool
	}{
		{CursorConfig{Key: key('a')}, true},
		{CursorConfig{Key: key('a')[:31]}, false},
		{CursorConfig{}, false},
		{CursorConfig{Key: key('a'), PreviousKey: []byte("short")}, false},
		{CursorConfig{Key: key('a'), MaxAge: -1}, false},
	} {
		if _, err := NewCursors(c.cfg); (err == nil) != c.ok {
			t.Errorf("%+v: err %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
	for _, s := range []string{strings.Repeat("ab", 32), "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY"} {
		if k, err := ParseCursorKey(s); err != nil || len(k) < 32 {
			t.Errorf("ParseCursorKey(%q) = %d bytes, %v", s, len(k), err)
		}
	}
	if _, err := ParseCursorKey("not a key!"); err == nil {
		t.Error("ParseCursorKey accepted junk")
	}
}

// FuzzDecodeCursor: decoding never panics, fails only with an
// *query.InvalidError for field "cursor", and accepts only what it signed.
func FuzzDecodeCursor(f *testing.F) {
	now := t0
	c := codec(f, key('a'), nil, &now)
	req := &query.Request{Query: "red dress"}
	f.Add(c.encode(state(req)))
	f.Add(c.encode(&cursorState{Surface: surfaceSearch, Sort: query.SortRelevance, At: t0.UnixMilli(), Req: fingerprint(req), Score: 3.25, ID: "l"}))
	for _, s := range []string{"", ".", "e30.", "e30.AAAA", "!!", "eyJ2IjoxfQ.c2ln"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := c.decode(s, surfaceSearch, fingerprint(req), time.Time{})
		if err != nil {
			if code(err) == "" || strings.HasPrefix(code(err), "not an") {
				t.Fatalf("error %v", err)
			}
			return
		}
		if back := c.encode(st); back != s {
			// JSON may spell the same state differently; it must verify.
			if _, err := c.decode(back, surfaceSearch, fingerprint(req), time.Time{}); err != nil {
				t.Fatalf("re-encoded cursor does not verify: %v", err)
			}
		}
	})
}
