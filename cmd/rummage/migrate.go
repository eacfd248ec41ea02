package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rummage/rummage/fixtures"
)

func runMigrate(ctx context.Context, args []string) error {
	fs := newFlags("migrate", "[--database-url URL]",
		`Create or upgrade Rummage's tables (listings, sellers, follows, likes, shares,
parties) by applying the SQL migrations built into this binary, in order. Each
applied migration is recorded in schema_migrations, so running it again is a
no-op; a Postgres advisory lock makes concurrent runs wait for each other. It
fails if an applied migration differs from the built-in one.`)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres URL, e.g. postgres://postgres@127.0.0.1:5432/rummage (default $DATABASE_URL)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := requireDatabaseURL(fs, *dbURL); err != nil {
		return err
	}
	applied, err := fixtures.MigrateURL(ctx, *dbURL)
	for _, v := range applied {
		fmt.Fprintf(os.Stderr, "applied %s\n", v)
	}
	if err != nil {
		if errors.Is(err, fixtures.ErrMigrationChanged) {
			return fmt.Errorf("%w: the database was migrated by a different build; repair the schema by hand", err)
		}
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(os.Stderr, "schema is up to date")
	}
	return nil
}
