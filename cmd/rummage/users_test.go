package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/events/rollup"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
	"github.com/rummage/rummage/signals/redisstore"
)

// forgetStore is a signals store with profiles: both implementations.
type forgetStore interface {
	signals.Store
	signals.ProfileStore
}

// TestUsersForget: rummage users forget U, through the API of the process
// holding the state, removes U's signals, affinity profile, experiment
// rows (the only stored trace of an assignment) and cached per-user
// answers, on either signals store, and leaves another user's alone; the
// limits it documents hold: the aggregate rollups keep U's searches, and
// the command says what it kept.
func TestUsersForget(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		dir := t.TempDir()
		store, err := memory.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		now := testForget(t, store)
		// Reopened from disk, the store still has forgotten u1.
		store.Close()
		again, err := memory.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if a, _ := again.Activity(context.Background(), "u1", time.Time{}, now.Add(time.Hour), 10); len(a) != 0 {
			t.Errorf("after a reopen u1 has activity %v", a)
		}
	})
	t.Run("redis", func(t *testing.T) {
		store, err := redisstore.Open(context.Background(), redisstore.Config{URL: testredis.URL(), Prefix: testredis.Prefix(t, "forget")})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		testForget(t, store)
	})
}

// testForget runs the forgetting on store and returns the instant its
// rows were written at.
func testForget(t *testing.T, store forgetStore) time.Time {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := store.Apply(ctx, signals.Batch{Changes: []signals.Change{
		{Version: 1, Follow: &signals.Follow{Follower: "u1", Seller: "c1", At: now}},
		{Version: 2, Like: &signals.Like{User: "u1", Listing: "l1", At: now}},
		{Version: 3, Share: &signals.Share{ID: 1, User: "u1", Listing: "l2", At: now}},
		{Version: 4, Like: &signals.Like{User: "u2", Listing: "l1", At: now}},
	}, Positions: []signals.Position{{Topic: "t", Partition: 0, Offset: 4}}})
	if err != nil {
		t.Fatal(err)
	}

	ps, _ := events.NewPseudonymizer([]byte("users-forget-test-key"))
	for _, u := range []string{"u1", "u2"} {
		if err := store.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{{User: ps.Of(u), Feature: "b:Zara", Weight: 3, At: now}}}); err != nil {
			t.Fatal(err)
		}
	}
	db := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	rs, err := rollup.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var evs []events.Event
	for _, u := range []string{"u1", "u2"} {
		evs = append(evs, events.Event{Type: events.Impression, Surface: "search", QueryID: "q" + u, Query: "red dress", User: ps.Of(u), Variant: "exp/a", At: now})
	}
	if _, err := rs.Apply(ctx, "t", evs, map[int]int64{0: 2}); err != nil {
		t.Fatal(err)
	}

	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u1", "u2"} {
		if _, err := c.Load(ctx, "/v1/feed?user="+u, func(context.Context) (*cache.Entry, bool, error) {
			return &cache.Entry{Body: []byte(`{}`), Status: 200, Private: true, Deps: []string{cache.UserTag(u)}}, true, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	k := apitest.NewKeys(t)
	s, err := api.New(api.Config{Auth: api.Auth{Keys: k.Ring}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)),
		api.WithForgetting(forgetting(ps, store, c, rs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var out bytes.Buffer
	if err := usersForget(ctx, []string{"u1", "--api-url", srv.URL, "--key", k.Admin}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "signals 3") || !strings.Contains(got, "cache 1") || !strings.Contains(got, "rollups 1") || !strings.Contains(got, "personalization 1") {
		t.Errorf("output %q: want 3 signals, 1 cache entry, 1 rollup row and the profile forgotten", got)
	}
	if got := out.String(); !strings.Contains(got, forgetKept) {
		t.Errorf("output %q does not say what was kept", got)
	}
	for u, want := range map[string]int{"u1": 0, "u2": 1} {
		if p, err := store.Profile(ctx, ps.Of(u), now); err != nil || len(p) != want {
			t.Errorf("%s's profile after forgetting u1: %v (%v), want %d features", u, p, err, want)
		}
	}
	if err := usersForget(ctx, []string{"u1", "--api-url", srv.URL, "--key", k.Search}, io.Discard); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a search key: %v, want 403", err)
	}

	if f, _ := store.Following(ctx, "u1", time.Time{}, 0); len(f) != 0 {
		t.Errorf("u1 still follows %v", f)
	}
	if a, _ := store.Activity(ctx, "u1", time.Time{}, now.Add(time.Hour), 10); len(a) != 0 {
		t.Errorf("u1 still has activity %v", a)
	}
	if a, _ := store.Activity(ctx, "u2", time.Time{}, now.Add(time.Hour), 10); len(a) != 1 {
		t.Errorf("u2's activity %v, want their like", a)
	}
	if _, st := c.Lookup("/v1/feed?user=u1", time.Now()); st != cache.Miss {
		t.Error("u1's cached feed is still there")
	}
	if _, st := c.Lookup("/v1/feed?user=u2", time.Now()); st != cache.Hit {
		t.Error("u2's cached feed went too")
	}
	x, err := rs.Experiment(ctx, "exp", rollup.Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Variants) != 1 || x.Variants[0].Users != 1 {
		t.Errorf("experiment rows after forgetting u1: %+v, want u2's alone", x.Variants)
	}
	// A limit: the aggregate rollups are sums over everybody and keep
	// u1's search.
	qs, err := rs.Searches(ctx, rollup.Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Searches != 2 {
		t.Errorf("aggregate searches after forgetting u1: %+v, want both users' 2", qs)
	}
	return now
}
