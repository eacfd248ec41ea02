package feed

import (
	"context"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals"
)

// ProfileReader reads the half of a profile learned from events
// (signals.ProfileStore.Profile): by pseudonym, decayed to at.
type ProfileReader interface {
	Profile(ctx context.Context, user string, at time.Time) (signals.Profile, error)
}

// PersonalConfig turns personalization on.
type PersonalConfig struct {
	// Profiles and Pseudonym give the half learned from clicks, carts and
	// purchases (kept by pseudonym); nil: that half is left out.
	Profiles  ProfileReader
	Pseudonym func(user string) string
	// Strength returns the personalization strength (0–100, Algolia's
	// impact) for a user, their experiment variant's or the default; nil
	// or 0: the home feed is not personalized.
	Strength func(user string) int
}

// Weights of the rows of the signals store in a profile, beside the
// events' (indexer/affinity: click 1, cart 3, purchase 6).
const (
	likeShareWeight = 2.0 // a like or share of a listing, for each of its features
	followWeight    = 3.0 // following a closet, for the closet
	profileActivity = 200 // the most recent likes and shares read
	profileFollows  = 100 // the most recently followed closets read
)

// Profile returns user's affinity profile at now: the events half
// (by pseudonym) plus the half derived at read time from their likes,
// shares (decayed like the events' deltas) and follows in the signals
// store, so that the change stream's rows are never stored twice and
// forgetting a user's rows forgets their half. Empty for an anonymous
// user.
func (f *Feeds) Profile(ctx context.Context, user string, now time.Time) (ranking.UserProfile, error) {
	if user == "" {
		return ranking.UserProfile{}, nil
	}
	w := map[string]float64{}
	pc := f.cfg.Personal
	if pc.Profiles != nil && pc.Pseudonym != nil {
		p, err := pc.Profiles.Profile(ctx, pc.Pseudonym(user), now)
		if err != nil {
			return ranking.UserProfile{}, err
		}
		for k, v := range p {
			w[k] += v
		}
	}
	acts, err := f.s.Activity(ctx, user, now.Add(-f.cfg.FollowingWindow), now, profileActivity)
	if err != nil {
		return ranking.UserProfile{}, err
	}
	if len(acts) > 0 {
		ids := make([]string, len(acts))
		keys := make([]int64, len(acts))
		at := make(map[string]time.Time, len(acts))
		for i, a := range acts {
			ids[i], keys[i], at[a.Listing] = a.Listing, a.At.UnixMilli(), a.At
		}
		mine, err := f.r.Retrieve(ctx, &query.Retrieval{Now: now, Sort: query.SortFeed, N: min(len(ids), query.MaxCandidates),
			Restrict: query.Restriction{Include: true, IDs: ids, IDKeys: keys}})
		if err != nil {
			return ranking.UserProfile{}, err
		}
		for i := range mine.Hits {
			c := &mine.Hits[i]
			x := signals.Decayed(signals.Stored(likeShareWeight, at[c.ID]), now)
			for _, ft := range ranking.SignalFeatures(&c.Signals) {
				if ft != "" {
					w[ft] += x
				}
			}
		}
	}
	closets, err := f.s.Following(ctx, user, now, profileFollows)
	if err != nil {
		return ranking.UserProfile{}, err
	}
	for _, c := range closets {
		w[ranking.FeatureCloset+c] += followWeight
	}
	return ranking.NewUserProfile(w), nil
}

// strength is the home feed's personalization strength for user.
func (f *Feeds) strength(user string) int {
	if user == "" || f.cfg.Personal.Strength == nil {
		return 0
	}
	return min(max(f.cfg.Personal.Strength(user), 0), 100)
}
