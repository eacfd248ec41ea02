package reference_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/reference"
)

// open returns an empty engine with the shipped brand aliases.
func open(t testing.TB) *reference.Engine {
	t.Helper()
	a, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		t.Fatal(err)
	}
	e, err := reference.New(a)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	if *update {
		t.Skip("-update rewrites the expectations this would check")
	}
	conformance.Run(t, func(t *testing.T) query.Backend { return open(t) })
}

var update = flag.Bool("update", false, "rewrite the conformance expectations (query/conformance/testdata/cases.json) from the reference")

// TestUpdateCases regenerates the conformance expectations with -update;
// without it, it checks that they are what the reference answers.
func TestUpdateCases(t *testing.T) {
	got := conformance.UpdateCases(t, open(t))
	path := filepath.Join("..", "conformance", conformance.CasesFile)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the reference answers; run go test ./query/reference -update and review the diff", path)
	}
}
