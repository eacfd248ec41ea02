package feed

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals"
)

// Snapshot is a home feed's ranked list, kept server-side so that paging
// never shows a listing twice however the sources move.
type Snapshot struct {
	Items []SnapshotItem `json:"items"`
}

// SnapshotItem is one ranked listing with why it is there.
type SnapshotItem struct {
	ID     string `json:"id"`
	Reason Reason `json:"reason"`
	AtMs   int64  `json:"at,omitempty"`
}

// Snapshots keeps ranked snapshots, shared by every replica (Redis) or in
// process; bounded and expiring.
type Snapshots interface {
	// Put keeps s under id for ttl.
	Put(ctx context.Context, id string, s *Snapshot, ttl time.Duration) error
	// Get returns the snapshot under id, or ErrSnapshotGone when it expired
	// or was evicted.
	Get(ctx context.Context, id string) (*Snapshot, error)
}

// ErrSnapshotGone is a snapshot that expired or was evicted.
var ErrSnapshotGone = errors.New("feed: snapshot expired")

// MemorySnapshots keeps snapshots in process, at most max of them (the
// oldest evicted first).
type MemorySnapshots struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string]memSnap
}

type memSnap struct {
	s       *Snapshot
	expires time.Time
}

// NewMemorySnapshots returns an in-process store of at most max snapshots.
func NewMemorySnapshots(max int) *MemorySnapshots {
	return &MemorySnapshots{max: max, m: map[string]memSnap{}}
}

// Put implements Snapshots.
func (m *MemorySnapshots) Put(_ context.Context, id string, s *Snapshot, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[id]; !ok {
		m.order = append(m.order, id)
	}
	m.m[id] = memSnap{s: s, expires: time.Now().Add(ttl)}
	for len(m.order) > m.max {
		delete(m.m, m.order[0])
		m.order = m.order[1:]
	}
	return nil
}

// Get implements Snapshots.
func (m *MemorySnapshots) Get(_ context.Context, id string) (*Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[id]
	if !ok || time.Now().After(e.expires) {
		return nil, ErrSnapshotGone
	}
	return e.s, nil
}

// Home is one page of the home feed (DESIGN.md "Feeds"): the followed
// closets' activity, listings matching the shopper's affinities, trending
// and fresh listings, blended by ranking.BlendHome into a ranked snapshot
// kept server-side; later pages read the snapshot (no listing twice), and
// a walk whose snapshot expired starts again (Restarted). Without a user,
// or for one without signals: trending, then fresh.
func (f *Feeds) Home(ctx context.Context, req *query.Request) (*Page, error) {
	fp := fingerprint(req, surfaceHome)
	cur, err := f.decodeCursor(req, surfaceHome, fp)
	if err != nil {
		return nil, err
	}
	restarted := false
	var snap *Snapshot
	var snapID string
	offset := 0
	if cur != nil {
		snapID, offset = cur.ID, cur.Served
		if snap, err = f.cfg.Snapshots.Get(ctx, snapID); errors.Is(err, ErrSnapshotGone) {
			restarted, cur = true, nil
		} else if err != nil {
			return nil, err
		}
	}
	now := f.instant(req, cur)
	if snap == nil {
		offset = 0
		if snap, err = f.homeSnapshot(ctx, req.User, now); err != nil {
			return nil, err
		}
		snapID = newSnapshotID()
		if err := f.cfg.Snapshots.Put(ctx, snapID, snap, f.cfg.SnapshotTTL); err != nil {
			return nil, err
		}
	}
	limit := req.EffectiveLimit()
	items := snap.Items[min(offset, len(snap.Items)):min(offset+limit, len(snap.Items))]
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	docs, err := f.r.Load(ctx, ids)
	if err != nil {
		return nil, err
	}
	page := &Page{Total: len(snap.Items), Hits: make([]Hit, 0, len(items)), Restarted: restarted}
	for i, d := range docs {
		if d == nil || !d.VisibleAt(now) {
			continue // sold or gone since the snapshot
		}
		h := Hit{Listing: *d, FeedReason: &items[i].Reason}
		at := items[i].AtMs
		if at == 0 {
			at = d.ListedAt().UnixMilli()
		}
		h.FeedAt = msTime(at)
		page.Hits = append(page.Hits, h)
	}
	if end := offset + len(items); end < len(snap.Items) {
		page.NextCursor = f.cursors().encode(&cursorState{Surface: surfaceHome, At: now.UnixMilli(), Req: fp, ID: snapID, Served: end})
	}
	return page, nil
}

func newSnapshotID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// homeSources is how many candidates each source offers the blend.
const homeSourceSize = 200

// homeSnapshot blends the home sources of user at now.
func (f *Feeds) homeSnapshot(ctx context.Context, user string, now time.Time) (*Snapshot, error) {
	ex, err := f.exclude(ctx, user, true)
	if err != nil {
		return nil, err
	}
	reasons := map[string]SnapshotItem{}
	feats := map[string]ranking.Features{}
	var src ranking.HomeSources
	add := func(list *[]ranking.Item, source ranking.Source, c *query.Candidate, it SnapshotItem) {
		*list = append(*list, ranking.Item{ID: c.ID, Seller: c.Seller, Source: source})
		if _, ok := reasons[c.ID]; !ok {
			reasons[c.ID] = it
			feats[c.ID] = ranking.SignalFeatures(&c.Signals)
		}
	}
	// With personalization on, the shopper's whole profile (events, likes,
	// shares, follows) picks the affinity source's retrievals and boosts
	// every source's candidates; off (or anonymous), the affinity source
	// reads likes and shares alone and nothing is boosted.
	strength := f.strength(user)
	var prof ranking.UserProfile
	if strength > 0 {
		if prof, err = f.Profile(ctx, user, now); err != nil {
			return nil, err
		}
	}
	if user != "" {
		closets, err := f.s.Following(ctx, user, now, 0)
		if err != nil {
			return nil, err
		}
		if len(closets) > 0 {
			cands, shared, err := f.followingTop(ctx, user, closets, now, homeSourceSize)
			if err != nil {
				return nil, err
			}
			why := followingReason(closets, shared)
			for i := range cands.Hits {
				c := &cands.Hits[i]
				var h Hit
				why(c, &h)
				add(&src.Following, ranking.SourceFollowing, c, SnapshotItem{ID: c.ID, Reason: *h.FeedReason, AtMs: c.Key})
			}
		}
		if err := f.affinity(ctx, user, now, ex, prof, func(c *query.Candidate, value string) {
			add(&src.Affinity, ranking.SourceAffinity, c, SnapshotItem{ID: c.ID, Reason: Reason{Type: ReasonAffinity, Value: value}})
		}); err != nil {
			return nil, err
		}
	}
	trend, err := f.trendingNow(ctx, now)
	if err != nil {
		return nil, err
	}
	excluded := make(map[string]struct{}, len(ex)) // suspended closets may be thousands: no scan per candidate
	for _, s := range ex {
		excluded[s] = struct{}{}
	}
	for i := range trend {
		c := &trend[i]
		if _, no := excluded[c.Seller]; !no {
			add(&src.Trending, ranking.SourceTrending, c, SnapshotItem{ID: c.ID, Reason: Reason{Type: ReasonTrending}})
		}
	}
	fresh, err := f.r.Retrieve(ctx, &query.Retrieval{Now: now, Sort: query.SortNewest, N: homeSourceSize,
		Restrict: query.Restriction{ExcludeSellers: ex}})
	if err != nil {
		return nil, err
	}
	for i := range fresh.Hits {
		c := &fresh.Hits[i]
		add(&src.Fresh, ranking.SourceFresh, c, SnapshotItem{ID: c.ID, Reason: Reason{Type: ReasonFresh}, AtMs: c.ListedMs})
	}
	if !prof.Empty() {
		for _, list := range []*[]ranking.Item{&src.Following, &src.Affinity, &src.Trending, &src.Fresh} {
			*list = personalizeItems(*list, feats, prof, strength)
		}
	}
	blend := ranking.BlendHome(src, f.cfg.Home, f.cfg.HomeDepth)
	snap := &Snapshot{Items: make([]SnapshotItem, len(blend))}
	for i, it := range blend {
		snap.Items[i] = reasons[it.ID]
	}
	return snap, nil
}

// followingTopFactor is how many shares per candidate followingTop reads
// at first (a variable for the tests: 0 reads one, then more).
var followingTopFactor = 4

// followingTop is the first n candidates of user's following feed (no
// total, no facets), and the shares they were keyed by. It reads the
// followed closets' newest shares a few times n at first, and more only
// when the answer could depend on the ones left out: when fewer than n
// candidates came back, or the n-th is not strictly newer than the last
// share read (a share left out is at most as new as that one).
func (f *Feeds) followingTop(ctx context.Context, user string, closets []string, now time.Time, n int) (*query.Candidates, signals.Shared, error) {
	limit := f.cfg.FollowingMaxShares
	read := min(max(1, followingTopFactor*n), limit)
	for {
		r, shared, err := f.followingRetrieval(ctx, &query.Request{User: user}, closets, now, read)
		if err != nil {
			return nil, signals.Shared{}, err
		}
		r.N = n
		cands, err := f.r.Retrieve(ctx, r)
		if err != nil {
			return nil, signals.Shared{}, err
		}
		if shared.Len() < read || read >= limit ||
			(len(cands.Hits) == n && cands.Hits[n-1].Key > shared.At[shared.Len()-1]) {
			return cands, shared, nil
		}
		read = min(read*4, limit)
	}
}

// affinity offers the listings that match user's profile: the brands,
// categories and sizes of what they liked and shared lately, each with
// its own retrieval (newest first), interleaved.
func (f *Feeds) affinity(ctx context.Context, user string, now time.Time, exclude []string, prof ranking.UserProfile, yield func(c *query.Candidate, value string)) error {
	top, err := f.affinities(ctx, user, now, prof)
	if err != nil {
		return err
	}
	var lists [][]query.Candidate
	var values []string
	for _, want := range top {
		r := &query.Retrieval{Now: now, Sort: query.SortNewest, N: homeSourceSize / 3, Restrict: query.Restriction{ExcludeSellers: exclude}}
		switch want.Field {
		case query.FacetBrand:
			r.Filters.Brands = []string{want.Value}
		case query.FacetCategory:
			r.Filters.Category = strings.Split(want.Value, "/")
		case query.FacetSize:
			r.Filters.Sizes = []string{want.Value}
		}
		cands, err := f.r.Retrieve(ctx, r)
		if err != nil {
			return err
		}
		lists, values = append(lists, cands.Hits), append(values, want.Value)
	}
	for i := 0; ; i++ {
		any := false
		for l := range lists {
			if i < len(lists[l]) {
				yield(&lists[l][i], values[l])
				any = true
			}
		}
		if !any {
			return nil
		}
	}
}

// affinities are the three strongest affinities the affinity source
// retrieves: of prof when it is set, else of the listings user liked and
// shared lately (ranking.Profile).
func (f *Feeds) affinities(ctx context.Context, user string, now time.Time, prof ranking.UserProfile) (ranking.Affinities, error) {
	if !prof.Empty() {
		return prof.Top(3), nil
	}
	acts, err := f.s.Activity(ctx, user, now.Add(-f.cfg.FollowingWindow), now, homeSourceSize)
	if err != nil || len(acts) == 0 {
		return nil, err
	}
	ids := make([]string, len(acts))
	keys := make([]int64, len(acts))
	for i, a := range acts {
		ids[i], keys[i] = a.Listing, a.At.UnixMilli()
	}
	// The signals of the liked and shared listings still visible.
	mine, err := f.r.Retrieve(ctx, &query.Retrieval{Now: now, Sort: query.SortFeed, N: min(len(ids), query.MaxCandidates),
		Restrict: query.Restriction{Include: true, IDs: ids, IDKeys: keys}})
	if err != nil {
		return nil, err
	}
	return ranking.Profile(mine.Hits).Top(3), nil
}

// personalizeItems reorders a source's items by the profile
// (ranking.Personalize): the soft boost, nothing dropped.
func personalizeItems(items []ranking.Item, feats map[string]ranking.Features, prof ranking.UserProfile, strength int) []ranking.Item {
	order := ranking.Personalize(len(items), func(i int) ranking.Features { return feats[items[i].ID] }, prof, strength)
	out := make([]ranking.Item, len(items))
	for i, j := range order {
		out[i] = items[j]
	}
	return out
}

// trending is the trending list, recomputed at most every TrendingRefresh
// and the same for every anonymous shopper.
type trending struct {
	mu    sync.Mutex
	at    time.Time
	items []query.Candidate
}

// trendingCandidates is how many engaged listings trending considers.
const trendingCandidates = 5000

// trendingNow returns the trending list, recomputing it when it is older
// than TrendingRefresh (one caller recomputes; the others wait for it).
func (f *Feeds) trendingNow(ctx context.Context, now time.Time) ([]query.Candidate, error) {
	t := &f.trending
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.at.IsZero() && now.Sub(t.at) < f.cfg.TrendingRefresh && now.Sub(t.at) >= 0 {
		return t.items, nil
	}
	items, err := f.computeTrending(ctx, now)
	if err != nil {
		return nil, err
	}
	t.at, t.items = now, items
	return items, nil
}

// computeTrending scores the most engaged listings by distinct users other
// than their seller (ranking.TrendingScore), visible ones only, at most
// ranking.TrendingPerCloset per closet.
func (f *Feeds) computeTrending(ctx context.Context, now time.Time) ([]query.Candidate, error) {
	since := now.Add(-ranking.TrendingHorizon)
	top, err := f.s.TopEngaged(ctx, since, now, ranking.TrendingHalfLife, trendingCandidates)
	if err != nil || len(top) == 0 {
		return nil, err
	}
	// SortFeed keys are integers: the score to a millionth, in key order.
	key := func(e signals.Engaged) int64 { return int64(e.Score * 1e6) }
	slices.SortFunc(top, func(a, b signals.Engaged) int {
		if c := cmp.Compare(key(b), key(a)); c != 0 {
			return c
		}
		return strings.Compare(a.Listing, b.Listing)
	})
	ids := make([]string, len(top))
	keys := make([]int64, len(top))
	for i, e := range top {
		ids[i], keys[i] = e.Listing, key(e)
	}
	sus, err := f.suspendedSellers(ctx)
	if err != nil {
		return nil, err
	}
	cands, err := f.r.Retrieve(ctx, &query.Retrieval{Now: now, Sort: query.SortFeed, N: query.MaxCandidates,
		Restrict: query.Restriction{Include: true, IDs: ids, IDKeys: keys, ExcludeSellers: sus}})
	if err != nil {
		return nil, err
	}
	visible := make([]string, len(cands.Hits))
	for i, c := range cands.Hits {
		visible[i] = c.ID
	}
	eng, err := f.s.Engagers(ctx, visible, since, now)
	if err != nil {
		return nil, err
	}
	nowMs := now.UnixMilli()
	scored := make([]query.Candidate, 0, len(cands.Hits))
	for _, c := range cands.Hits {
		es := make([]ranking.Engagement, len(eng[c.ID]))
		for i, u := range eng[c.ID] {
			es[i] = ranking.Engagement{User: u.User, AtMs: u.At.UnixMilli()}
		}
		if c.Score = ranking.TrendingScore(es, c.Seller, nowMs); c.Score > 0 {
			scored = append(scored, c)
		}
	}
	slices.SortFunc(scored, func(a, b query.Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	per := map[string]int{}
	out := scored[:0]
	for _, c := range scored {
		if per[c.Seller] < ranking.TrendingPerCloset {
			per[c.Seller]++
			out = append(out, c)
		}
	}
	return out, nil
}
