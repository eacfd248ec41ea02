package embedded

import (
	"reflect"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query/conformance"
)

func TestRecordRoundTrip(t *testing.T) {
	docs, err := conformance.Listings()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	full := rummage.Listing{
		ID: "full", SellerID: "s1", Title: "Title ünïcode", Description: "d", Brand: "B",
		Category: []string{"A", "B"}, Size: "32x30", Condition: rummage.ConditionFair,
		PriceCents: 1, OriginalPriceCents: 2, Colors: []string{"red", "blue"}, Tags: []string{"y2k"},
		Images: []rummage.Image{{URL: "u", Width: 1, Height: 2}}, Status: rummage.StatusReserved,
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), AvailableAt: &at, LikeCount: 3, ShareCount: 4, LastSharedAt: &at,
	}
	minimal := rummage.Listing{ID: "min", SellerID: "s", Title: "t", Status: rummage.StatusAvailable}
	docs = append(docs, full, minimal)
	for _, l := range docs {
		t.Run(l.ID, func(t *testing.T) {
			b, err := encodeRecord(nil, &l, 42)
			if err != nil {
				t.Fatal(err)
			}
			got, v, ok, err := decodeListing(l.ID, b)
			if err != nil || !ok || v != 42 {
				t.Fatalf("decode: %v ok=%v version=%d", err, ok, v)
			}
			want := utc(l)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", *got, want)
			}
		})
	}
	t.Run("tombstone", func(t *testing.T) {
		b, _ := encodeRecord(nil, nil, 7)
		_, v, ok, err := decodeListing("x", b)
		if err != nil || ok || v != 7 {
			t.Fatalf("tombstone: v=%d ok=%v err=%v", v, ok, err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		b, _ := encodeRecord(nil, &full, 1)
		for n := 0; n < len(b); n++ {
			if _, _, _, err := decodeListing("x", b[:n]); err == nil {
				t.Fatalf("no error for a record cut at %d of %d bytes", n, len(b))
			}
		}
	})
}

// utc is l as a record reads it back: times in UTC, empty lists as nil.
func utc(l rummage.Listing) rummage.Listing {
	l.CreatedAt = l.CreatedAt.UTC()
	l.UpdatedAt = l.UpdatedAt.UTC()
	if l.AvailableAt != nil {
		t := l.AvailableAt.UTC()
		l.AvailableAt = &t
	}
	if l.LastSharedAt != nil {
		t := l.LastSharedAt.UTC()
		l.LastSharedAt = &t
	}
	for _, s := range []*[]string{&l.Tags, &l.Colors, &l.Category} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(l.Images) == 0 {
		l.Images = nil
	}
	return l
}
