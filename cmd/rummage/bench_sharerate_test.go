package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/shareratebench"
)

// TestBenchSharerateTiny runs rummage bench sharerate scaled down, with
// dev in this process on a private Postgres: every step's shares reach
// the top of the party feed, the trigger's listing updates go down the
// pipeline beside its shares (and only with the trigger), and every
// party's share_count equals SQL's. The latencies are printed, not
// asserted.
func TestBenchSharerateTiny(t *testing.T) {
	cfg := shareratebench.Config{Config: tinyDev(t), Rates: []float64{40, 80}, Step: time.Second, Tail: time.Second,
		Clients: 4, KeepGoing: true}
	rep, err := shareratebench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if len(rep.Steps) != 4 {
		t.Fatalf("%d steps, want 2 rates × 2 modes", len(rep.Steps))
	}
	for _, s := range rep.Steps {
		if s.Shares == 0 || s.Errors != 0 || s.Seen+s.Displaced == 0 {
			t.Errorf("trigger=%v %.0f/s: %d shares, %d errors, %d seen, %d displaced", s.Trigger, s.Offered, s.Shares, s.Errors, s.Seen, s.Displaced)
		}
		perShare := s.Events / float64(max(s.Shares, 1))
		if s.Trigger && perShare < 1.5 || !s.Trigger && perShare > 1.2 {
			t.Errorf("trigger=%v %.0f/s: %.0f indexer events for %d shares (the trigger adds a listing update per share)", s.Trigger, s.Offered, s.Events, s.Shares)
		}
	}
	if !rep.Counts.OK {
		t.Errorf("share counts differ from SQL: %+v", rep.Counts)
	}
	for _, want := range []string{"vis p99", "pg-walsender", "sustained", "counts "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// TestBenchSharerateFlags: bad settings are usage errors, and --help
// explains the bench.
func TestBenchSharerateFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"--rates", "100,x"}, {"--rates", "-5"}, {"--listings", "10"}, {"--zipf", "1"}, {"--step", "10ms"}, {"--pollers", "0"}} {
		if err := benchSharerateMain(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	errOut.Reset()
	if err := benchSharerateMain(context.Background(), []string{"--help"}, &out, &errOut); err != nil && !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(errOut.String(), "top of the feed") || !strings.Contains(errOut.String(), "--keep-going") {
		t.Errorf("--help:\n%s", errOut.String())
	}
}
