package testpg

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestClusterSurvivesRestarts(t *testing.T) {
	c := NewCluster(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	var level, fsync string
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_setting('fsync')").Scan(&level, &fsync); err != nil {
		t.Fatal(err)
	}
	if level != "logical" || fsync != "on" {
		t.Fatalf("wal_level %s fsync %s", level, fsync)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	for _, mode := range []string{Fast, Immediate} {
		c.Restart(t, mode)
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			t.Fatalf("after %s restart: %v", mode, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
			t.Fatalf("after %s restart: %d rows, %v", mode, n, err)
		}
		conn.Close(ctx)
	}
}
