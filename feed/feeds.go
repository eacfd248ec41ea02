package feed

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals"
)

// Config configures the surfaces.
type Config struct {
	Search SearchConfig
	// FollowingWindow is how far back the following feed looks (30 days),
	// and FollowingMaxShares how many of the followed closets' shares it
	// reads at most (50,000).
	FollowingWindow    time.Duration
	FollowingMaxShares int
	// DropsHorizon is how far ahead /v1/drops looks (30 days).
	DropsHorizon time.Duration
	// SuspendedRefresh is how often the set of suspended sellers is read
	// again (5 s).
	SuspendedRefresh time.Duration
	// Home shapes the home feed's blend; HomeDepth is how many listings
	// its ranked snapshot holds, and SnapshotTTL how long one is kept.
	Home        ranking.HomeConfig
	HomeDepth   int
	SnapshotTTL time.Duration
	// Snapshots keeps the home feed's ranked snapshots; nil: in memory.
	Snapshots Snapshots
	// TrendingRefresh is how often trending is recomputed (30 s).
	TrendingRefresh time.Duration
	// Personal turns the home feed's personalization on (profiles.go).
	Personal PersonalConfig
}

func (c Config) withDefaults() Config {
	if c.FollowingWindow == 0 {
		c.FollowingWindow = 30 * 24 * time.Hour
	}
	if c.FollowingMaxShares == 0 {
		c.FollowingMaxShares = 50000
	}
	if c.DropsHorizon == 0 {
		c.DropsHorizon = 30 * 24 * time.Hour
	}
	if c.SuspendedRefresh == 0 {
		c.SuspendedRefresh = 5 * time.Second
	}
	if c.Home.PageSize == 0 {
		c.Home = ranking.DefaultHome
	}
	if c.HomeDepth == 0 {
		c.HomeDepth = 480
	}
	if c.SnapshotTTL == 0 {
		c.SnapshotTTL = 30 * time.Minute
	}
	if c.TrendingRefresh == 0 {
		c.TrendingRefresh = 30 * time.Second
	}
	return c
}

// ErrNotFound is an unknown party.
var ErrNotFound = errors.New("feed: not found")

// Feeds are the listing surfaces over a backend and the social state: the
// search surface, parties, the following and home feeds, and drops.
type Feeds struct {
	*Search
	r   Retriever
	s   signals.Reader
	cfg Config

	suspended atomic.Pointer[suspendedSet]
	refreshMu sync.Mutex
	trending  trending
	// partyIDs keeps, by party, the restriction last built from the
	// store's answer (see restrictionOf).
	partyIDs sync.Map // party id → *partyIDs
}

type suspendedSet struct {
	ids []string
	at  time.Time
}

// New returns the surfaces over r and s.
func New(r Retriever, s signals.Reader, cfg Config) *Feeds {
	cfg = cfg.withDefaults()
	f := &Feeds{r: r, s: s, cfg: cfg}
	sc := cfg.Search
	sc.Exclude = func(ctx context.Context, user string) ([]string, error) { return f.exclude(ctx, user, false) }
	f.Search = NewSearch(r, sc)
	f.cfg.Search = f.Search.cfg
	if f.cfg.Snapshots == nil {
		f.cfg.Snapshots = NewMemorySnapshots(10000)
	}
	return f
}

func (f *Feeds) cursors() *Cursors { return f.cfg.Search.Cursors }

// instant is a walk's instant: the cursor's, else the request's, else the
// clock, to the millisecond.
func (f *Feeds) instant(req *query.Request, cur *cursorState) time.Time {
	return f.Search.instant(req, cur)
}

// exclude returns the closets the viewer never sees: suspended sellers,
// those user blocked, and with own the viewer's own closet (a user and
// their closet share one id).
func (f *Feeds) exclude(ctx context.Context, user string, own bool) ([]string, error) {
	sus, err := f.suspendedSellers(ctx)
	if err != nil {
		return nil, err
	}
	out := append([]string(nil), sus...)
	if user == "" {
		return out, nil
	}
	blocked, err := f.s.Blocked(ctx, user)
	if err != nil {
		return nil, err
	}
	out = append(out, blocked...)
	if own {
		out = append(out, user)
	}
	return out, nil
}

// suspendedSellers is the set of suspended sellers, read again every
// SuspendedRefresh; one request refreshes it while the others use the
// previous set.
func (f *Feeds) suspendedSellers(ctx context.Context) ([]string, error) {
	cur := f.suspended.Load()
	if cur != nil && time.Since(cur.at) < f.cfg.SuspendedRefresh {
		return cur.ids, nil
	}
	if cur != nil && !f.refreshMu.TryLock() {
		return cur.ids, nil
	}
	if cur == nil {
		f.refreshMu.Lock()
	}
	defer f.refreshMu.Unlock()
	if now := f.suspended.Load(); now != cur && now != nil {
		return now.ids, nil
	}
	ids, err := f.s.Suspended(ctx)
	if err != nil {
		if cur != nil {
			return cur.ids, nil // keep serving the last set read
		}
		return nil, err
	}
	f.suspended.Store(&suspendedSet{ids: ids, at: time.Now()})
	return ids, nil
}

// decodeCursor verifies req's cursor for surface.
func (f *Feeds) decodeCursor(req *query.Request, surface, fp string) (*cursorState, error) {
	if req.Cursor == "" {
		return nil, nil
	}
	return f.cursors().decode(req.Cursor, surface, fp, req.Now)
}

// keyedPage runs a retrieval that pages by keyset, and signs the next
// cursor.
func (f *Feeds) keyedPage(ctx context.Context, r *query.Retrieval, surface, fp string, now time.Time, dress func(c *query.Candidate, h *Hit)) (*Page, error) {
	cands, err := f.r.Retrieve(ctx, r)
	if err != nil {
		return nil, err
	}
	page := &Page{Total: cands.Total, Facets: cands.Facets, Hits: hits(cands.Hits, dress)}
	if n := len(cands.Hits); n > 0 && cands.More {
		last := &cands.Hits[n-1]
		page.NextCursor = f.cursors().encode(&cursorState{Surface: surface, Sort: r.EffectiveSort(), At: now.UnixMilli(), Req: fp, Key: last.Key, ID: last.ID})
	}
	return page, nil
}
