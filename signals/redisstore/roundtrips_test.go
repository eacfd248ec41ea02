package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/rummage/rummage/signals"
)

// TestRoundTrips counts the round trips of every Reader call with a hook
// on the client: a request costs a constant number of them whatever the
// number of closets or listings it reads (SharedBy is not one per closet).
func TestRoundTrips(t *testing.T) {
	s := openTest(t)
	const closets = 1000
	var cs []signals.Change
	v := uint64(0)
	next := func() uint64 { v++; return v }
	ids := make([]string, closets)
	for i := range closets {
		ids[i] = fmt.Sprintf("c%04d", i)
		cs = append(cs,
			signals.Change{Version: next(), Follow: &signals.Follow{Follower: "u", Seller: ids[i], At: at(i % 50)}},
			share(next(), int64(2*i), ids[i], fmt.Sprintf("L%04d", i), "p", i%50),
			share(next(), int64(2*i+1), ids[i], fmt.Sprintf("L%04d", (i+1)%closets), "", i%50),
			signals.Change{Version: next(), Like: &signals.Like{User: "u", Listing: fmt.Sprintf("L%04d", i), At: at(i % 50)}},
		)
	}
	cs = append(cs, signals.Change{Version: next(), Party: &signals.Party{ID: "p", Name: "P", StartsAt: at(0), EndsAt: at(120)}},
		signals.Change{Version: next(), Seller: &signals.Seller{ID: "c0001", Status: signals.SellerActive}})
	apply(t, s, cs...)
	// Re-shares after minute 60: an instant before them reads histories.
	apply(t, s, share(next(), 1e6, "c0001", "L0001", "p", 70), share(next(), 1e6+1, "u", "L0002", "", 70))

	c := &counter{}
	s.c.AddHook(c)
	ls := make([]string, 200)
	for i := range ls {
		ls[i] = fmt.Sprintf("L%04d", i)
	}
	for _, tc := range []struct {
		name string
		max  int64
		call func() error
	}{
		{"SharedBy 1000 closets, now", 1, func() error { _, err := s.SharedBy(ctx, ids, at(0), at(100), 50000); return err }},
		{"SharedBy 1000 closets, as of an earlier instant", 2, func() error { _, err := s.SharedBy(ctx, ids, at(0), at(60), 50000); return err }},
		{"PartyShares, now", 1, func() error { _, _, err := s.PartyShares(ctx, "p", at(0), at(100)); return err }},
		{"PartyShares, pinned before re-shares", 2, func() error { _, _, err := s.PartyShares(ctx, "p", at(0), at(60)); return err }},
		// 200 of 1,000 likes of one instant: the cut goes through it.
		{"Activity, now, limit cutting an instant", 2, func() error { _, err := s.Activity(ctx, "u", at(0), at(100), 200); return err }},
		{"Activity, as of an earlier instant", 2, func() error { _, err := s.Activity(ctx, "u", at(0), at(60), 200); return err }},
		{"Following", 1, func() error { _, err := s.Following(ctx, "u", time.Time{}, 0); return err }},
		{"Followers 1000 closets", 1, func() error { _, err := s.Followers(ctx, ids); return err }},
		{"Sellers", 1, func() error { _, err := s.Sellers(ctx, ids); return err }},
		{"Suspended", 1, func() error { _, err := s.Suspended(ctx); return err }},
		{"Blocked", 1, func() error { _, err := s.Blocked(ctx, "u"); return err }},
		{"Parties", 1, func() error { _, err := s.Parties(ctx); return err }},
		{"Party", 1, func() error { _, err := s.Party(ctx, "p"); return err }},
		{"Engagers 200 listings, now", 1, func() error { _, err := s.Engagers(ctx, ls, at(0), at(100)); return err }},
		{"Engagers 200 listings, as of an earlier instant", 2, func() error { _, err := s.Engagers(ctx, ls, at(0), at(60)); return err }},
		{"TopEngaged", 3, func() error { _, err := s.TopEngaged(ctx, at(0), at(100), time.Hour, 100); return err }},
	} {
		// Count the second call: the first may dial a connection (its
		// HELLO is no part of a request).
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		before := c.n.Load()
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		n := c.n.Load() - before
		t.Logf("%-50s %d round trip(s)", tc.name, n)
		if n > tc.max {
			t.Errorf("%s: %d round trips, want at most %d", tc.name, n, tc.max)
		}
	}
	// Apply: one script run per chunk (and one NOSCRIPT retry the first
	// time a server sees the script).
	before := c.n.Load()
	apply(t, s, share(next(), 2e6, "x", "L1", "p", 80))
	if n := c.n.Load() - before; n != 1 {
		t.Errorf("Apply of one chunk: %d round trips, want 1", n)
	}
}
