package feedtest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/signals"
)

//go:embed testdata/listings.jsonl
var listingsJSONL []byte

//go:embed testdata/feeds.json
var feedsJSON []byte

// Open returns a new, empty signals store for one case; the suite closes
// it.
type Open func(t *testing.T) signals.Store

// Run runs every case of testdata/feeds.json on stores from open: each
// case gets a fresh store holding the suite's social rows, over one
// embedded index of the suite's listings.
func Run(t *testing.T, open Open) {
	t.Helper()
	suite := load(t)
	x := Catalog(t)
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			t.Cleanup(func() { s.Close() })
			v := &versions{}
			apply(t, s, v, suite.Signals)
			apply(t, s, v, c.Before)
			f := feed.New(x, s, feed.Config{SuspendedRefresh: time.Nanosecond, TrendingRefresh: time.Nanosecond})
			c.run(ctx, t, f, func() { apply(t, s, v, c.Between) })
		})
	}
}

type suite struct {
	Signals []Row  `json:"signals"`
	Cases   []Case `json:"cases"`
}

func load(t testing.TB) *suite {
	t.Helper()
	var s suite
	if err := json.Unmarshal(feedsJSON, &s); err != nil {
		t.Fatalf("feeds.json: %v", err)
	}
	return &s
}

// Now is the instant the suite's cases are written for: party p1 is live,
// p0 ended, p2 upcoming, and a drop of two listings is an hour away.
var Now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Social writes the suite's social rows to w (for tests above feed, such
// as the API's).
func Social(t testing.TB, w signals.Writer) {
	t.Helper()
	apply(t, w, &versions{}, load(t).Signals)
}

// Catalog is the suite's listings in an embedded index.
func Catalog(t testing.TB) *embedded.Index {
	t.Helper()
	ctx := context.Background()
	x, err := embedded.Open(ctx, embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	docs, err := rummage.DecodeAll(bytes.NewReader(listingsJSONL))
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]query.Change, len(docs))
	for i := range docs {
		batch[i] = query.Change{ID: docs[i].ID, Version: 1, Doc: &docs[i]}
	}
	if _, err := x.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	return x
}

// Row is a social row as the test data spells it: one of its fields set.
type Row struct {
	Delete bool       `json:"delete,omitempty"`
	Seller *sellerRow `json:"seller,omitempty"`
	Follow *followRow `json:"follow,omitempty"`
	Like   *likeRow   `json:"like,omitempty"`
	Share  *shareRow  `json:"share,omitempty"`
	Party  *partyRow  `json:"party,omitempty"`
	Block  *followRow `json:"block,omitempty"` // user blocks seller
}

type sellerRow struct {
	ID, Username, Status string
}

// followRow is a follow (follower, seller) or a block (user, seller).
type followRow struct {
	Follower string    `json:"follower"`
	User     string    `json:"user"`
	Seller   string    `json:"seller"`
	At       time.Time `json:"at"`
}

type likeRow struct {
	User    string    `json:"user"`
	Listing string    `json:"listing"`
	At      time.Time `json:"at"`
}

type shareRow struct {
	ID      int64     `json:"id"`
	User    string    `json:"user"`
	Listing string    `json:"listing"`
	Party   string    `json:"party"`
	At      time.Time `json:"at"`
}

type partyRow struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Theme    json.RawMessage `json:"theme"`
	StartsAt time.Time       `json:"starts_at"`
	EndsAt   time.Time       `json:"ends_at"`
}

// change is the row as a signals.Change at version v.
func (r *Row) change(v uint64) (signals.Change, error) {
	c := signals.Change{Version: v, Delete: r.Delete}
	switch {
	case r.Seller != nil:
		c.Seller = &signals.Seller{ID: r.Seller.ID, Username: r.Seller.Username, Status: r.Seller.Status}
	case r.Follow != nil:
		c.Follow = &signals.Follow{Follower: r.Follow.Follower, Seller: r.Follow.Seller, At: r.Follow.At}
	case r.Block != nil:
		c.Block = &signals.Block{User: r.Block.User, Seller: r.Block.Seller, At: r.Block.At}
	case r.Like != nil:
		c.Like = &signals.Like{User: r.Like.User, Listing: r.Like.Listing, At: r.Like.At}
	case r.Share != nil:
		s := r.Share
		c.Share = &signals.Share{ID: s.ID, User: s.User, Listing: s.Listing, Party: s.Party, At: s.At}
	case r.Party != nil:
		th, err := signals.ParseTheme(r.Party.Theme)
		if err != nil {
			return c, err
		}
		p := r.Party
		c.Party = &signals.Party{ID: p.ID, Name: p.Name, Theme: th, StartsAt: p.StartsAt, EndsAt: p.EndsAt}
	default:
		return c, errors.New("a row with no table")
	}
	return c, nil
}

// versions hands out increasing versions, as commit LSNs would be.
type versions struct{ next uint64 }

func apply(t testing.TB, s signals.Writer, v *versions, rows []Row) {
	t.Helper()
	if len(rows) == 0 {
		return
	}
	b := signals.Batch{}
	for i := range rows {
		v.next++
		c, err := rows[i].change(v.next)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		b.Changes = append(b.Changes, c)
	}
	b.Positions = []signals.Position{{Topic: "feedtest", Partition: 0, Offset: int64(v.next)}}
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// Case is one request to a surface and what it must answer.
type Case struct {
	Name     string    `json:"name"`
	Surface  string    `json:"surface"` // parties, party, party_feed, following, home, search, drops
	Now      time.Time `json:"now"`
	User     string    `json:"user"`
	Party    string    `json:"party"`
	Statuses []string  `json:"statuses"`
	Q        string    `json:"q"`
	Brand    []string  `json:"brand"`
	Size     []string  `json:"size"`
	Category string    `json:"category"`
	Sort     string    `json:"sort"`
	Facets   []string  `json:"facets"`
	Limit    int       `json:"limit"`
	// Walk pages through the whole answer; Between is applied to the
	// store after the first page.
	Walk    bool  `json:"walk"`
	Before  []Row `json:"before"`
	Between []Row `json:"between"`
	Want    Want  `json:"want"`
}

// Want is what a case checks; unset fields are not checked.
type Want struct {
	Error    string                    `json:"error"` // not_found
	IDs      []string                  `json:"ids"`
	Total    *int                      `json:"total"`
	SharedAt []time.Time               `json:"shared_at"`
	FeedAt   []time.Time               `json:"feed_at"`
	Reasons  []string                  `json:"reasons"` // type:by
	Facets   map[string]map[string]int `json:"facets"`

	Parties      []string `json:"parties"` // id:status
	Status       string   `json:"status"`
	ShareCount   *int     `json:"share_count"`
	ListingCount *int     `json:"listing_count"`

	Drops []struct {
		At     time.Time      `json:"at"`
		Count  int            `json:"count"`
		Brands map[string]int `json:"brands"`
	} `json:"drops"`

	// Home feed properties, over every page of the walk.
	Has                map[string]string `json:"has"`        // listing → reason type
	Not                []string          `json:"not"`        // never shown
	NotReason          map[string]string `json:"not_reason"` // listing → a reason it must not have
	MaxPerCloset       int               `json:"max_per_closet"`
	NoRepeats          bool              `json:"no_repeats"`
	FirstPageFollowing float64           `json:"first_page_following"` // at least this share of listed/shared
}

func (c *Case) request() *query.Request {
	req := &query.Request{Query: c.Q, Limit: c.Limit, User: c.User, Now: c.Now, Sort: query.Sort(c.Sort)}
	req.Filters.Brands, req.Filters.Sizes = c.Brand, c.Size
	if c.Category != "" {
		req.Filters.Category = strings.Split(c.Category, "/")
	}
	for _, f := range c.Facets {
		req.Facets = append(req.Facets, query.Facet(f))
	}
	return req
}

func (c *Case) run(ctx context.Context, t *testing.T, f *feed.Feeds, between func()) {
	switch c.Surface {
	case "parties":
		c.parties(ctx, t, f, between)
	case "party":
		p, err := f.Party(ctx, c.Party, c.Now)
		if c.checkErr(t, err) {
			return
		}
		c.Want.check(t, "status", c.Want.Status, p.Status)
		checkInt(t, "share_count", c.Want.ShareCount, *p.ShareCount)
		checkInt(t, "listing_count", c.Want.ListingCount, *p.ListingCount)
	case "drops":
		d, err := f.Drops(ctx, c.Now)
		if c.checkErr(t, err) {
			return
		}
		got := fmt.Sprint(d.Drops)
		want := make([]query.DropInstant, len(c.Want.Drops))
		for i, w := range c.Want.Drops {
			want[i] = query.DropInstant{At: w.At, Count: w.Count}
			for b, n := range w.Brands {
				want[i].Brands = append(want[i].Brands, query.FacetValue{Value: b, Count: n})
			}
		}
		if fmt.Sprint(want) != got {
			t.Errorf("drops:\n got %s\nwant %s", got, fmt.Sprint(want))
		}
	default:
		c.listings(ctx, t, f, between)
	}
}

func (c *Case) parties(ctx context.Context, t *testing.T, f *feed.Feeds, between func()) {
	req := &feed.PartiesRequest{Statuses: c.Statuses, Limit: c.Limit, Now: c.Now}
	var got []string
	for page := 0; page < 50; page++ {
		ps, next, err := f.Parties(ctx, req)
		if c.checkErr(t, err) {
			return
		}
		for _, p := range ps {
			got = append(got, p.ID+":"+p.Status)
		}
		if next == "" || !c.Walk {
			break
		}
		req.Cursor = next
	}
	c.Want.check(t, "parties", c.Want.Parties, got)
}

// page runs the case's surface for one page.
func (c *Case) page(ctx context.Context, f *feed.Feeds, req *query.Request) (*feed.Page, error) {
	switch c.Surface {
	case "party_feed":
		return f.PartyFeed(ctx, c.Party, req)
	case "following":
		return f.Following(ctx, req)
	case "home":
		return f.Home(ctx, req)
	case "search":
		return f.Search.Search(ctx, req)
	}
	return nil, fmt.Errorf("unknown surface %q", c.Surface)
}

func (c *Case) listings(ctx context.Context, t *testing.T, f *feed.Feeds, between func()) {
	req := c.request()
	var pages [][]feed.Hit
	var first *feed.Page
	for n := 0; n < 50; n++ {
		p, err := c.page(ctx, f, req)
		if c.checkErr(t, err) {
			return
		}
		if first == nil {
			first = p
		}
		pages = append(pages, p.Hits)
		if p.NextCursor == "" || !c.Walk {
			break
		}
		if n == 0 {
			between()
		}
		req.Cursor = p.NextCursor
	}
	var ids, reasons []string
	var sharedAt, feedAt []time.Time
	for _, hs := range pages {
		for _, h := range hs {
			ids = append(ids, h.ID)
			if h.PartySharedAt != nil {
				sharedAt = append(sharedAt, *h.PartySharedAt)
			}
			if h.FeedAt != nil {
				feedAt = append(feedAt, *h.FeedAt)
			}
			if h.FeedReason != nil {
				reasons = append(reasons, h.FeedReason.Type+":"+h.FeedReason.By)
			}
		}
	}
	w := &c.Want
	if w.IDs != nil {
		w.check(t, "ids", w.IDs, ids)
	}
	checkInt(t, "total", w.Total, first.Total)
	if w.SharedAt != nil {
		w.check(t, "party_shared_at", times(w.SharedAt), times(sharedAt))
	}
	if w.FeedAt != nil {
		w.check(t, "feed_at", times(w.FeedAt), times(feedAt))
	}
	if w.Reasons != nil {
		w.check(t, "feed_reason", w.Reasons, reasons)
	}
	for name, want := range w.Facets {
		got := map[string]int{}
		for _, v := range first.Facets[query.Facet(name)] {
			got[v.Value] = v.Count
		}
		w.check(t, "facet "+name, fmt.Sprint(want), fmt.Sprint(got))
	}
	if c.Surface == "home" {
		w.properties(t, pages)
	}
}

// properties checks the home feed's promises over the pages of a walk.
func (w *Want) properties(t *testing.T, pages [][]feed.Hit) {
	t.Helper()
	seen := map[string]string{}
	for i, hs := range pages {
		per := map[string]int{}
		following := 0
		for _, h := range hs {
			if _, dup := seen[h.ID]; dup && w.NoRepeats {
				t.Errorf("page %d repeats %s", i, h.ID)
			}
			if h.FeedReason == nil {
				t.Errorf("page %d: %s has no feed_reason", i, h.ID)
				continue
			}
			seen[h.ID] = h.FeedReason.Type
			per[h.SellerID]++
			if w.MaxPerCloset > 0 && per[h.SellerID] > w.MaxPerCloset {
				t.Errorf("page %d: closet %s more than %d times", i, h.SellerID, w.MaxPerCloset)
			}
			if h.FeedReason.Type == feed.ReasonListed || h.FeedReason.Type == feed.ReasonShared {
				following++
			}
		}
		if i == 0 && w.FirstPageFollowing > 0 && float64(following) < w.FirstPageFollowing*float64(len(hs)) {
			t.Errorf("first page: %d of %d from the following feed, want at least %.0f%%", following, len(hs), 100*w.FirstPageFollowing)
		}
	}
	for id, reason := range w.Has {
		if seen[id] != reason {
			t.Errorf("%s: reason %q, want %q (seen: %v)", id, seen[id], reason, seen)
		}
	}
	for _, id := range w.Not {
		if _, ok := seen[id]; ok {
			t.Errorf("%s is shown, and must not be", id)
		}
	}
	for id, reason := range w.NotReason {
		if seen[id] == reason {
			t.Errorf("%s is shown as %s", id, reason)
		}
	}
}

// checkErr reports whether the case ends at err: the error it wants, or
// a failure.
func (c *Case) checkErr(t *testing.T, err error) bool {
	t.Helper()
	switch {
	case c.Want.Error == "not_found":
		if !errors.Is(err, feed.ErrNotFound) {
			t.Errorf("error %v, want feed.ErrNotFound", err)
		}
		return true
	case c.Want.Error != "":
		t.Fatalf("unknown error kind %q", c.Want.Error)
	case err != nil:
		t.Fatalf("error: %v", err)
	}
	return false
}

func (w *Want) check(t *testing.T, what string, want, got any) {
	t.Helper()
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func checkInt(t *testing.T, what string, want *int, got int) {
	t.Helper()
	if want != nil && *want != got {
		t.Errorf("%s: got %d, want %d", what, got, *want)
	}
}

func times(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.RFC3339)
	}
	return slices.Clip(out)
}
