package memory

import (
	"testing"

	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/signalstest"
)

// TestCodecRoundTrip: every change and position of a stream decodes to
// what was encoded.
func TestCodecRoundTrip(t *testing.T) {
	for _, b := range signalstest.Stream(13, 500) {
		var e enc
		for i := range b.Changes {
			if err := e.change(&b.Changes[i]); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range b.Positions {
			e.position(p)
		}
		d := dec{b: e.b}
		var got signals.Batch
		for len(d.b) > 0 {
			c, p, err := d.next()
			if err != nil {
				t.Fatal(err)
			}
			if p != nil {
				got.Positions = append(got.Positions, *p)
			} else {
				got.Changes = append(got.Changes, *c)
			}
		}
		if len(got.Changes) != len(b.Changes) || len(got.Positions) != len(b.Positions) {
			t.Fatalf("decoded %d changes %d positions, want %d, %d", len(got.Changes), len(got.Positions), len(b.Changes), len(b.Positions))
		}
		for i := range b.Changes {
			var e1, e2 enc
			e1.change(&b.Changes[i])
			e2.change(&got.Changes[i])
			if string(e1.b) != string(e2.b) {
				t.Fatalf("change %d: %+v decoded as %+v", i, b.Changes[i], got.Changes[i])
			}
		}
	}
}

// FuzzLogFrame: whatever a damaged log frame holds, recovery applies it or
// reports it corrupt, and never panics.
func FuzzLogFrame(f *testing.F) {
	for _, b := range signalstest.Stream(17, 60)[:6] {
		var e enc
		for i := range b.Changes {
			e.change(&b.Changes[i])
		}
		for _, p := range b.Positions {
			e.position(p)
		}
		f.Add(e.b)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		st := newState()
		_ = applyFrame(st, p)
		positionList(st.positions)
		st.topEngaged(0, 1<<50, 1000, 10)
	})
}
