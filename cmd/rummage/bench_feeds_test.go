package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rummage/rummage/internal/testpg"
)

// TestBenchFeedsSmall runs the whole feeds bench at a small scale against
// Postgres: one JSON object with every scenario measured on the feed and
// in SQL, first pages that agree, the signals memory; a second run reuses
// the database and the index.
func TestBenchFeedsSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a small data set into Postgres, an index and a signals store")
	}
	dbURL := testpg.Missing(t)
	dir := t.TempDir()
	args := []string{"--listings", "10000", "--iterations", "3", "--baseline-iterations", "2", "--warmup", "1",
		"--json", "--quiet", "--database-url", dbURL, "--index-dir", dir}
	var out, errOut bytes.Buffer
	if err := benchFeedsMain(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench feeds: %v\n%s", err, errOut.String())
	}
	var rep struct {
		Data struct {
			Listings               int
			Follows, Shares, Likes int64
			LiveParty              struct{ ID string } `json:"live_party"`
		}
		Postgres struct {
			TotalRows  int64   `json:"total_rows"`
			RowsPerSec float64 `json:"rows_per_second"`
			Reused     bool
		}
		Index struct {
			Listings int
			Reused   bool
		}
		Memory struct {
			BytesPerShare  float64 `json:"bytes_per_share"`
			BytesPerFollow float64 `json:"bytes_per_follow"`
			TotalBytes     int64   `json:"total_bytes"`
		} `json:"signals_memory"`
		Scenarios []struct {
			Name     string
			Status   string
			Rummage  struct{ N int }
			Baseline struct{ N int }
			RatioP50 float64 `json:"ratio_p50"`
		}
		Checks []struct {
			Scenario, Request string
			Agree             bool
			FeedIDs           []string `json:"feed_ids"`
		}
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("output holds more than one JSON value")
	}
	if rep.Data.Listings != 10000 || rep.Data.Follows == 0 || rep.Data.Shares == 0 || rep.Data.Likes == 0 || rep.Data.LiveParty.ID == "" {
		t.Errorf("data = %+v", rep.Data)
	}
	if rep.Postgres.TotalRows < int64(rep.Data.Listings)+rep.Data.Follows+rep.Data.Shares+rep.Data.Likes || rep.Postgres.RowsPerSec <= 0 || rep.Postgres.Reused {
		t.Errorf("postgres = %+v", rep.Postgres)
	}
	if rep.Index.Listings != 10000 || rep.Index.Reused {
		t.Errorf("index = %+v", rep.Index)
	}
	if rep.Memory.BytesPerShare <= 0 || rep.Memory.BytesPerFollow <= 0 || rep.Memory.TotalBytes <= 0 {
		t.Errorf("memory = %+v", rep.Memory)
	}
	want := []string{"party_20k", "party_200k", "following_1000", "following_5000", "home"}
	var got []string
	for _, s := range rep.Scenarios {
		got = append(got, s.Name)
		if s.Rummage.N != 3 || s.Baseline.N != 2 {
			t.Errorf("%s: measured %d and %d times, want 3 and 2", s.Name, s.Rummage.N, s.Baseline.N)
		}
		if s.RatioP50 <= 0 || s.Status != "n/a" {
			t.Errorf("%s: ratio %v status %q", s.Name, s.RatioP50, s.Status)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scenarios = %v, want %v", got, want)
	}
	if len(rep.Checks) < len(want) {
		t.Errorf("%d checks", len(rep.Checks))
	}
	for _, c := range rep.Checks {
		if !c.Agree || len(c.FeedIDs) == 0 {
			t.Errorf("%s %s: feed and SQL disagree, or an empty page (%d ids)", c.Scenario, c.Request, len(c.FeedIDs))
		}
	}

	// Second run: the database and the index are reused; the table prints.
	out.Reset()
	errOut.Reset()
	args = []string{"--listings", "10000", "--iterations", "2", "--baseline-iterations", "1", "--warmup", "0",
		"--database-url", dbURL, "--index-dir", dir}
	if err := benchFeedsMain(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("second run: %v\n%s", err, errOut.String())
	}
	for _, s := range []string{"reusing the data set", "index: reusing"} {
		if !strings.Contains(errOut.String(), s) {
			t.Errorf("second run's progress lacks %q:\n%s", s, errOut.String())
		}
	}
	for _, s := range append(want, "cross-check", "B/share", "rows/s") {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

func TestBenchFeedsUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"--listings", "0"}, {"--now", "yesterday"}, {"--iterations", "-1"}, {"--database-url", ""}} {
		if err := benchFeedsMain(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
}
