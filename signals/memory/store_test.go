package memory

import (
	"testing"

	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/signalstest"
)

func TestConformanceInMemory(t *testing.T) {
	signalstest.Run(t, signalstest.Harness{
		Open: func(t *testing.T) signals.Store {
			s, err := Open("")
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestConformanceOnDisk(t *testing.T) {
	for _, snap := range []int64{0, 512} { // the default, and a snapshot every few batches
		t.Run(map[int64]string{0: "log", 512: "snapshots"}[snap], func(t *testing.T) {
			open := func(t *testing.T, dir string) *Store {
				s, err := OpenConfig(Config{Dir: dir, SnapshotBytes: snap})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			signalstest.Run(t, signalstest.Harness{
				Open: func(t *testing.T) signals.Store { return open(t, t.TempDir()) },
				Reopen: func(t *testing.T, s signals.Store) signals.Store {
					m := s.(*Store)
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					return open(t, m.cfg.Dir)
				},
			})
		})
	}
}

// TestConformanceHeapMerge runs the suite with SharedBy and Activity
// merging timelines through the heap (the suite's windows are small, so by
// default they gather and sort).
func TestConformanceHeapMerge(t *testing.T) {
	defer func(f int) { gatherFactor = f }(gatherFactor)
	gatherFactor = 0
	TestConformanceInMemory(t)
}

// TestConformanceChains runs the suite with party walks looking their
// listings up along their chains rather than in the party's log.
func TestConformanceChains(t *testing.T) {
	defer func(m int) { partyScanMin = m }(partyScanMin)
	partyScanMin = -1 << 20
	TestConformanceInMemory(t)
}
