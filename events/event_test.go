package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateClient(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		e    Event
		bad  string // substring of the error; "" for valid
	}{
		{"click", Event{Type: Click, ListingID: "l1", QueryID: "q", Position: 3, Surface: "search"}, ""},
		{"view without listing", Event{Type: View, Surface: "party", PartyID: "p1"}, ""},
		{"impression from a client", Event{Type: Impression, ListingID: "l1"}, "type"},
		{"unknown type", Event{Type: "buy", ListingID: "l1"}, "type"},
		{"click without listing", Event{Type: Click}, "listing_id"},
		{"negative position", Event{Type: Click, ListingID: "l1", Position: -1}, "position"},
		{"unknown surface", Event{Type: Click, ListingID: "l1", Surface: "elsewhere"}, "surface"},
		{"far future", Event{Type: Click, ListingID: "l1", At: now.Add(48 * time.Hour)}, "clock"},
		{"long id", Event{Type: Click, ListingID: strings.Repeat("x", 129)}, "128"},
	}
	for _, c := range cases {
		err := c.e.ValidateClient(now)
		if c.bad == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.bad) {
			t.Errorf("%s: error %v, want ErrInvalid mentioning %q", c.name, err, c.bad)
		}
	}
}

func TestPseudonymizer(t *testing.T) {
	if _, err := NewPseudonymizer([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	a, _ := NewPseudonymizer([]byte("0123456789abcdef"))
	b, _ := NewPseudonymizer([]byte("0123456789abcdeF"))
	if a.Of("u1") != a.Of("u1") || a.Of("u1") == a.Of("u2") || a.Of("u1") == b.Of("u1") {
		t.Fatal("pseudonyms must be stable per key, distinct per user and per key")
	}
	if p := a.Of("u1"); !strings.HasPrefix(p, "h_") || len(p) != 24 || strings.Contains(p, "u1") {
		t.Fatalf("pseudonym %q", p)
	}
	if a.Of("") != "" {
		t.Fatal("anonymous must stay anonymous")
	}
}
