package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/reconcile"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// TestSignalsFindsEachKindOfDifference: a store holding what Postgres
// holds is in sync; each thing the store then misses or keeps wrongly is
// one reported line.
func TestSignalsFindsEachKindOfDifference(t *testing.T) {
	ctx := context.Background()
	db := testpg.Connect(t, testpg.New(t, testpg.Options{Setup: fixtures.Migrate}))
	at := time.Date(2025, 6, 1, 11, 0, 0, 0, time.UTC)
	now := at.Add(time.Hour)
	if _, err := db.Exec(ctx, `
		INSERT INTO sellers (id, username, status) VALUES ('c1', 'c1', 'active'), ('c2', 'c2', 'suspended');
		INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES ('p1', 'P', '{"brand":["Nike"]}', '2025-06-01T10:00:00Z', '2025-06-01T14:00:00Z');
		INSERT INTO follows (follower_id, seller_id, created_at) VALUES ('u1', 'c1', '2025-06-01T09:00:00Z'), ('u1', 'c2', '2025-06-01T09:00:00Z');
		INSERT INTO blocks (user_id, seller_id, created_at) VALUES ('u2', 'c1', '2025-06-01T09:00:00Z');
		INSERT INTO likes (user_id, listing_id, created_at) VALUES ('u2', 'l1', '2025-06-01T10:30:00Z');
		INSERT INTO shares (id, user_id, listing_id, party_id, created_at) VALUES
			(1, 'u1', 'l1', 'p1', '2025-06-01T10:05:00Z'), (2, 'u2', 'l1', 'p1', '2025-06-01T11:00:00Z'), (3, 'u1', 'l2', 'p1', '2025-06-01T10:10:00Z');
	`); err != nil {
		t.Fatal(err)
	}
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, "2025-06-01T"+s+"Z"); return v }
	theme, _ := signals.ParseTheme([]byte(`{"brand":["Nike"]}`))
	changes := []signals.Change{
		{Seller: &signals.Seller{ID: "c1", Username: "c1", Status: signals.SellerActive}},
		{Seller: &signals.Seller{ID: "c2", Username: "c2", Status: signals.SellerSuspended}},
		{Party: &signals.Party{ID: "p1", Name: "P", Theme: theme, StartsAt: ts("10:00:00"), EndsAt: ts("14:00:00")}},
		{Follow: &signals.Follow{Follower: "u1", Seller: "c1", At: ts("09:00:00")}},
		{Follow: &signals.Follow{Follower: "u1", Seller: "c2", At: ts("09:00:00")}},
		{Block: &signals.Block{User: "u2", Seller: "c1", At: ts("09:00:00")}},
		{Like: &signals.Like{User: "u2", Listing: "l1", At: ts("10:30:00")}},
		{Share: &signals.Share{ID: 1, User: "u1", Listing: "l1", Party: "p1", At: ts("10:05:00")}},
		{Share: &signals.Share{ID: 2, User: "u2", Listing: "l1", Party: "p1", At: ts("11:00:00")}},
		{Share: &signals.Share{ID: 3, User: "u1", Listing: "l2", Party: "p1", At: ts("10:10:00")}},
	}
	st, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	version := uint64(0)
	put := func(cs ...signals.Change) {
		t.Helper()
		for i := range cs {
			version++
			cs[i].Version = version
		}
		if err := st.Apply(ctx, signals.Batch{Changes: cs}); err != nil {
			t.Fatal(err)
		}
	}
	put(changes...)
	rep, err := reconcile.Signals(ctx, db, st, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InSync() || rep.Parties != 1 || rep.Followers != 1 || rep.Blockers != 1 || rep.Listings != 2 {
		t.Fatalf("in sync: %s %v", rep.Summary(), rep.Differences)
	}

	// The store loses a follow, a share and the suspension; it gains a party.
	put(signals.Change{Delete: true, Follow: &signals.Follow{Follower: "u1", Seller: "c2", At: ts("09:00:00")}},
		signals.Change{Delete: true, Share: &signals.Share{ID: 3, User: "u1", Listing: "l2", Party: "p1", At: ts("10:10:00")}},
		signals.Change{Seller: &signals.Seller{ID: "c2", Username: "c2", Status: signals.SellerActive}},
		signals.Change{Party: &signals.Party{ID: "p9", Name: "Q", StartsAt: ts("10:00:00"), EndsAt: ts("14:00:00")}})
	rep, err = reconcile.Signals(ctx, db, st, now)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rep.Differences, "\n")
	for _, want := range []string{"party p9: in signals, not in postgres", "party p1: 3 shares in postgres, 2 in signals",
		"party p1: latest shares differ", "follows of u1", "sellers of suspended", "engagers of l2"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q among the differences:\n%s", want, got)
		}
	}
	if len(rep.Differences) != 6 {
		t.Errorf("%d differences, want 6:\n%s", len(rep.Differences), got)
	}
}

// TestSignalsOrdersLatestSharesByMillisecond: the store keeps
// milliseconds, so two listings whose latest shares fall in one
// millisecond tie and are ordered by id, as the store orders them; the
// microseconds Postgres keeps must not order them otherwise.
func TestSignalsOrdersLatestSharesByMillisecond(t *testing.T) {
	ctx := context.Background()
	db := testpg.Connect(t, testpg.New(t, testpg.Options{Setup: fixtures.Migrate}))
	if _, err := db.Exec(ctx, `
		INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES ('p1', 'P', '{}', '2025-06-01T10:00:00Z', '2025-06-01T14:00:00Z');
		INSERT INTO shares (id, user_id, listing_id, party_id, created_at) VALUES
			(1, 'u1', 'l1', 'p1', '2025-06-01T10:05:00.000100Z'), (2, 'u1', 'l2', 'p1', '2025-06-01T10:05:00.000900Z');
	`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 10, 5, 0, 0, time.UTC)
	st, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Apply(ctx, signals.Batch{Changes: []signals.Change{
		{Version: 1, Party: &signals.Party{ID: "p1", Name: "P", StartsAt: at.Add(-5 * time.Minute), EndsAt: at.Add(-5*time.Minute + 4*time.Hour)}},
		{Version: 2, Share: &signals.Share{ID: 1, User: "u1", Listing: "l1", Party: "p1", At: at.Add(100 * time.Microsecond)}},
		{Version: 3, Share: &signals.Share{ID: 2, User: "u1", Listing: "l2", Party: "p1", At: at.Add(900 * time.Microsecond)}},
	}}); err != nil {
		t.Fatal(err)
	}
	rep, err := reconcile.Signals(ctx, db, st, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InSync() {
		t.Fatalf("%s: %v", rep.Summary(), rep.Differences)
	}
}
