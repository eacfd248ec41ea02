package embeddedtest_test

import (
	"context"
	"testing"

	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
)

func TestOpenInATempDir(t *testing.T) {
	var x *embedded.Index
	t.Run("open", func(t *testing.T) {
		x = embeddedtest.Open(t, embedded.Config{})
		st, err := x.Stats(context.Background())
		if err != nil || st.Documents != 0 {
			t.Fatalf("new index: %+v, %v; want empty", st, err)
		}
	})
	// The subtest's cleanup closed it.
	if _, err := x.Stats(context.Background()); err == nil {
		t.Error("index still open after its test ended")
	}
}
