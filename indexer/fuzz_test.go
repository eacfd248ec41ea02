package indexer

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rummage/rummage/indexer/change"
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
		if _, err := rowChange(e); err != nil && !errors.Is(err, change.ErrInvalid) {
			t.Fatalf("row change error %v", err)
		}
	})
}
