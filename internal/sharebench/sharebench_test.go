package sharebench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/internal/testpg"
)

// TestRunTiny: at a tiny scale every offered share is committed in its
// mode, the trigger counts exactly the shares of its steps, the WAL grows,
// and the private schema is gone afterwards.
func TestRunTiny(t *testing.T) {
	url := testpg.New(t, testpg.Options{})
	ctx := context.Background()
	var log bytes.Buffer
	res, err := Run(ctx, Config{DatabaseURL: url, Listings: 300, Clients: 3, Rates: []float64{40, 80}, Step: 500 * time.Millisecond, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 4 || !res.Steps[0].Trigger || res.Steps[1].Trigger || res.Steps[2].Offered != 80 {
		t.Fatalf("steps %+v", res.Steps)
	}
	for _, s := range res.Steps {
		want := int(s.Offered * 0.5)
		if s.Shares+s.Errors > want || s.Errors != 0 || s.Shares == 0 || s.WALBytes <= 0 || s.Commit.N != s.Shares {
			t.Errorf("step %+v: want %d shares, no errors, WAL written", s, want)
		}
	}
	if !res.CountersConsistent {
		t.Error("counters differ from the shares committed with the trigger on")
	}
	var out bytes.Buffer
	res.WriteText(&out)
	if !strings.Contains(out.String(), "counters consistent with the shares the trigger saw: true") || strings.Count(out.String(), "\n") != 7 {
		t.Errorf("report:\n%s", out.String())
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'sharebench_%'").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d private schemas left (%v)", left, err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		c  Config
		ok bool
	}{
		{Config{DatabaseURL: "x"}, true},
		{Config{}, false},
		{Config{DatabaseURL: "x", Zipf: 1}, false},
		{Config{DatabaseURL: "x", Rates: []float64{100, -1}}, false},
		{Config{DatabaseURL: "x", Clients: -2}, false},
	} {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok %v", tt.c, err, tt.ok)
		}
	}
}
