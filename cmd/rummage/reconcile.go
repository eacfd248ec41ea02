package main

import (
	"context"
	"errors"
)

// runReconcile is not built yet; see the open issues.
func runReconcile(ctx context.Context, args []string) error {
	return errors.New("reconcile: not implemented yet")
}
