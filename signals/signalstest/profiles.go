package signalstest

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/rummage/rummage/signals"
)

// runProfiles runs the affinity profile cases on stores that implement
// signals.ProfileStore (Run calls it).
func runProfiles(t *testing.T, h Harness) {
	ctx := context.Background()
	open := func(t *testing.T) (signals.Store, signals.ProfileStore) {
		s := h.Open(t)
		t.Cleanup(func() { s.Close() })
		p, ok := s.(signals.ProfileStore)
		if !ok {
			t.Skip("the store keeps no profiles")
		}
		return s, p
	}
	apply := func(t *testing.T, p signals.ProfileStore, b signals.ProfileBatch) {
		t.Helper()
		if err := p.ApplyProfiles(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	profile := func(t *testing.T, p signals.ProfileStore, user string, at int) signals.Profile {
		t.Helper()
		got, err := p.Profile(ctx, user, M(at))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	want := func(t *testing.T, what string, got, want signals.Profile) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for f, w := range want {
			if !near(got[f], w) {
				t.Fatalf("%s: %s = %v, want %v (whole: %v)", what, f, got[f], w, got)
			}
		}
	}
	d := func(user, feature string, w float64, at int) signals.AffinityDelta {
		return signals.AffinityDelta{User: user, Feature: feature, Weight: w, At: M(at)}
	}

	t.Run("profiles/unknown user", func(t *testing.T) {
		_, p := open(t)
		want(t, "unknown", profile(t, p, "h_nobody", 0), signals.Profile{})
		ps, err := p.ProfilePositions(ctx)
		if err != nil || len(ps) != 0 {
			t.Fatalf("positions of a new store: %v, %v", ps, err)
		}
	})
	t.Run("profiles/deltas add up per user and feature", func(t *testing.T) {
		_, p := open(t)
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{
			d("u1", "b:Nike", 1, 0), d("u1", "b:Nike", 2, 0), d("u1", "z:M", 0.5, 0), d("u2", "b:Zara", 1, 0),
		}})
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{d("u1", "b:Nike", 1, 0)}})
		want(t, "u1", profile(t, p, "u1", 0), signals.Profile{"b:Nike": 4, "z:M": 0.5})
		want(t, "u2", profile(t, p, "u2", 0), signals.Profile{"b:Zara": 1})
	})
	t.Run("profiles/time decay", func(t *testing.T) {
		_, p := open(t)
		hl := int(signals.ProfileHalfLife.Minutes())
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{d("u", "b:Old", 1, 0), d("u", "b:New", 1, hl)}})
		want(t, "one half-life on", profile(t, p, "u", hl), signals.Profile{"b:Old": 0.5, "b:New": 1})
		want(t, "two half-lives on", profile(t, p, "u", 2*hl), signals.Profile{"b:Old": 0.25, "b:New": 0.5})
	})
	t.Run("profiles/order does not matter", func(t *testing.T) {
		ds := []signals.AffinityDelta{d("u", "c:Women/Shoes", 3, 5), d("u", "c:Women/Shoes", 1, 900), d("u", "p:3", 2, 60), d("u", "c:Women/Shoes", 0.25, 1)}
		_, a := open(t)
		_, b := open(t)
		apply(t, a, signals.ProfileBatch{Deltas: ds})
		rev := slices.Clone(ds)
		slices.Reverse(rev)
		for _, x := range rev {
			apply(t, b, signals.ProfileBatch{Deltas: []signals.AffinityDelta{x}})
		}
		want(t, "reversed, one at a time", profile(t, b, "u", 1000), profile(t, a, "u", 1000))
	})
	t.Run("profiles/positions", func(t *testing.T) {
		_, p := open(t)
		apply(t, p, signals.ProfileBatch{Positions: []signals.Position{{Topic: "e", Partition: 1, Offset: 10}, {Topic: "e", Partition: 0, Offset: 4}}})
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{d("u", "s:c1", 1, 0)}, Positions: []signals.Position{{Topic: "e", Partition: 1, Offset: 12}}})
		ps, err := p.ProfilePositions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if w := []signals.Position{{Topic: "e", Partition: 0, Offset: 4}, {Topic: "e", Partition: 1, Offset: 12}}; !slices.Equal(ps, w) {
			t.Fatalf("positions %v, want %v", ps, w)
		}
	})
	t.Run("profiles/forget", func(t *testing.T) {
		_, p := open(t)
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{d("u", "b:Nike", 1, 0), d("v", "b:Nike", 1, 0)}})
		if err := p.ForgetProfile(ctx, "u"); err != nil {
			t.Fatal(err)
		}
		want(t, "forgotten", profile(t, p, "u", 0), signals.Profile{})
		want(t, "another user", profile(t, p, "v", 0), signals.Profile{"b:Nike": 1})
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{d("u", "b:Zara", 1, 0)}})
		want(t, "a new start", profile(t, p, "u", 0), signals.Profile{"b:Zara": 1})
	})
	t.Run("profiles/bad deltas are refused", func(t *testing.T) {
		_, p := open(t)
		for _, x := range []signals.AffinityDelta{d("", "b:x", 1, 0), d("u", "", 1, 0), d("u", "b:x", math.NaN(), 0), d("u", "b:x", math.Inf(1), 0)} {
			if err := p.ApplyProfiles(ctx, signals.ProfileBatch{Deltas: []signals.AffinityDelta{x}}); err == nil {
				t.Errorf("%+v accepted", x)
			}
		}
		want(t, "nothing applied", profile(t, p, "u", 0), signals.Profile{})
	})
	if h.Reopen == nil {
		return
	}
	t.Run("profiles/reopened", func(t *testing.T) {
		s, p := open(t)
		apply(t, p, signals.ProfileBatch{Deltas: []signals.AffinityDelta{d("u", "b:Nike", 1, 0), d("v", "z:S", 2, 0)},
			Positions: []signals.Position{{Topic: "e", Partition: 0, Offset: 7}}})
		if err := p.ForgetProfile(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		s = h.Reopen(t, s)
		t.Cleanup(func() { s.Close() })
		p = s.(signals.ProfileStore)
		want(t, "u after reopen", profile(t, p, "u", 0), signals.Profile{"b:Nike": 1})
		want(t, "v after reopen", profile(t, p, "v", 0), signals.Profile{})
		ps, err := p.ProfilePositions(ctx)
		if err != nil || !slices.Equal(ps, []signals.Position{{Topic: "e", Partition: 0, Offset: 7}}) {
			t.Fatalf("positions after reopen %v, %v", ps, err)
		}
	})
}
