package main

import (
	"context"
	"errors"
)

// runBench is not built yet; see the open issues.
func runBench(ctx context.Context, args []string) error {
	return errors.New("bench: not implemented yet")
}
