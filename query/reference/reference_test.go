package reference_test

import (
	"testing"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/reference"
)

// open returns an empty engine with the shipped brand aliases.
func open(t testing.TB) *reference.Engine {
	t.Helper()
	a, err := query.LoadAliases("", fixtures.BrandAliases)
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
	conformance.Run(t, func(t *testing.T) query.Backend { return open(t) })
}
