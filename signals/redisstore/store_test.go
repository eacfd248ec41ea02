package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/signals"
)

var ctx = context.Background()

func la(l string, min int, by string) signals.ListingAt {
	return signals.ListingAt{Listing: l, At: at(min), By: by}
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{URL: "redis://127.0.0.1:6379/2", Prefix: "rm"}, true},
		{Config{URL: "http://x"}, false},
		{Config{Prefix: "a{b}"}, false},
		{Config{Prefix: "a:b"}, false},
		{Config{TrendingHalfLife: -time.Hour}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
}

func TestPartySharesAsOf(t *testing.T) {
	s := openTest(t)
	apply(t, s,
		share(1, 1, "u1", "A", "p", 1),
		share(2, 2, "u2", "B", "p", 2),
		share(3, 3, "u3", "A", "p", 3),
		share(4, 4, "u1", "C", "", 4), // no party
		share(5, 5, "u4", "B", "p", 5),
		share(6, 6, "u4", "D", "q", 5), // another party
	)
	for _, c := range []struct {
		from, to int
		want     []signals.ListingAt
		n        int
	}{
		{0, 10, []signals.ListingAt{la("B", 5, ""), la("A", 3, "")}, 4},
		{0, 5, []signals.ListingAt{la("A", 3, ""), la("B", 2, "")}, 3}, // B re-shared at 5: its share at 2
		{0, 3, []signals.ListingAt{la("B", 2, ""), la("A", 1, "")}, 2},
		{2, 3, []signals.ListingAt{la("B", 2, "")}, 1}, // [from, to)
		{4, 5, nil, 0},
	} {
		got, n, err := s.PartyShares(ctx, "p", at(c.from), at(c.to))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			got = nil
		}
		check(t, fmt.Sprintf("[%d,%d)", c.from, c.to), got, c.want)
		check(t, fmt.Sprintf("[%d,%d) count", c.from, c.to), n, c.n)
	}
}

// TestPartySharesManyReshared: more listings re-shared since the pinned
// instant than one history script reads at once.
func TestPartySharesManyReshared(t *testing.T) {
	s := openTest(t)
	const n = 2*asofChunk + 17
	var cs []signals.Change
	for i := range n {
		l := fmt.Sprintf("L%05d", i)
		cs = append(cs, share(uint64(2*i+1), int64(2*i), "u", l, "p", 1+i%3), share(uint64(2*i+2), int64(2*i+1), "v", l, "p", 10))
	}
	apply(t, s, cs...)
	got, count, err := s.PartyShares(ctx, "p", at(0), at(5))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || count != n {
		t.Fatalf("%d listings, %d shares; want %d, %d", len(got), count, n, n)
	}
	for _, g := range got {
		var i int
		fmt.Sscanf(g.Listing, "L%05d", &i)
		if !g.At.Equal(at(1 + i%3)) {
			t.Fatalf("%s at %v, want %v", g.Listing, g.At, at(1+i%3))
		}
	}
}

func TestVersionRule(t *testing.T) {
	s := openTest(t)
	apply(t, s, share(10, 1, "u", "A", "p", 1))
	apply(t, s, share(5, 1, "u", "B", "p", 2)) // stale: below the held version
	got, _, _ := s.PartyShares(ctx, "p", at(0), at(10))
	check(t, "stale ignored", got, []signals.ListingAt{la("A", 1, "")})

	apply(t, s, share(10, 1, "u", "B", "p", 2)) // equal: applies (an update)
	got, n, _ := s.PartyShares(ctx, "p", at(0), at(10))
	check(t, "equal applies", got, []signals.ListingAt{la("B", 2, "")})
	check(t, "equal applies count", n, 1)

	apply(t, s, del(share(11, 1, "u", "B", "p", 2)))
	apply(t, s, share(11, 1, "u", "B", "p", 2)) // replayed insert of the delete's version applies (stream order)
	apply(t, s, del(share(11, 1, "u", "B", "p", 2)))
	apply(t, s, share(10, 1, "u", "B", "p", 2)) // replayed older insert must not resurrect
	got, n, _ = s.PartyShares(ctx, "p", at(0), at(10))
	check(t, "tombstone", len(got), 0)
	check(t, "tombstone count", n, 0)
	act, _ := s.Activity(ctx, "u", at(0), at(10), 0)
	check(t, "tombstone activity", len(act), 0)
	eng, _ := s.Engagers(ctx, []string{"A", "B"}, at(0), at(10))
	check(t, "tombstone engagers", len(eng), 0)

	// Follows, likes, blocks, sellers, parties: the same rule.
	f := func(v uint64, d bool) signals.Change {
		return signals.Change{Version: v, Delete: d, Follow: &signals.Follow{Follower: "u", Seller: "c", At: at(1)}}
	}
	apply(t, s, f(3, false), f(4, true), f(3, false))
	fo, _ := s.Following(ctx, "u", time.Time{}, 0)
	check(t, "follow tombstone", len(fo), 0)
	apply(t, s, f(4, false))
	fo, _ = s.Following(ctx, "u", time.Time{}, 0)
	check(t, "follow equal", fo, []string{"c"})

	sel := func(v uint64, status string) signals.Change {
		return signals.Change{Version: v, Seller: &signals.Seller{ID: "c", Username: "cc", Status: status}}
	}
	apply(t, s, sel(7, signals.SellerSuspended), sel(6, signals.SellerActive))
	sus, _ := s.Suspended(ctx)
	check(t, "stale seller", sus, []string{"c"})
}

func TestSharedByMergesAsOf(t *testing.T) {
	s := openTest(t)
	apply(t, s,
		share(1, 1, "c1", "A", "", 1),
		share(2, 2, "c2", "A", "p", 3), // A's latest by any: c2 at 3
		share(3, 3, "c1", "B", "", 2),
		share(4, 4, "c3", "C", "", 4), // not followed
		share(5, 5, "c2", "D", "", 5),
		share(6, 6, "c1", "B", "", 6), // B re-shared after 5
		share(7, 7, "c1", "E", "", 2), // tie with B at 2 as of 5: by listing id
	)
	closets := []string{"c1", "c2"}
	sh, err := s.SharedBy(ctx, closets, at(0), at(10), 0)
	got := sh.Sorted(closets)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "now", got, []signals.ListingAt{la("B", 6, "c1"), la("D", 5, "c2"), la("A", 3, "c2"), la("E", 2, "c1")})
	sh, _ = s.SharedBy(ctx, closets, at(0), at(5), 0)
	got = sh.Sorted(closets)
	check(t, "as of 5", got, []signals.ListingAt{la("D", 5, "c2"), la("A", 3, "c2"), la("B", 2, "c1"), la("E", 2, "c1")})
	sh, _ = s.SharedBy(ctx, closets, at(2), at(5), 2)
	got = sh.Sorted(closets)
	check(t, "(2,5] limit 2", got, []signals.ListingAt{la("D", 5, "c2"), la("A", 3, "c2")})
	sh, _ = s.SharedBy(ctx, closets, at(1), at(2), 0)
	got = sh.Sorted(closets)
	check(t, "(1,2]", got, []signals.ListingAt{la("B", 2, "c1"), la("E", 2, "c1")})
}

// TestSharedByLimitWithReshares: a closet's timeline read with a limit
// that its re-shared listings take part of is read again below the
// instant, so that an older listing is not displaced by the earlier share
// of a re-shared one.
func TestSharedByLimitWithReshares(t *testing.T) {
	s := openTest(t)
	apply(t, s, share(1, 1, "c", "C", "", 1), share(2, 2, "c", "A", "", 2), share(3, 3, "c", "B", "", 3), share(4, 4, "c", "C", "", 10))
	sh, err := s.SharedBy(ctx, []string{"c"}, at(0), at(5), 2)
	got := sh.Sorted([]string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "limit 2 as of 5", got, []signals.ListingAt{la("B", 3, "c"), la("A", 2, "c")})
	sh, _ = s.SharedBy(ctx, []string{"c"}, at(0), at(5), 3)
	got = sh.Sorted([]string{"c"})
	check(t, "limit 3 as of 5", got, []signals.ListingAt{la("B", 3, "c"), la("A", 2, "c"), la("C", 1, "c")})
}

// TestTiesAtTheCut: a limit that cuts through listings of one instant
// keeps the smaller ids, in one closet's timeline and in a user's likes.
func TestTiesAtTheCut(t *testing.T) {
	s := openTest(t)
	var cs []signals.Change
	for i, l := range []string{"D", "B", "A", "C", "AB"} {
		cs = append(cs, share(uint64(i+1), int64(i), "c", l, "", 5),
			signals.Change{Version: uint64(10 + i), Like: &signals.Like{User: "u", Listing: l, At: at(5)}})
	}
	apply(t, s, cs...)
	sh, _ := s.SharedBy(ctx, []string{"c"}, at(0), at(10), 2)
	got := sh.Sorted([]string{"c"})
	check(t, "shared by, limit 2", got, []signals.ListingAt{la("A", 5, "c"), la("AB", 5, "c")})
	got, _ = s.Activity(ctx, "u", at(0), at(10), 3)
	check(t, "activity, limit 3", got, []signals.ListingAt{la("A", 5, "u"), la("AB", 5, "u"), la("B", 5, "u")})
}

func TestActivityLikesAndShares(t *testing.T) {
	s := openTest(t)
	like := func(v uint64, l string, min int) signals.Change {
		return signals.Change{Version: v, Like: &signals.Like{User: "u", Listing: l, At: at(min)}}
	}
	apply(t, s, like(1, "A", 1), share(2, 1, "u", "A", "p", 4), like(3, "B", 3), share(4, 2, "u", "C", "", 2), like(5, "X", 2))
	apply(t, s, signals.Change{Version: 6, Like: &signals.Like{User: "other", Listing: "Z", At: at(3)}})
	got, err := s.Activity(ctx, "u", at(0), at(10), 0)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "activity", got, []signals.ListingAt{la("A", 4, "u"), la("B", 3, "u"), la("C", 2, "u"), la("X", 2, "u")})
	got, _ = s.Activity(ctx, "u", at(0), at(3), 2)
	check(t, "as of 3, limit 2", got, []signals.ListingAt{la("B", 3, "u"), la("C", 2, "u")})
	apply(t, s, del(like(7, "B", 3)))
	got, _ = s.Activity(ctx, "u", at(2), at(10), 0)
	check(t, "after unlike", got, []signals.ListingAt{la("A", 4, "u")})
}

func TestEngagersAndTopEngaged(t *testing.T) {
	s := openTest(t)
	like := func(v uint64, u, l string, min int) signals.Change {
		return signals.Change{Version: v, Like: &signals.Like{User: u, Listing: l, At: at(min)}}
	}
	apply(t, s,
		like(1, "u1", "A", 1), share(2, 1, "u1", "A", "", 5), // u1's latest on A: 5
		share(3, 2, "u2", "A", "p", 2),
		like(4, "u2", "B", 60),
		share(5, 3, "u3", "B", "", 3), share(6, 4, "u3", "B", "", 4), // one user counts once
	)
	got, err := s.Engagers(ctx, []string{"A", "B", "N"}, at(0), at(10))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "engagers", got, map[string][]signals.UserAt{
		"A": {{User: "u1", At: at(5)}, {User: "u2", At: at(2)}},
		"B": {{User: "u3", At: at(4)}},
	})
	got, _ = s.Engagers(ctx, []string{"A"}, at(0), at(4)) // u1 as of 4: the like at 1
	check(t, "engagers as of 4", got, map[string][]signals.UserAt{"A": {{User: "u2", At: at(2)}, {User: "u1", At: at(1)}}})

	top, err := s.TopEngaged(ctx, at(0), at(10), time.Hour, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Listing != "A" || top[1].Listing != "B" {
		t.Fatalf("top engaged: %v", top)
	}
	want := 0.0
	for _, m := range []int{5, 2} {
		want += pow2(-float64(10-m) / 60)
	}
	if d := top[0].Score - want; d > 1e-9 || d < -1e-9 {
		t.Errorf("A's score %v, want %v", top[0].Score, want)
	}
}

func pow2(x float64) float64 { return math.Exp2(x) }

// TestTopEngagedDecayedSums: beyond exactBelow listings TopEngaged reads
// the sums kept on write; they agree with the exact scores (computed with
// a half-life a nanosecond off, which takes the exact path) through
// re-engagements of one user and deletes.
func TestTopEngagedDecayedSums(t *testing.T) {
	s := openTest(t)
	var cs []signals.Change
	v := uint64(0)
	add := func(c signals.Change) { v++; c.Version = v; cs = append(cs, c) }
	id := int64(0)
	for i := range exactBelow + 500 {
		l := fmt.Sprintf("L%05d", i)
		for u := range 1 + i%4 {
			user := fmt.Sprintf("u%d", (i+u)%97)
			id++
			add(share(0, id, user, l, "", (i*7+u*13)%600))
			if u == 1 { // the same user again, later: counts once, at its latest
				id++
				add(share(0, id, user, l, "", 600+i%60))
			}
			if u == 2 {
				add(signals.Change{Like: &signals.Like{User: "liker", Listing: l, At: at(i % 500)}})
				add(signals.Change{Delete: true, Like: &signals.Like{User: "liker", Listing: l, At: at(i % 500)}})
			}
		}
	}
	apply(t, s, cs...)
	now := at(700)
	got, err := s.TopEngaged(ctx, now.Add(-24*time.Hour), now, time.Hour, 20)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.TopEngaged(ctx, now.Add(-24*time.Hour), now, time.Hour+1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 || len(want) != 20 {
		t.Fatalf("%d and %d listings", len(got), len(want))
	}
	for i := range got {
		if got[i].Listing != want[i].Listing || math.Abs(got[i].Score-want[i].Score) > 1e-6*want[i].Score {
			t.Errorf("#%d: %v, exact %v", i, got[i], want[i])
		}
	}
}

func TestFollowsBothWays(t *testing.T) {
	s := openTest(t)
	f := func(v uint64, u, c string, min int) signals.Change {
		return signals.Change{Version: v, Follow: &signals.Follow{Follower: u, Seller: c, At: at(min)}}
	}
	apply(t, s, f(1, "u1", "c1", 1), f(2, "u1", "c2", 3), f(3, "u1", "c3", 2), f(4, "u2", "c1", 1), f(5, "u1", "c0", 3))
	got, _ := s.Following(ctx, "u1", time.Time{}, 0)
	check(t, "following", got, []string{"c0", "c2", "c3", "c1"})
	got, _ = s.Following(ctx, "u1", time.Time{}, 2)
	check(t, "following limit", got, []string{"c0", "c2"})
	n, _ := s.Followers(ctx, []string{"c1", "c2", "nobody"})
	check(t, "followers", n, map[string]int{"c1": 2, "c2": 1})
	apply(t, s, signals.Change{Version: 6, Delete: true, Follow: &signals.Follow{Follower: "u2", Seller: "c1", At: at(1)}})
	n, _ = s.Followers(ctx, []string{"c1"})
	check(t, "unfollow", n, map[string]int{"c1": 1})
}

func TestSellersPartiesBlocks(t *testing.T) {
	s := openTest(t)
	th, err := signals.ParseTheme([]byte(`{"brand":["Nike"],"category":"Women/Shoes","price_max":10000}`))
	if err != nil {
		t.Fatal(err)
	}
	p1 := signals.Party{ID: "p1", Name: "Nike night", Theme: th, StartsAt: at(60), EndsAt: at(180)}
	p2 := signals.Party{ID: "p2", Name: "Early", StartsAt: at(0), EndsAt: at(120)}
	apply(t, s,
		signals.Change{Version: 1, Seller: &signals.Seller{ID: "c1", Username: "one", DisplayName: "One", Status: signals.SellerActive}},
		signals.Change{Version: 2, Seller: &signals.Seller{ID: "c2", Username: "two", Status: signals.SellerSuspended}},
		signals.Change{Version: 3, Party: &p1}, signals.Change{Version: 4, Party: &p2},
		signals.Change{Version: 5, Block: &signals.Block{User: "u", Seller: "c2", At: at(1)}},
		signals.Change{Version: 6, Block: &signals.Block{User: "u", Seller: "c1", At: at(1)}},
	)
	sel, _ := s.Sellers(ctx, []string{"c1", "c2", "c3"})
	check(t, "sellers", sel, map[string]signals.Seller{
		"c1": {ID: "c1", Username: "one", DisplayName: "One", Status: signals.SellerActive},
		"c2": {ID: "c2", Username: "two", Status: signals.SellerSuspended}})
	sus, _ := s.Suspended(ctx)
	check(t, "suspended", sus, []string{"c2"})
	bl, _ := s.Blocked(ctx, "u")
	check(t, "blocked", bl, []string{"c1", "c2"})
	ps, _ := s.Parties(ctx)
	check(t, "parties", ps, []signals.Party{p2, p1})
	p, err := s.Party(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "party", *p, p1)
	if _, err := s.Party(ctx, "nope"); !errors.Is(err, signals.ErrNotFound) {
		t.Errorf("unknown party: %v", err)
	}
	apply(t, s, del(signals.Change{Version: 7, Party: &p1}),
		signals.Change{Version: 8, Delete: true, Seller: &signals.Seller{ID: "c2"}})
	if _, err := s.Party(ctx, "p1"); !errors.Is(err, signals.ErrNotFound) {
		t.Errorf("deleted party: %v", err)
	}
	sus, _ = s.Suspended(ctx)
	check(t, "suspended after delete", len(sus), 0)
}

func TestTruncate(t *testing.T) {
	s := openTest(t)
	apply(t, s,
		share(1, 1, "u", "A", "p", 1), share(5, 2, "u", "B", "p", 2),
		signals.Change{Version: 2, Follow: &signals.Follow{Follower: "u", Seller: "c", At: at(1)}},
		signals.Change{Version: 6, Follow: &signals.Follow{Follower: "u", Seller: "d", At: at(1)}},
		signals.Change{Version: 3, Like: &signals.Like{User: "u", Listing: "L", At: at(1)}},
		signals.Change{Version: 3, Seller: &signals.Seller{ID: "c", Status: signals.SellerSuspended}},
		signals.Change{Version: 4, Truncate: signals.TableShares},
		signals.Change{Version: 4, Truncate: signals.TableFollows},
		signals.Change{Version: 4, Truncate: signals.TableSellers},
		share(3, 3, "u", "C", "p", 3), // a replayed insert from before the truncate
	)
	got, n, _ := s.PartyShares(ctx, "p", at(0), at(10))
	check(t, "shares truncated", got, []signals.ListingAt{la("B", 2, "")})
	check(t, "count", n, 1)
	fo, _ := s.Following(ctx, "u", time.Time{}, 0)
	check(t, "follows truncated", fo, []string{"d"})
	sus, _ := s.Suspended(ctx)
	check(t, "sellers truncated", len(sus), 0)
	act, _ := s.Activity(ctx, "u", at(0), at(10), 0)
	check(t, "likes kept", act, []signals.ListingAt{la("B", 2, "u"), la("L", 1, "u")})
}

func TestPositionsAndEpoch(t *testing.T) {
	s := openTest(t)
	if p, err := s.Positions(ctx); err != nil || len(p) != 0 {
		t.Fatalf("new store: %v %v", p, err)
	}
	// A batch larger than a chunk: its positions come with its last one.
	var cs []signals.Change
	for i := range 3*chunkSize + 7 {
		cs = append(cs, share(uint64(i+1), int64(i), "u", fmt.Sprintf("L%05d", i), "p", i%100))
	}
	pos := []signals.Position{{Topic: "rummage.public.shares", Partition: 0, Offset: 41}, {Topic: "rummage.public.shares", Partition: 3, Offset: 7}}
	if err := s.Apply(ctx, signals.Batch{Changes: cs, Positions: pos}); err != nil {
		t.Fatal(err)
	}
	r := reopen(t, s)
	got, err := r.Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sortPos(got)
	check(t, "positions", got, pos)
	if _, n, _ := r.PartyShares(ctx, "p", at(0), at(100)); n != len(cs) {
		t.Errorf("count %d, want %d", n, len(cs))
	}

	// Redis emptied under the running applier: Apply refuses, Positions
	// answers none, then applying works again.
	testredis.Delete(t, s.prefix)
	err = s.Apply(ctx, signals.Batch{Changes: cs[:1], Positions: []signals.Position{{Topic: "t", Offset: 99}}})
	if !errors.Is(err, ErrEmptied) {
		t.Fatalf("apply on an emptied Redis: %v, want ErrEmptied", err)
	}
	if p, err := s.Positions(ctx); err != nil || len(p) != 0 {
		t.Fatalf("emptied: %v %v", p, err)
	}
	// Another Store that read the old epoch is refused too.
	if err := r.Apply(ctx, signals.Batch{Changes: cs[:1]}); !errors.Is(err, ErrEmptied) {
		t.Fatalf("stale epoch: %v", err)
	}
	if err := s.Apply(ctx, signals.Batch{Changes: cs[:1], Positions: pos[:1]}); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Positions(ctx)
	check(t, "positions after rebuild", got, pos[:1])
}

func sortPos(p []signals.Position) {
	for i := range p {
		for j := i + 1; j < len(p); j++ {
			if p[j].Partition < p[i].Partition {
				p[i], p[j] = p[j], p[i]
			}
		}
	}
}

func TestSnapshots(t *testing.T) {
	s := openTest(t)
	snaps := s.Snapshots()
	if _, err := snaps.Get(ctx, "none"); !errors.Is(err, feed.ErrSnapshotGone) {
		t.Fatalf("unknown snapshot: %v", err)
	}
	want := &feed.Snapshot{Items: []feed.SnapshotItem{{ID: "L1", Reason: feed.Reason{Type: "trending"}}, {ID: "L2", AtMs: 5}}}
	if err := snaps.Put(ctx, "abc", want, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := reopen(t, s).Snapshots().Get(ctx, "abc") // another replica
	if err != nil {
		t.Fatal(err)
	}
	check(t, "snapshot", got, want)
	ttl := s.c.PTTL(ctx, snaps.key("abc")).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("ttl %v", ttl)
	}
	if err := snaps.Put(ctx, "x", want, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}
