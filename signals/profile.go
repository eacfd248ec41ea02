package signals

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"
)

// Affinity profiles: what a shopper's clicks, add-to-carts and purchases
// (the events topic) say they like, per feature ("b:<brand>",
// "c:<category, two levels>", "z:<size>", "p:<price band>",
// "s:<closet>"; ranking.Features names them), decayed over time.
//
// Keying. The events topic carries pseudonyms (events.Pseudonymizer), the
// change stream raw user ids. Profiles are kept by pseudonym, the key the
// events already carry, so that the events consumer needs neither the
// pseudonymization key nor a reverse map, and the profile store never
// holds a raw id; the half learned from likes, shares and follows is not
// stored twice: the discovery layer derives it at read time from the rows
// this store already keeps by user id (Activity, Following) and adds the
// two (feed.Profiles). Forgetting a user is then ForgetProfile of their
// pseudonym plus the removal of their rows.
//
// Decay. A delta of weight w at t is stored as w·2^((t−ProfileEpoch)/
// ProfileHalfLife), so that deltas add up in any order (HINCRBYFLOAT, a
// map add) and a replay of the same deltas after the same ones converges;
// a read at instant at multiplies by 2^(−(at−ProfileEpoch)/ProfileHalfLife)
// (Decayed). Float64 holds 2^1023: about 80 years of 30-day half-lives.

// ProfileHalfLife is the half-life of an affinity: an interaction this old
// counts half as much as one now.
const ProfileHalfLife = 30 * 24 * time.Hour

// ProfileEpoch is the origin of stored affinity values.
var ProfileEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Stored is the stored value of a delta of weight w at t.
func Stored(w float64, t time.Time) float64 {
	return w * math.Exp2(float64(t.Sub(ProfileEpoch))/float64(ProfileHalfLife))
}

// Decayed is the weight at instant at of a stored value.
func Decayed(v float64, at time.Time) float64 {
	return v * math.Exp2(-float64(at.Sub(ProfileEpoch))/float64(ProfileHalfLife))
}

// AffinityDelta adds Weight to User's Feature, as of At.
type AffinityDelta struct {
	User    string // the pseudonym
	Feature string
	Weight  float64
	At      time.Time
}

// ProfileBatch is what the events consumer hands a profile store at once:
// deltas and the events topic positions they bring it to.
type ProfileBatch struct {
	Deltas    []AffinityDelta
	Positions []Position
}

// Profile is a user's affinities at an instant: feature → decayed weight.
type Profile map[string]float64

// The profile methods a store implements (both of this module's do); the
// packages that use them define the small interfaces they need
// (indexer/affinity writes, feed reads, the forget command forgets).
//
//	ApplyProfiles(ctx, ProfileBatch) error
//	    the deltas and positions, atomically (both durable or neither)
//	ProfilePositions(ctx) ([]Position, error)
//	    the events topic positions applied; none for a new store
//	Profile(ctx, user string, at time.Time) (Profile, error)
//	    user's decayed affinities at at; empty (not nil error) for a user
//	    without any
//	ForgetProfile(ctx, user string) error
//	    removes user's profile; later deltas start a new one
//
// ProfileStore gathers them for the conformance suite and cmd.
type ProfileStore interface {
	ApplyProfiles(ctx context.Context, b ProfileBatch) error
	ProfilePositions(ctx context.Context) ([]Position, error)
	Profile(ctx context.Context, user string, at time.Time) (Profile, error)
	ForgetProfile(ctx context.Context, user string) error
}

// SortPositions orders positions by topic, then partition.
func SortPositions(ps []Position) {
	slices.SortFunc(ps, func(a, b Position) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
}
