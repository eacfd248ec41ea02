package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestBenchSearchTiny runs the whole bench at a tiny scale, so that the
// command keeps working: it must print one JSON object with every scenario
// measured on both engines, and reuse the index on a second run.
func TestBenchSearchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two small indexes")
	}
	dir := t.TempDir()
	args := []string{"--listings", "2000", "--iterations", "5", "--json", "--quiet", "--index-dir", dir}
	var out, errOut bytes.Buffer
	if err := benchSearchMain(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench search: %v\n%s", err, errOut.String())
	}
	var rep struct {
		Dataset struct {
			Listings, Visible int
		}
		Facets []string
		Build  struct {
			Main, Baseline *struct {
				Listings  int
				PerSecond float64 `json:"listings_per_second"`
				Reused    bool
			}
		}
		Memory struct {
			AfterWarmup struct {
				RSS int64 `json:"rss_bytes"`
			} `json:"after_warmup"`
		}
		Scenarios []struct {
			Name    string
			HitsMax int `json:"hits_max"`
			Status  string
			Rummage struct {
				Latency struct {
					N     int
					P50Ms float64 `json:"p50_ms"`
				}
			}
			Baseline *struct {
				Latency struct{ N int }
			}
			RatioP50 float64 `json:"ratio_p50"`
			Variants []struct {
				APIPath string `json:"api_path"`
			}
		}
		Checks []struct{ Name, Status string }
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("output holds more than one JSON value")
	}
	if rep.Dataset.Listings != 2000 || rep.Dataset.Visible == 0 || rep.Dataset.Visible > 2000 {
		t.Errorf("dataset = %+v", rep.Dataset)
	}
	if got := strings.Join(rep.Facets, ","); got != "brand,category,size,condition,price" {
		t.Errorf("facets = %s", got)
	}
	if rep.Build.Main == nil || rep.Build.Main.Listings != 2000 || rep.Build.Main.PerSecond <= 0 || rep.Build.Main.Reused {
		t.Errorf("main build = %+v", rep.Build.Main)
	}
	if rep.Build.Baseline == nil || rep.Build.Baseline.Listings != 2000 {
		t.Errorf("baseline build = %+v", rep.Build.Baseline)
	}
	if rep.Memory.AfterWarmup.RSS <= 0 {
		t.Error("no RSS reported")
	}
	want := []string{"text", "text_filters", "category_10k", "category_200k", "match_all",
		"sort_newest", "sort_price_asc", "sort_price_desc", "sort_recently_shared", "sort_relevance"}
	var got []string
	for _, s := range rep.Scenarios {
		got = append(got, s.Name)
		if s.Rummage.Latency.N != 5 || s.Baseline == nil || s.Baseline.Latency.N != 5 {
			t.Errorf("%s: not measured 5 times on both engines", s.Name)
		}
		if s.Rummage.Latency.P50Ms <= 0 || s.RatioP50 <= 0 {
			t.Errorf("%s: p50 %v ratio %v", s.Name, s.Rummage.Latency.P50Ms, s.RatioP50)
		}
		if s.HitsMax == 0 {
			t.Errorf("%s: no hits", s.Name)
		}
		if len(s.Variants) == 0 || !strings.HasPrefix(s.Variants[0].APIPath, "/v1/search?") {
			t.Errorf("%s: first variant has no API path: %+v", s.Name, s.Variants)
		}
		if s.Status != "n/a" {
			t.Errorf("%s: status %q below the target size", s.Name, s.Status)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scenarios = %v, want %v", got, want)
	}
	if len(rep.Checks) == 0 {
		t.Error("no checks")
	}

	// Second run: reuses both indexes; the table form prints.
	out.Reset()
	errOut.Reset()
	args = []string{"--listings", "2000", "--iterations", "2", "--index-dir", dir, "--baseline=false"}
	if err := benchSearchMain(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("second run: %v\n%s", err, errOut.String())
	}
	if strings.Contains(errOut.String(), "building") {
		t.Errorf("second run rebuilt:\n%s", errOut.String())
	}
	for _, s := range append(want, "reused", "PASS", "MISS") {
		if s == "PASS" || s == "MISS" {
			if strings.Contains(out.String(), s) {
				t.Errorf("%s printed below the target size", s)
			}
			continue
		}
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

func TestBenchUsage(t *testing.T) {
	var errOut bytes.Buffer
	if err := benchMain(context.Background(), []string{"nosuch"}, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("unknown benchmark: err = %v", err)
	}
	if !strings.Contains(errOut.String(), "search") {
		t.Errorf("usage does not list search:\n%s", errOut.String())
	}
	if err := benchMain(context.Background(), nil, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("no benchmark: err = %v", err)
	}
	var out bytes.Buffer
	for _, args := range [][]string{{"--listings", "0"}, {"--concurrency", "0"}, {"--now", "yesterday"}, {"--iterations", "0", "--duration", "0"}} {
		if err := benchSearchMain(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
}
