package main

import (
	"context"
	"errors"
)

// runReindex is not built yet; see the open issues.
func runReindex(ctx context.Context, args []string) error {
	return errors.New("reindex: not implemented yet")
}
