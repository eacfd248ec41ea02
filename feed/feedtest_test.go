package feed_test

import (
	"testing"

	"github.com/rummage/rummage/feed/feedtest"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// TestFeedsOnTheEmbeddedStore runs the feed conformance cases on the
// embedded signals store (signals/redisstore runs them on Redis).
func TestFeedsOnTheEmbeddedStore(t *testing.T) {
	feedtest.Run(t, func(t *testing.T) signals.Store {
		s, err := memory.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
