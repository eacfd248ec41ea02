// Package embeddedtest opens embedded indexes for tests, as net/http/httptest
// starts servers: in a temporary directory, closed when the test ends.
//
// Only tests import it. It imports query/embedded and nothing that imports
// the index (no indexer, no api).
package embeddedtest

import (
	"context"
	"testing"

	"github.com/rummage/rummage/query/embedded"
)

// Open opens an index with cfg, in a new t.TempDir() when cfg.Dir is
// empty, and closes it when the test ends, failing the test if Close does.
// An index that does not open fails the test at once.
func Open(t testing.TB, cfg embedded.Config) *embedded.Index {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	x, err := embedded.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Error(err)
		}
	})
	return x
}
