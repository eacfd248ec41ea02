package embedded_test

import (
	"context"
	"testing"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/embedded"
)

func openTemp(t *testing.T) *embedded.Index {
	t.Helper()
	x, err := embedded.Open(context.Background(), embedded.Config{Dir: t.TempDir(), Aliases: shippedAliases(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Error(err)
		}
	})
	return x
}

// shippedAliases are the brand aliases rummage serve loads by default.
func shippedAliases(t testing.TB) query.Aliases {
	t.Helper()
	a, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) query.Backend { return openTemp(t) })
}
