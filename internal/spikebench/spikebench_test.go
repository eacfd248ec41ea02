package spikebench

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/signals/memory"
)

// TestWriteSignals: the bench's party is live, themed on a category root,
// and every listing shared into it (PartyShares of them) is of that root
// and of the seeded catalog.
func TestWriteSignals(t *testing.T) {
	cfg := Config{Listings: 2000, Seed: 3, PartyShares: 300}
	dir := filepath.Join(t.TempDir(), "signals")
	if err := writeSignals(context.Background(), &cfg, dir); err != nil {
		t.Fatal(err)
	}
	st, err := memory.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	p, err := st.Party(ctx, PartyID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if !p.StartsAt.Before(now) || !p.EndsAt.After(now.Add(time.Hour)) || len(p.Theme.Filters.Category) != 1 {
		t.Fatalf("party %+v", p)
	}
	shares, n, err := st.PartyShares(ctx, PartyID, p.StartsAt, now)
	if err != nil || n != cfg.PartyShares || len(shares) != cfg.PartyShares {
		t.Fatalf("%d shares (%d listings), %v; want %d", n, len(shares), err, cfg.PartyShares)
	}
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: cfg.Seed, Count: cfg.Listings})
	if err != nil {
		t.Fatal(err)
	}
	root := map[string]string{}
	for i := range cfg.Listings {
		l := g.Listing(i)
		root[l.ID] = strings.Join(l.Category[:1], "")
	}
	for _, s := range shares {
		if r, ok := root[s.Listing]; !ok || r != p.Theme.Filters.Category[0] {
			t.Fatalf("shared %s of root %q (known %v), party on %q", s.Listing, r, ok, p.Theme.Filters.Category[0])
		}
	}
}
