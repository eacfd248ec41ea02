package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/rummage/rummage/internal/devbench"
	"github.com/rummage/rummage/internal/devpg"
	"github.com/rummage/rummage/internal/testpg"
)

// tinyDev is how a scaled-down bench runs the whole dev stack (bench
// purge, bench sharerate): in this process, on a private Postgres in a
// directory the postgres user reaches when the test runs as root, with
// 1,500 listings. It skips under -short, and fails under CI=true without
// Postgres's binaries.
func tinyDev(t *testing.T) devbench.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole dev stack")
	}
	if _, err := devpg.FindBinDir(context.Background()); err != nil {
		testpg.Unavailable(t, "%v", err)
	}
	t.Setenv("DATABASE_URL", "")
	return devbench.Config{Dir: filepath.Join(testpg.OpenDir(t), "bench"), Listings: 1500, Serve: devInProcess}
}

// devInProcess runs dev in this process, as a bench's Serve (one
// partition: the tiny benches' streams are small).
func devInProcess(ctx context.Context, args []string) error {
	return devMain(ctx, append(args, "--partitions", "1"), io.Discard, devHooks{})
}
