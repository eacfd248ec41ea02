package embedded

import (
	"fmt"
	"hash/maphash"
	"testing"
)

func TestIDTable(t *testing.T) {
	tab := newIDTable()
	for i := range 1000 {
		if o := tab.add(fmt.Sprintf("id-%d", i)); o != uint32(i) {
			t.Fatalf("add: ordinal %d, want %d", o, i)
		}
	}
	view := tab.frozen()
	tab.add("later") // must not show in the frozen view
	if view.len() != 1000 || tab.len() != 1001 {
		t.Fatalf("len: view %d table %d", view.len(), tab.len())
	}
	for i := range 1000 {
		id := fmt.Sprintf("id-%d", i)
		if o, ok := tab.lookup(id); !ok || o != uint32(i) {
			t.Errorf("lookup(%q) = %d, %v", id, o, ok)
		}
		if o, ok := tab.lookupBytes([]byte(id)); !ok || o != uint32(i) {
			t.Errorf("lookupBytes(%q) = %d, %v", id, o, ok)
		}
		if got := view.str(uint32(i)); got != id {
			t.Errorf("str(%d) = %q", i, got)
		}
	}
	if _, ok := tab.lookup("id-1000"); ok {
		t.Error("found an id never added")
	}
	if tab.compare(10, 2) >= 0 || tab.compare(2, 10) <= 0 || tab.compare(5, 5) != 0 {
		t.Error(`compare does not order "id-10" < "id-2" as strings do`)
	}
}

// TestIDTableClash forces two ids onto one hash: both must still be found,
// and an absent id with that hash must not be.
func TestIDTableClash(t *testing.T) {
	tab := newIDTable()
	a := tab.add("a")
	tab.byHash[maphash.String(tab.seed, "b")] = a // "b" now hashes to a taken slot
	tab.byHash[maphash.String(tab.seed, "c")] = a
	b := tab.add("b")
	if len(tab.clash) != 1 {
		t.Fatalf("clash holds %d ids, want 1", len(tab.clash))
	}
	for id, want := range map[string]uint32{"a": a, "b": b} {
		if o, ok := tab.lookup(id); !ok || o != want {
			t.Errorf("lookup(%q) = %d, %v; want %d", id, o, ok, want)
		}
		if o, ok := tab.lookupBytes([]byte(id)); !ok || o != want {
			t.Errorf("lookupBytes(%q) = %d, %v; want %d", id, o, ok, want)
		}
	}
	if o, ok := tab.lookup("c"); ok {
		t.Errorf("lookup(c) = %d for an id never added", o)
	}
}
