package embedded_test

import (
	"testing"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
)

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
	conformance.Run(t, func(t *testing.T) query.Backend {
		return embeddedtest.Open(t, embedded.Config{Aliases: shippedAliases(t)})
	})
}
