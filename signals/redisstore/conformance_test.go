package redisstore

import (
	"testing"

	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/signalstest"
)

// TestConformance runs the signals suite on Redis; Reopen closes the
// Store and opens a new one on the same prefix (another replica, or the
// applier restarted).
func TestConformance(t *testing.T) {
	signalstest.Run(t, signalstest.Harness{
		Open: func(t *testing.T) signals.Store { return openTest(t) },
		Reopen: func(t *testing.T, s signals.Store) signals.Store {
			old := s.(*Store)
			r := reopen(t, old)
			old.Close()
			return r
		},
	})
}
