package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLoadtestUsage: --target is required, a bad scenario is a usage
// error, and --help explains the scenarios.
func TestLoadtestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--target", "http://127.0.0.1:1", "--scenario", "nope"}, {"--target", "ftp://x"}} {
		var out, errOut bytes.Buffer
		if err := loadtestMain(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error (%s)", args, err, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	_ = loadtestMain(context.Background(), []string{"--help"}, &out, &errOut)
	for _, want := range []string{"party-start", "drop", "search-mix", "-target", "-lag-limit", "FAILS"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if err := benchSpikeMain(context.Background(), []string{"--only", "both"}, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("bench spike --only both: %v, want a usage error", err)
	}
}

// TestLoadtestJSON runs a short search-mix against a stub API and reads
// the --json report.
func TestLoadtestJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/search":
			fmt.Fprint(w, `{"total":1,"hits":[{"id":"l1","title":"blue denim jacket","brand":"Levi's","size":"M","category":["Women","Coats"]}],"facets":{},"next_cursor":null}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	args := []string{"--target", srv.URL, "--scenario", "search-mix", "--duration", "1s", "--rate", "50", "--json", "--quiet"}
	if err := loadtestMain(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep struct {
		Sent   int
		Status map[string]int
		Pass   bool
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !rep.Pass || rep.Sent != 50 || rep.Status["200"] != 50 {
		t.Errorf("report %+v", rep)
	}
}
