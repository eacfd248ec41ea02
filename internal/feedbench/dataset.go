package feedbench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/searchbench"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// IndexBuild is how the embedded index was built.
type IndexBuild struct {
	Listings  int        `json:"listings"`
	Seconds   float64    `json:"seconds"`
	PerSecond float64    `json:"listings_per_second"`
	LoadAvg   [3]float64 `json:"load_avg"`
	Reused    bool       `json:"reused"`
}

type indexMarker struct {
	Dataset dataset    `json:"dataset"`
	Build   IndexBuild `json:"build"`
}

const indexMarkerFile = "feedbench.json"

// prepareIndex opens the embedded index of the data set in IndexDir,
// building it when it is missing or of another data set.
func prepareIndex(ctx context.Context, c *Config) (*embedded.Index, *IndexBuild, error) {
	dir := filepath.Join(c.IndexDir, "index")
	markerPath := filepath.Join(c.IndexDir, indexMarkerFile)
	var m indexMarker
	found, err := atomicfile.ReadJSON(markerPath, &m)
	if err != nil {
		return nil, nil, fmt.Errorf("feedbench: %w", err)
	}
	if found && m.Dataset == c.dataset() && !c.Rebuild {
		x, err := embedded.Open(ctx, embedded.Config{Dir: dir})
		if err != nil {
			return nil, nil, err
		}
		m.Build.Reused = true
		c.logf("index: reusing %s (%d listings)", dir, m.Build.Listings)
		return x, &m.Build, nil
	}
	if !found {
		if entries, err := os.ReadDir(c.IndexDir); err == nil && len(entries) > 0 {
			return nil, nil, fmt.Errorf("feedbench: %s is not empty and holds no %s; choose another --index-dir", c.IndexDir, indexMarkerFile)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, nil, err
	}
	if err := os.Remove(markerPath); err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	if err := os.MkdirAll(c.IndexDir, 0o755); err != nil {
		return nil, nil, err
	}
	c.logf("index: building the embedded index of %d listings in %s", c.Listings, dir)
	x, err := embedded.Open(ctx, embedded.Config{Dir: dir, Progress: func(p embedded.Progress) {
		if p.Phase == "bulk" && p.Done%100000 == 0 && p.Done > 0 {
			c.logf("index: %d listings (load %.1f)", p.Done, benchkit.LoadAvg()[0])
		}
	}})
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	next, stop := searchbench.Changes(ctx, c.options())
	st, err := x.Bulk(ctx, next)
	stop()
	if err != nil {
		x.Close()
		return nil, nil, fmt.Errorf("feedbench: build the index: %w", err)
	}
	took := time.Since(start)
	b := IndexBuild{Listings: st.Written, Seconds: took.Seconds(), PerSecond: float64(st.Written) / took.Seconds(), LoadAvg: benchkit.LoadAvg()}
	if err := atomicfile.WriteJSON(markerPath, indexMarker{Dataset: c.dataset(), Build: b}); err != nil {
		x.Close()
		return nil, nil, err
	}
	c.logf("index: %d listings in %s, %.0f listings/s", b.Listings, took.Round(time.Second), b.PerSecond)
	return x, &b, nil
}

// DataSet is what was generated.
type DataSet struct {
	Listings int   `json:"listings"`
	Closets  int   `json:"closets"`
	Users    int   `json:"users"`
	Follows  int64 `json:"follows"`
	Likes    int64 `json:"likes"`
	Shares   int64 `json:"shares"`
	Blocks   int64 `json:"blocks"`
	Parties  int   `json:"parties"`
	// LiveParty is the party live at Now; SmallParty the party (live or
	// ended) whose shared listings are nearest 20k.
	LiveParty  PartyStats `json:"live_party"`
	SmallParty PartyStats `json:"small_party"`
}

// PartyStats sizes one party.
type PartyStats struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Status         string `json:"status"`
	Shares         int64  `json:"shares"`
	SharedListings int64  `json:"shared_listings"`
}

// Memory is the heap of the signals store, measured after a GC before and
// after each stage of its load (the index was open throughout).
type Memory struct {
	// Bytes of heap the follows stage added (users, closets, follows,
	// blocks, parties, interned ids), and per follow.
	FollowsBytes   int64   `json:"follows_bytes"`
	BytesPerFollow float64 `json:"bytes_per_follow"`
	// The shares stage (interning the listing ids it is first to name).
	SharesBytes   int64   `json:"shares_bytes"`
	BytesPerShare float64 `json:"bytes_per_share"`
	LikesBytes    int64   `json:"likes_bytes"`
	BytesPerLike  float64 `json:"bytes_per_like"`
	TotalBytes    int64   `json:"total_bytes"`
	LoadSeconds   float64 `json:"load_seconds"`
	ChangesPerSec float64 `json:"changes_per_second"`
}

// loaded is the data set as the scenarios need it.
type loaded struct {
	summary  DataSet
	outDeg   []int32 // follows per user
	parties  []fixtures.Party
	userIDs  func(u int) string
	liveIdx  int
	smallIdx int
}

// loadSignals generates the social rows and applies them to a new
// embedded signals store in dir, in three stages whose heap it measures.
func loadSignals(ctx context.Context, c *Config, dir string) (*memory.Store, *loaded, *Memory, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, nil, nil, fmt.Errorf("feedbench: the signals directory %s is not empty: the bench loads a new store", dir)
	}
	// One snapshot at most: the bench applies one big load, not a stream.
	st, err := memory.OpenConfig(memory.Config{Dir: dir, SnapshotBytes: 1 << 40})
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*memory.Store, *loaded, *Memory, error) {
		st.Close()
		return nil, nil, nil, err
	}
	g, err := fixtures.NewGenerator(c.options())
	if err != nil {
		return fail(err)
	}
	ld := &loaded{parties: g.Parties(), userIDs: g.UserID}
	ds := &ld.summary
	ds.Listings, ds.Closets, ds.Users, ds.Parties = g.Count(), g.SellerCount(), g.UserCount(), len(ld.parties)
	ld.outDeg = make([]int32, g.UserCount())

	w := &batcher{st: st}
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	// What Shares and Likes read of each listing, generated once and kept
	// alive through every measurement (a constant in the deltas).
	c.logf("signals: generating the %d listings' fields the shares and likes need", g.Count())
	base := make([]rummage.Listing, g.Count())
	for i := range base {
		l := g.Listing(i)
		base[i] = rummage.Listing{ID: l.ID, SellerID: l.SellerID, Brand: l.Brand, Category: l.Category,
			Condition: l.Condition, PriceCents: l.PriceCents, Status: l.Status,
			CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, AvailableAt: l.AvailableAt}
	}
	mem := &Memory{}
	start := time.Now()
	h0 := heap()

	c.logf("signals: loading sellers, parties, follows and blocks of %d users", g.UserCount())
	for i := range g.SellerCount() {
		s := g.Seller(i)
		if err := w.add(ctx, signals.Change{Seller: &signals.Seller{ID: s.ID, Username: s.Username, DisplayName: s.DisplayName, Status: s.Status}}); err != nil {
			return fail(err)
		}
	}
	for _, p := range ld.parties {
		th, err := themeOf(p.Theme)
		if err != nil {
			return fail(err)
		}
		if err := w.add(ctx, signals.Change{Party: &signals.Party{ID: p.ID, Name: p.Name, Theme: th, StartsAt: p.StartsAt, EndsAt: p.EndsAt}}); err != nil {
			return fail(err)
		}
	}
	var fbuf []fixtures.Follow
	var bbuf []fixtures.Block
	for u := range g.UserCount() {
		fbuf = g.Follows(u, fbuf[:0])
		ld.outDeg[u] = int32(len(fbuf))
		for _, f := range fbuf {
			if err := w.add(ctx, signals.Change{Follow: &signals.Follow{Follower: f.FollowerID, Seller: f.SellerID, At: f.CreatedAt}}); err != nil {
				return fail(err)
			}
		}
		ds.Follows += int64(len(fbuf))
		bbuf = g.Blocks(u, bbuf[:0])
		for _, b := range bbuf {
			if err := w.add(ctx, signals.Change{Block: &signals.Block{User: b.UserID, Seller: b.SellerID, At: b.CreatedAt}}); err != nil {
				return fail(err)
			}
		}
		ds.Blocks += int64(len(bbuf))
		if (u+1)%100000 == 0 {
			c.logf("signals: %d users, %d follows", u+1, ds.Follows)
		}
	}
	if err := w.flush(ctx); err != nil {
		return fail(err)
	}
	h1 := heap()

	// Shares and likes are applied in time order, as the change stream
	// delivers them (commit order): the store keeps its timelines and party
	// logs sorted by inserting, which costs O(n) per event that arrives
	// older than the newest held. Share ids are renumbered 1..n in that
	// order, as shares.id (a bigserial) numbers them in production: the
	// generator's ids (listing<<20 | k) are sparse, and the store indexes
	// share ids in blocks of 256, one block per listing then.
	c.logf("signals: generating the shares of %d listings", g.Count())
	partyShares := map[string]int64{}
	partyListings := map[string]int64{}
	partyNames := map[string]int16{}
	var partyIDs []string
	for _, p := range ld.parties {
		partyNames[p.ID] = int16(len(partyIDs))
		partyIDs = append(partyIDs, p.ID)
	}
	var shares []event
	var sbuf []fixtures.Share
	seen := map[string]bool{}
	for i := range g.Count() {
		sbuf = g.Shares(i, &base[i], sbuf[:0])
		clear(seen)
		for _, s := range sbuf {
			party := int16(-1)
			if s.PartyID != "" {
				party = partyNames[s.PartyID]
				partyShares[s.PartyID]++
				if !seen[s.PartyID] {
					seen[s.PartyID] = true
					partyListings[s.PartyID]++
				}
			}
			shares = append(shares, event{at: s.CreatedAt.UnixMilli(), id: s.ID, user: s.UserID, listing: int32(i), party: party})
		}
	}
	ds.Shares = int64(len(shares))
	err = w.applyInTimeOrder(ctx, c, "shares", shares, func(k int, e event) signals.Change {
		id := e.id
		if !c.SparseShareIDs {
			id = int64(k + 1)
		}
		sh := &signals.Share{ID: id, User: e.user, Listing: base[e.listing].ID, At: time.UnixMilli(e.at).UTC()}
		if e.party >= 0 {
			sh.Party = partyIDs[e.party]
		}
		return signals.Change{Share: sh}
	})
	shares = nil
	if err != nil {
		return fail(err)
	}
	h2 := heap()

	c.logf("signals: generating the likes of %d listings", g.Count())
	var likes []event
	var lbuf []fixtures.Like
	for i := range g.Count() {
		lbuf = g.Likes(i, &base[i], lbuf[:0])
		for _, k := range lbuf {
			likes = append(likes, event{at: k.CreatedAt.UnixMilli(), user: k.UserID, listing: int32(i)})
		}
	}
	ds.Likes = int64(len(likes))
	err = w.applyInTimeOrder(ctx, c, "likes", likes, func(_ int, e event) signals.Change {
		return signals.Change{Like: &signals.Like{User: e.user, Listing: base[e.listing].ID, At: time.UnixMilli(e.at).UTC()}}
	})
	likes = nil
	if err != nil {
		return fail(err)
	}
	took := time.Since(start)
	h3 := heap()
	runtime.KeepAlive(base)

	mem.FollowsBytes, mem.SharesBytes, mem.LikesBytes, mem.TotalBytes = h1-h0, h2-h1, h3-h2, h3-h0
	mem.BytesPerFollow = perRow(mem.FollowsBytes, ds.Follows)
	mem.BytesPerShare = perRow(mem.SharesBytes, ds.Shares)
	mem.BytesPerLike = perRow(mem.LikesBytes, ds.Likes)
	mem.LoadSeconds = took.Seconds()
	mem.ChangesPerSec = float64(w.version) / took.Seconds()

	// The parties measured: the live one, and the one nearest 20k shared
	// listings.
	now := c.Now
	ld.liveIdx, ld.smallIdx = -1, -1
	for k, p := range ld.parties {
		if p.Status(now) == "live" && (ld.liveIdx < 0 || partyListings[p.ID] > partyListings[ld.parties[ld.liveIdx].ID]) {
			ld.liveIdx = k
		}
	}
	for k, p := range ld.parties {
		if k == ld.liveIdx || partyListings[p.ID] == 0 {
			continue
		}
		if ld.smallIdx < 0 || abs(partyListings[p.ID]-20000) < abs(partyListings[ld.parties[ld.smallIdx].ID]-20000) {
			ld.smallIdx = k
		}
	}
	stats := func(k int) PartyStats {
		if k < 0 {
			return PartyStats{}
		}
		p := ld.parties[k]
		return PartyStats{ID: p.ID, Name: p.Name, Status: p.Status(now), Shares: partyShares[p.ID], SharedListings: partyListings[p.ID]}
	}
	ds.LiveParty, ds.SmallParty = stats(ld.liveIdx), stats(ld.smallIdx)
	c.logf("signals: %d follows, %d shares, %d likes in %s; heap %s (%.1f B/follow, %.1f B/share, %.1f B/like)",
		ds.Follows, ds.Shares, ds.Likes, took.Round(time.Second), benchkit.FormatBytes(mem.TotalBytes),
		mem.BytesPerFollow, mem.BytesPerShare, mem.BytesPerLike)
	return st, ld, mem, nil
}

func perRow(bytes, rows int64) float64 {
	if rows == 0 {
		return 0
	}
	return float64(bytes) / float64(rows)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// themeOf is a generated theme as the store holds it: the parties row's
// JSON read the way the indexer reads it.
func themeOf(t fixtures.PartyTheme) (signals.Theme, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return signals.Theme{}, err
	}
	return signals.ParseTheme(b)
}

// batcher applies changes in batches with increasing versions, as the
// indexer's signals applier would.
type batcher struct {
	st      *memory.Store
	buf     []signals.Change
	version uint64
}

const batchSize = 50000

func (b *batcher) add(ctx context.Context, c signals.Change) error {
	b.version++
	c.Version = b.version
	b.buf = append(b.buf, c)
	if len(b.buf) >= batchSize {
		return b.flush(ctx)
	}
	return nil
}

func (b *batcher) flush(ctx context.Context) error {
	if len(b.buf) == 0 {
		return nil
	}
	err := b.st.Apply(ctx, signals.Batch{Changes: b.buf, Positions: []signals.Position{{Topic: "feedbench", Offset: int64(b.version)}}})
	clear(b.buf)
	b.buf = b.buf[:0]
	if err != nil {
		return fmt.Errorf("feedbench: apply signals: %w", err)
	}
	return nil
}

// event is a generated share or like, compact, to be sorted by time.
type event struct {
	at      int64 // Unix ms
	id      int64 // a share's id
	user    string
	listing int32 // the listing's ordinal
	party   int16 // index into the parties, -1 for none
}

// applyInTimeOrder sorts evs by time and applies the change of each (mk
// of its rank and itself), logging progress every million, then flushes.
func (b *batcher) applyInTimeOrder(ctx context.Context, c *Config, what string, evs []event, mk func(k int, e event) signals.Change) error {
	c.logf("signals: applying %d %s in time order", len(evs), what)
	sortEvents(evs)
	for k, e := range evs {
		if err := b.add(ctx, mk(k, e)); err != nil {
			return err
		}
		if (k+1)%1000000 == 0 {
			c.logf("signals: %d %s", k+1, what)
		}
	}
	return b.flush(ctx)
}

// sortEvents orders events by time, then share id, then listing: the
// order a change stream in commit order would deliver them in.
func sortEvents(es []event) {
	slices.SortFunc(es, func(a, b event) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return cmp.Compare(a.listing, b.listing)
	})
}
