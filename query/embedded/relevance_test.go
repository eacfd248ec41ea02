package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

// TestCategoryWordRanksFirst: "leggings" stems to "leg", as does the
// "Wide-Leg" in a coat's title; the listing whose category is Leggings must
// rank above the coat, even though the coat is far more popular.
func TestCategoryWordRanksFirst(t *testing.T) {
	ctx := context.Background()
	x := open(t, embedded.Config{Dir: t.TempDir()})
	defer x.Close()
	created := now.Add(-24 * time.Hour)
	mk := func(id, title string, category []string, likes int64) query.Change {
		l := rummage.Listing{ID: id, SellerID: "s1", Title: title, Brand: "Lululemon", Category: category,
			Size: "M", Condition: "good", PriceCents: 5000, Status: "available", CreatedAt: created, UpdatedAt: created,
			LikeCount: likes}
		l.Normalize()
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		return query.Change{ID: id, Version: 1, Doc: &l}
	}
	if _, err := x.Apply(ctx, []query.Change{
		mk("coat", "Lululemon Wide-Leg Wrap Coat", []string{"Women", "Clothing", "Coats"}, 500),
		mk("leggings", "Lululemon Cotton Leggings", []string{"Women", "Clothing", "Pants", "Leggings"}, 0),
	}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"lulu leggings", "leggings"} {
		res := search(t, x, query.Request{Query: q})
		if got := hitIDs(res); len(got) != 2 || got[0] != "leggings" {
			t.Errorf("q=%q: hits %v, want leggings first (of 2)", q, got)
		}
	}
}
