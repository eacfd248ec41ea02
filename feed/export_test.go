package feed

import (
	"context"
	"time"

	"github.com/rummage/rummage/query"
)

// SetFollowingTopFactor sets followingTopFactor until the test ends.
func SetFollowingTopFactor(t interface{ Cleanup(func()) }, v int) {
	old := followingTopFactor
	followingTopFactor = v
	t.Cleanup(func() { followingTopFactor = old })
}

// FollowingTop exposes followingTop, and FollowingAll the same first n
// candidates read from every share (FollowingMaxShares), for the tests.
func (f *Feeds) FollowingTop(ctx context.Context, user string, now time.Time, n int) ([]query.Candidate, error) {
	closets, err := f.s.Following(ctx, user, now, 0)
	if err != nil {
		return nil, err
	}
	c, _, err := f.followingTop(ctx, user, closets, now, n)
	if err != nil {
		return nil, err
	}
	return c.Hits, nil
}

func (f *Feeds) FollowingAll(ctx context.Context, user string, now time.Time, n int) ([]query.Candidate, error) {
	closets, err := f.s.Following(ctx, user, now, 0)
	if err != nil {
		return nil, err
	}
	r, _, err := f.followingRetrieval(ctx, &query.Request{User: user}, closets, now, f.cfg.FollowingMaxShares)
	if err != nil {
		return nil, err
	}
	r.N = n
	c, err := f.r.Retrieve(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.Hits, nil
}
