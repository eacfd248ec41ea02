package main

import (
	"context"
	"errors"
)

// runMigrate is not built yet; see the open issues.
func runMigrate(ctx context.Context, args []string) error {
	return errors.New("migrate: not implemented yet")
}
