package feed

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// Following is one page of user's following feed (DESIGN.md "Feeds"):
// what the closets user follows listed or shared, each listing once at
// its latest such event, newest first, within FollowingWindow. The
// followed closets' listings come from retrieval (a restriction to those
// sellers, keyed by listed_at), their shares from the signals store
// (their timelines merged at read time: no fan-out on write), and one
// retrieval orders, filters and counts both. The viewer's own closet,
// blocked closets and suspended sellers never appear.
func (f *Feeds) Following(ctx context.Context, req *query.Request) (*Page, error) {
	fp := fingerprint(req, surfaceFollowing)
	cur, err := f.decodeCursor(req, surfaceFollowing, fp)
	if err != nil {
		return nil, err
	}
	now := f.instant(req, cur)
	closets, err := f.s.Following(ctx, req.User, now, 0)
	if err != nil {
		return nil, err
	}
	r, shared, err := f.followingRetrieval(ctx, req, closets, now, f.cfg.FollowingMaxShares)
	if err != nil {
		return nil, err
	}
	base := SearchRetrieval(req, now, f.cfg.Search.Aliases)
	r.Filters, r.Facets, r.FacetLimit, r.N, r.Docs = base.Filters, base.Facets, base.FacetLimit, base.N, base.N
	if cur != nil {
		r.After = &query.Position{Key: cur.Key, ID: cur.ID}
	}
	return f.keyedPage(ctx, r, surfaceFollowing, fp, now, followingReason(closets, shared))
}

// followingRetrieval is the following feed of user as a SortFeed
// retrieval at now, with the newest maxShares of the followed closets'
// shared listings (the feed's are FollowingMaxShares), and those shares.
// The shares are handed to the backend as SharedBy answered them, the
// listings of an instant in no order: the backend keys every candidate
// and keeps the best anyway.
func (f *Feeds) followingRetrieval(ctx context.Context, req *query.Request, closets []string, now time.Time, maxShares int) (*query.Retrieval, signals.Shared, error) {
	since := now.Add(-f.cfg.FollowingWindow)
	ex, err := f.exclude(ctx, req.User, true)
	if err != nil {
		return nil, signals.Shared{}, err
	}
	var shared signals.Shared
	if len(closets) > 0 {
		if shared, err = f.s.SharedBy(ctx, closets, since, now, maxShares); err != nil {
			return nil, signals.Shared{}, err
		}
	}
	return &query.Retrieval{
		Now:  now,
		Sort: query.SortFeed,
		Restrict: query.Restriction{Include: true, Sellers: closets, IDs: shared.Listings, IDKeys: shared.At,
			Unordered: true, MinKey: since.UnixMilli(), ExcludeSellers: ex},
	}, shared, nil
}

// followingReason says why a listing is in the following feed: shared by
// a followed closet when its key is that share's time, else listed by its
// closet. The shares are SharedBy's answer, newest first: a candidate
// keyed by its share is found among the shares of its instant, in
// O(log n), with no index over every share.
func followingReason(closets []string, shared signals.Shared) func(c *query.Candidate, h *Hit) {
	return func(c *query.Candidate, h *Hit) {
		h.FeedAt = msTime(c.Key)
		i, _ := slices.BinarySearchFunc(shared.At, c.Key, func(at, key int64) int { return cmp.Compare(key, at) }) // newest first
		for ; i < shared.Len() && shared.At[i] == c.Key; i++ {
			if shared.Listings[i] == c.ID {
				h.FeedReason = &Reason{Type: ReasonShared, By: closets[shared.By[i]]}
				return
			}
		}
		h.FeedReason = &Reason{Type: ReasonListed, By: c.Seller}
	}
}
