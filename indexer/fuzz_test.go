package indexer

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/signals"
)

// FuzzDecodeEvent feeds arbitrary keys and values (outside input: anything
// can be on a topic) through decoding and the listing transform. It must
// never panic, and whatever it accepts must be applicable: a versioned event
// of a known op and table, and a listing change with an id whose document
// passes Validate. The seed corpus is testdata/fuzz/FuzzDecodeEvent plus the
// Debezium examples.
func FuzzDecodeEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "debezium", "*.json"))
	for _, p := range files {
		k, v := loadMessage(f, p)
		f.Add(k, v)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		// The one-pass envelope decoding agrees with change.Unmarshal.
		want, werr := change.Unmarshal(key, value)
		got, gerr := unmarshalEvent(key, value)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("unmarshalEvent error %v, change.Unmarshal %v", gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("unmarshalEvent %+v, change.Unmarshal %+v", got, want)
		}
		e, err := DecodeEvent("rummage.public.listings", key, value)
		if err != nil {
			if !errors.Is(err, ErrTombstone) && !errors.Is(err, change.ErrInvalid) {
				t.Fatalf("error %v wraps neither ErrTombstone nor ErrInvalid", err)
			}
			return
		}
		if !e.Op.Valid() || e.Version() == 0 || e.Source.Table == "" {
			t.Fatalf("accepted an unusable event: %+v", e)
		}
		c, reason, err := listingChange(e)
		if err != nil {
			if reason == "" {
				t.Fatalf("error without a dead-letter reason: %v", err)
			}
			return
		}
		if c.ID == "" || c.Version != e.Version() {
			t.Fatalf("change %+v", c)
		}
		if c.Delete != (c.Doc == nil) {
			t.Fatalf("delete %v with doc %v", c.Delete, c.Doc)
		}
		if c.Doc != nil {
			if err := c.Doc.Validate(); err != nil {
				t.Fatalf("accepted an invalid document: %v", err)
			}
			if c.Doc.ID != c.ID {
				t.Fatalf("id %q vs doc id %q", c.ID, c.Doc.ID)
			}
		}
	})
}

// FuzzSocialChange feeds arbitrary rows of every social table through its
// decoder (the rows are outside input: whatever the marketplace's tables
// hold). It must never panic; a row it rejects is a *TransformError (a bad
// row, dead-lettered); a change it accepts has the event's version, exactly
// the row field of its table, its key columns, and for a party outside a
// delete a theme that reads back the same. The seed corpus is
// testdata/fuzz/FuzzSocialChange.
func FuzzSocialChange(f *testing.F) {
	f.Add("likes", false, []byte(`{"user_id":"u1","listing_id":"l1","created_at":"2026-03-04T05:06:07Z"}`))
	f.Fuzz(func(t *testing.T, table string, del bool, row []byte) {
		op := change.OpCreate
		if del {
			op = change.OpDelete
		}
		e := change.Event{Op: op, Source: change.Source{Table: table, LSN: 7}}
		if del {
			e.Before = row
		} else {
			e.After = row
		}
		c, err := SocialChange(e)
		if !IsSocialTable(table) {
			if err == nil {
				t.Fatalf("accepted table %q", table)
			}
			return
		}
		if err != nil {
			var te *TransformError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a TransformError", err)
			}
			return
		}
		if c.Version != 7 || c.Delete != del || c.Truncate != "" || changeTable(c) != table {
			t.Fatalf("change %s for table %s", show(c), table)
		}
		set := 0
		for _, p := range []bool{c.Seller != nil, c.Follow != nil, c.Like != nil, c.Share != nil, c.Party != nil, c.Block != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("%d row fields set: %s", set, show(c))
		}
		switch {
		case c.Seller != nil && (c.Seller.ID == "" || c.Seller.Status != signals.SellerActive && c.Seller.Status != signals.SellerSuspended),
			c.Follow != nil && (c.Follow.Follower == "" || c.Follow.Seller == ""),
			c.Like != nil && (c.Like.User == "" || c.Like.Listing == ""),
			c.Block != nil && (c.Block.User == "" || c.Block.Seller == ""),
			c.Party != nil && c.Party.ID == "",
			c.Share != nil && !del && (c.Share.User == "" || c.Share.Listing == ""):
			t.Fatalf("accepted a row without its key: %s", show(c))
		}
		if c.Party != nil && !del {
			b, err := json.Marshal(c.Party.Theme)
			if err != nil {
				t.Fatal(err)
			}
			th, err := signals.ParseTheme(b)
			if err != nil || !reflect.DeepEqual(th, c.Party.Theme) {
				t.Fatalf("theme %s reads back as %+v, %v", b, th, err)
			}
		}
	})
}
