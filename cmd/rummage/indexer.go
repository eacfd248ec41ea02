package main

import (
	"context"
	"errors"
)

// runIndexer is not built yet; see the open issues.
func runIndexer(ctx context.Context, args []string) error {
	return errors.New("indexer: not implemented yet")
}
