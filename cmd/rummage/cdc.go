package main

import (
	"context"
	"errors"
)

// runCDC is not built yet; see the open issues.
func runCDC(ctx context.Context, args []string) error {
	return errors.New("cdc: not implemented yet")
}
