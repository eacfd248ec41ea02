package testpg

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestNewGivesAnEmptyDatabase(t *testing.T) {
	conn := Connect(t, New(t, Options{}))
	ctx := context.Background()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("new database has %d tables, want 0", n)
	}
}

func TestSetupRunsOnTheNewDatabase(t *testing.T) {
	var got string
	dsn := New(t, Options{Setup: func(ctx context.Context, url string) error {
		got = url
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE made_by_setup (id int)")
		return err
	}})
	if got != dsn {
		t.Fatalf("Setup ran on %q, want the new database %q", got, dsn)
	}
	var n int
	if err := Connect(t, dsn).QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename = 'made_by_setup'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("table made by Setup: %d, %v", n, err)
	}
}
