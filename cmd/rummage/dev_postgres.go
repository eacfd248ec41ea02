package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rummage/rummage/internal/devpg"
)

// privateSeedCount is --seed-count's default on the private Postgres.
const privateSeedCount = 20000

// startPrivatePostgres starts dev's private Postgres (internal/devpg) in
// --postgres-dir, when no --database-url was given, and points dev at it;
// stop stops it.
func (o *devOptions) startPrivatePostgres(ctx context.Context) (stop func() error, err error) {
	pg, err := devpg.Start(ctx, devpg.Config{Dir: o.pgDir, Logger: o.log})
	if errors.Is(err, devpg.ErrNotInstalled) {
		return nil, fmt.Errorf("%w: install the Postgres server (Debian: apt-get install postgresql), or pass --database-url", err)
	}
	if err != nil {
		return nil, fmt.Errorf("the private Postgres: %w", err)
	}
	o.dbURL, *o.keys.dbURL, o.pipeline.DatabaseURL = pg.URL(), pg.URL(), pg.URL()
	return func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		return pg.Stop(ctx)
	}, nil
}
