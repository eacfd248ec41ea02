package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/rummage/rummage/internal/devpg"
	"github.com/rummage/rummage/internal/testpg"
)

// devBenchDir is the directory of a scaled-down bench that runs the whole
// dev stack on a private Postgres (bench purge, bench sharerate): a
// directory the postgres user reaches when the test runs as root. It
// skips under -short, and fails under CI=true without Postgres's binaries.
func devBenchDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole dev stack")
	}
	if _, err := devpg.FindBinDir(context.Background()); err != nil {
		testpg.Unavailable(t, "%v", err)
	}
	t.Setenv("DATABASE_URL", "")
	return filepath.Join(testpg.OpenDir(t), "bench")
}

// devInProcess runs dev in this process, as a bench's Serve (one
// partition: the tiny benches' streams are small).
func devInProcess(ctx context.Context, args []string) error {
	return devMain(ctx, append(args, "--partitions", "1"), io.Discard, devHooks{})
}
