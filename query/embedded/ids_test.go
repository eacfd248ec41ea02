package embedded

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

func TestIDsListsLiveDocuments(t *testing.T) {
	ctx := context.Background()
	x, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var batch []query.Change
	for i := range 2500 { // more than one chunk
		id := fmt.Sprintf("l%04d", i)
		batch = append(batch, query.Change{ID: id, Version: uint64(10 + i), Doc: &rummage.Listing{
			ID: id, SellerID: "s", Title: "coat", Status: rummage.StatusAvailable, CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(1, 0).UTC()}})
	}
	if _, err := x.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Apply(ctx, []query.Change{{ID: "l0007", Version: 5000, Delete: true}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	err = x.IDs(ctx, func(id string, v uint64) error {
		if _, dup := got[id]; dup {
			return fmt.Errorf("%s listed twice", id)
		}
		got[id] = v
		// Get from inside fn must not deadlock.
		if id == "l0001" {
			if _, err := x.Get(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2499 || got["l0042"] != 52 {
		t.Fatalf("got %d ids, l0042 at version %d", len(got), got["l0042"])
	}
	if _, ok := got["l0007"]; ok {
		t.Fatal("deleted l0007 listed")
	}
	stop := errors.New("stop")
	n := 0
	if err := x.IDs(ctx, func(string, uint64) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn error: got %v after %d calls", err, n)
	}
}
