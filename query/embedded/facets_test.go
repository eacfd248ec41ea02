package embedded

import (
	"context"
	"testing"
	"unsafe"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
)

// TestFacetPaths runs the conformance search cases with facets counted only
// by reading rows, and only by bitmaps.
func TestFacetPaths(t *testing.T) {
	defer func(f uint64) { facetScanFraction = f }(facetScanFraction)
	for name, frac := range map[string]uint64{"scan": 1, "bitmaps": 1 << 40} {
		t.Run(name, func(t *testing.T) {
			facetScanFraction = frac
			aliases, err := query.LoadAliases("", fixtures.BrandAliases())
			if err != nil {
				t.Fatal(err)
			}
			x, err := Open(context.Background(), Config{Dir: t.TempDir(), Aliases: aliases})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			conformance.RunSearch(t, x)
		})
	}
}

func TestRowFitsACacheLine(t *testing.T) {
	if n := unsafe.Sizeof(row{}); n > 64 {
		t.Errorf("row is %d bytes, want at most one 64-byte cache line", n)
	}
}
