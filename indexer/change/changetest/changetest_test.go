package changetest

import (
	"testing"

	"github.com/rummage/rummage/indexer/change"
)

func TestEventRoundTrips(t *testing.T) {
	for _, op := range []change.Op{change.OpCreate, change.OpUpdate, change.OpDelete, change.OpRead} {
		e := Event(op, "p", "listings", "l1", 42, `{"id":"l1"}`)
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := change.Unmarshal(e.Key, b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Op != op || string(got.Row()) != `{"id":"l1"}` || got.Version() != 42 || got.Topic("p") != "p.public.listings" || string(got.Key) != `{"id":"l1"}` {
			t.Errorf("%s: decoded %+v", op, got)
		}
		if (op == change.OpDelete) != (e.After == nil) {
			t.Errorf("%s: after %s, before %s: a delete carries the row in before, the rest in after", op, e.After, e.Before)
		}
	}
}
