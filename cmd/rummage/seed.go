package main

import (
	"context"
	"errors"
)

// runSeed is not built yet; see the open issues.
func runSeed(ctx context.Context, args []string) error {
	return errors.New("seed: not implemented yet")
}
