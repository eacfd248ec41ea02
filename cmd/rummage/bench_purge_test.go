package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/purgebench"
)

// TestBenchPurgeTiny runs rummage bench purge scaled down, with dev in
// this process on a private Postgres: every sale is measured on the pages
// that showed it, and none of them still shows it when polling ends. The
// latencies are printed, not asserted.
func TestBenchPurgeTiny(t *testing.T) {
	cfg := purgebench.Config{Config: tinyDev(t), Rate: 200, SaleRate: 2, PartyShareRate: 2,
		Warmup: 2 * time.Second, Duration: 3 * time.Second, Timeout: 20 * time.Second}
	rep, err := purgebench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if rep.SalesStarted != 6 || rep.Sales == 0 {
		t.Fatalf("%d sales started, %d measured; want 6 started and some measured (skipped: %v)", rep.SalesStarted, rep.Sales, rep.Skipped)
	}
	if rep.TimedOut != 0 {
		t.Errorf("%d sold listings were still on a cached page %v after the sale", rep.TimedOut, cfg.Timeout)
	}
	if rep.PagesByKind[purgebench.KindCategory] == 0 && rep.PagesByKind[purgebench.KindSubcategory] == 0 {
		t.Errorf("no category page showed a sold listing: %v", rep.PagesByKind)
	}
	if rep.ListingPage.N != rep.Sales || rep.Changes == 0 || rep.Polls == 0 {
		t.Errorf("listing pages %d of %d sales, %d changes, %d polls", rep.ListingPage.N, rep.Sales, rep.Changes, rep.Polls)
	}
	for _, want := range []string{"purge      COMMIT", "over-purge", "cpu "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// TestBenchPurgeFlags: bad settings are usage errors, and --help explains
// the bench.
func TestBenchPurgeFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"--rate", "10", "--sale-rate", "5"}, {"--listings", "10"}, {"--pollers", "-1"}} {
		if err := benchPurgeMain(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	errOut.Reset()
	if err := benchPurgeMain(context.Background(), []string{"--help"}, &out, &errOut); err != nil && !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(errOut.String(), "sold listing") || !strings.Contains(errOut.String(), "--sale-rate") {
		t.Errorf("--help:\n%s", errOut.String())
	}
}
