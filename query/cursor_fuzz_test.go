package query

import (
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzDecodeCursor: DecodeCursor never panics, fails only with an
// *InvalidError for field "cursor", and what it accepts survives a round trip
// through Encode.
func FuzzDecodeCursor(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, r := range []Request{
		{},
		{Query: "red dress"},
		{Sort: SortPriceAsc, Filters: Filters{Brands: []string{"Nike"}}},
		{Sort: SortPriceDesc},
		{Sort: SortRecentlyShared},
	} {
		f.Add(r.NewCursor(now, 1234, "listing-1"))
	}
	f.Add((&Request{Query: "x"}).NewCursor(now, ScoreKey(3.25), "l"))
	for _, s := range []string{
		"", "e30", "bnVsbA", "W10", "!!", "eyJzIjoibmV3ZXN0In0",
		(&Cursor{Sort: SortRelevance, Key: ScoreKey(math.Inf(1)), ID: "x"}).Encode(),
		(&Cursor{Sort: "bogus", ID: "x"}).Encode(),
		(&Cursor{Sort: SortNewest}).Encode(),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCursor(s)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Field != "cursor" || ie.Code != "invalid_cursor" {
				t.Fatalf("DecodeCursor(%q) error %T %v, want an invalid_cursor *InvalidError", s, err, err)
			}
			return
		}
		if c.ID == "" || !validSort(c.Sort) {
			t.Fatalf("accepted %+v", c)
		}
		again, err := DecodeCursor(c.Encode())
		if err != nil {
			t.Fatalf("re-encoded cursor %+v does not decode: %v", c, err)
		}
		if *again != *c {
			t.Fatalf("round trip changed %+v to %+v", c, again)
		}
	})
}
