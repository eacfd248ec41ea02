package main

import (
	"context"
	"errors"
)

// runDev is not built yet; see the open issues.
func runDev(ctx context.Context, args []string) error {
	return errors.New("dev: not implemented yet")
}
