package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/serve/admit"
)

func parseAdmit(t *testing.T, args ...string) (admitConfig, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := addAdmitFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.config()
}

func TestAdmitFlags(t *testing.T) {
	cfg, err := parseAdmit(t, "--rate-limit", "search=5:10", "--trusted-proxies", "10.0.0.0/8", "--time-budget", "/v1/search=2s")
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.rate.Kinds["search"]; r.PerSecond != 5 || r.Burst != 10 || len(cfg.rate.TrustedProxies) != 1 ||
		cfg.admission.Budgets["/v1/search"] != 2*time.Second || !cfg.rate.Address.Unlimited() {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range [][]string{
		{"--rate-limit", "nosuch=1"},
		{"--rate-limit-address", "x"},
		{"--trusted-proxies", "10.0.0.0/40"},
		{"--time-budget", "/v1/search"},
		{"--time-budget", "/v1/search=-1s"},
		{"--admission=false", "--time-budget", "/v1/search=1s"},
		{"--admission-floor", "10", "--admission-ceiling", "5"},
		{"--degrade-at", "2"},
		{"--degrade-at", "stale=0.5"},
	} {
		if _, err := parseAdmit(t, bad...); err == nil {
			t.Errorf("%s: accepted", strings.Join(bad, " "))
		}
	}
}

// --degrade-at: the default is admit.DefaultSteps; step=fraction pairs
// move the steps named.
func TestDegradeAtFlag(t *testing.T) {
	cfg, err := parseAdmit(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.admission.Steps != admit.DefaultSteps {
		t.Errorf("default steps %+v, want %+v", cfg.admission.Steps, admit.DefaultSteps)
	}
	cfg, err = parseAdmit(t, "--degrade-at", "facets=0.9,personalization=0.3")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.admission.Steps; s.Personalization != 0.3 || s.Limit != admit.DefaultSteps.Limit || s.Facets != 0.9 {
		t.Errorf("steps %+v", s)
	}
}
