package bootstrap

import (
	"context"
	"strings"
	"testing"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

func count(t *testing.T, b query.Backend) int64 {
	t.Helper()
	st, err := b.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Documents
}

// TestPrepare: a build into an empty index, a reuse, a refusal of another
// source, and of an index it did not build when a file is asked for.
func TestPrepare(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	x, err := embedded.Open(ctx, embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	cfg := Config{Dir: dir, Source: SeedSource(1, 50)}
	if err := Prepare(ctx, x, 0, cfg); err != nil {
		t.Fatal(err)
	}
	n := count(t, x)
	if n == 0 || n > 50 {
		t.Fatalf("%d documents after building 50", n)
	}
	if err := Prepare(ctx, x, n, cfg); err != nil {
		t.Fatalf("reuse: %v", err)
	}
	other := cfg
	other.Source = SeedSource(2, 50)
	if err := Prepare(ctx, x, n, other); err == nil || !strings.Contains(err.Error(), "--rebuild") {
		t.Errorf("another source: err = %v, want a hint at --rebuild", err)
	}

	unmarked := t.TempDir()
	y, err := embedded.Open(ctx, embedded.Config{Dir: unmarked})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if _, err := Load(ctx, y, SeedSource(1, 10), Config{}); err != nil {
		t.Fatal(err)
	}
	file := Config{Dir: unmarked, Source: Source{Kind: "file", Path: "/x.jsonl"}, Explicit: true}
	if err := Prepare(ctx, y, count(t, y), file); err == nil || !strings.Contains(err.Error(), "not built by serve") {
		t.Errorf("an unmarked index for --data: err = %v", err)
	}
	if err := Prepare(ctx, y, count(t, y), Config{Dir: unmarked, Source: SeedSource(1, 10)}); err != nil {
		t.Errorf("an unmarked index without --data is served as it is: %v", err)
	}
}
