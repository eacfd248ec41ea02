package feed_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

func homeIDs(t *testing.T, f *feed.Feeds, user string) ([]string, []string) {
	t.Helper()
	p, err := f.Home(context.Background(), &query.Request{User: user, Now: now, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var ids, brands []string
	for _, h := range p.Hits {
		ids, brands = append(ids, h.ID), append(brands, h.Brand)
	}
	return ids, brands
}

// TestHomePersonalized: a shopper whose events say Zara sees Zara earlier
// in their home feed than without personalization, every listing still
// there; an anonymous shopper's feed is the same either way.
func TestHomePersonalized(t *testing.T) {
	x := index(t)
	st, _ := memory.Open("")
	ctx := context.Background()
	if err := st.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{
		{User: "h_u1", Feature: "b:Zara", Weight: 10, At: now}, {User: "h_u1", Feature: "c:Women/Outerwear/Coats", Weight: 4, At: now},
	}}); err != nil {
		t.Fatal(err)
	}
	personal := feed.PersonalConfig{Profiles: st, Pseudonym: func(u string) string { return "h_" + u }, Strength: func(string) int { return 100 }}
	off := feed.New(x, st, feed.Config{})
	on := feed.New(x, st, feed.Config{Personal: personal})

	plainIDs, plainBrands := homeIDs(t, off, "u1")
	ids, brands := homeIDs(t, on, "u1")
	if a, b := slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(plainIDs)); !slices.Equal(a, b) {
		t.Errorf("personalization changed the set: %v vs %v", ids, plainIDs)
	}
	if p, q := slices.Index(brands, "Zara"), slices.Index(plainBrands, "Zara"); p < 0 || p >= q {
		t.Errorf("first Zara at %d personalized, %d not: want earlier (%v)", p, q, brands)
	}
	a1, _ := homeIDs(t, off, "")
	a2, _ := homeIDs(t, on, "")
	if !slices.Equal(a1, a2) {
		t.Errorf("anonymous home feed changed: %v vs %v", a2, a1)
	}
	// The profile of the signals rows: a like of a Zara coat.
	if err := st.Apply(ctx, signals.Batch{Changes: []signals.Change{{Version: 1, Like: &signals.Like{User: "u2", Listing: "l23", At: now}}}}); err != nil {
		t.Fatal(err)
	}
	prof, err := on.Profile(ctx, "u2", now)
	if err != nil || prof.Empty() {
		t.Fatalf("profile of a like: %v, %v", prof, err)
	}
	if prof.Match(ranking.FeaturesOf("Zara", "Women/Outerwear/Coats", "", 0, "")) == 0 {
		t.Error("the like's brand and category do not match")
	}
}
