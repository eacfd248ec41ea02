package reconcile_test

// The social half of the crash test (issue 9 §6): the writes that stream
// beside the listing changes (party shares, likes, follows, blocks, a
// seller's suspension), the signals stores the indexer feeds, and the
// final comparison of every party feed and of some following feeds, read
// through package feed, with the same answers computed in SQL.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/reconcile"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
	"github.com/rummage/rummage/signals/redisstore"
)

// crashStore is the signals store under test: each indexer incarnation
// opens it anew, as a restarted process does; restart, when set, empties
// it under a running indexer (a Redis restarted without persistence).
type crashStore struct {
	name    string
	open    func(ctx context.Context) (signals.Store, error)
	restart func() error
}

// memoryStore is the embedded store in dir: every open recovers it from
// its snapshot and log.
func memoryStore(dir string) crashStore {
	return crashStore{name: "memory", open: func(context.Context) (signals.Store, error) { return memory.Open(dir) }}
}

// redisStore is the Redis store on a redis-server of the test's own, which
// restart kills and starts again empty.
func redisStore(srv *testredis.Server) crashStore {
	return crashStore{
		name: "redis",
		open: func(ctx context.Context) (signals.Store, error) {
			s, err := redisstore.Open(ctx, redisstore.Config{URL: srv.URL(), Prefix: "crash"})
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		restart: srv.Restart,
	}
}

// Parties of the test: one live through the whole run, one that ended
// before it (its shares are written with instants inside its window).
const (
	liveParty  = "crash-live"
	endedParty = "crash-ended"
)

// socialWorld is what the social writes draw from: users (the first
// gen.SellerCount() own the closets), the parties' themes, the listings
// shared into the live party in Zipf order, and the users whose following
// feeds are compared.
type socialWorld struct {
	gen         *fixtures.Generator
	users       int
	liveBrands  []string // the live party's theme
	widen       string   // the brand its theme sometimes gains
	endedBrands []string // the ended party's theme
	liveOrder   []int    // generator indexes shared into the live party, most shared first
	endedOrder  []int    // and into the ended one
	watched     []string
	partyStart  time.Time // of the ended party
}

var plainBrand = regexp.MustCompile(`^[A-Za-z]+$`)

// newSocialWorld picks the themes from the catalog: the most common
// brands of one plain word, so that the themes and their SQL stay simple.
func newSocialWorld(gen *fixtures.Generator, seeded int, rng *rand.Rand) *socialWorld {
	counts := map[string]int{}
	for i := range seeded {
		if b := gen.Listing(i).Brand; plainBrand.MatchString(b) {
			counts[b]++
		}
	}
	brands := make([]string, 0, len(counts))
	for b := range counts {
		brands = append(brands, b)
	}
	slices.SortFunc(brands, func(a, b string) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	w := &socialWorld{gen: gen, users: 3 * gen.SellerCount(), liveBrands: brands[0:2], widen: brands[2], endedBrands: brands[2:4]}
	w.liveOrder = partyOrder(gen, seeded, w.liveBrands, rng)
	w.endedOrder = partyOrder(gen, seeded, w.endedBrands, rng)
	// Two closets (their own listings never reach their feed) and two
	// shoppers.
	w.watched = []string{gen.UserID(3), gen.UserID(7), gen.UserID(gen.SellerCount() + 1), gen.UserID(gen.SellerCount() + 2)}
	return w
}

// partyOrder is the order of the listings shared into a party of brands,
// most shared first: the listings in Postgres from the start before the
// others, and in each part the theme's listings and others (shared into
// the party, never in its feed) alternating.
func partyOrder(gen *fixtures.Generator, seeded int, brands []string, rng *rand.Rand) []int {
	var order []int
	for _, part := range [][2]int{{0, seeded}, {seeded, gen.Count()}} {
		var match, other []int
		for _, k := range rng.Perm(part[1] - part[0]) {
			i := part[0] + k
			if slices.ContainsFunc(brands, func(b string) bool { return strings.EqualFold(b, gen.Listing(i).Brand) }) {
				match = append(match, i)
			} else {
				other = append(other, i)
			}
		}
		for len(match) > 0 || len(other) > 0 {
			if len(match) > 0 {
				order, match = append(order, match[0]), match[1:]
			}
			if len(other) > 0 {
				order, other = append(order, other[0]), other[1:]
			}
		}
	}
	return order
}

// theme is a party theme of brands (the parties table's shape).
func theme(brands ...string) string {
	b, _ := json.Marshal(map[string][]string{"brand": brands})
	return string(b)
}

// seed writes the parties (windows on whole seconds: the store keeps
// milliseconds) before the pipeline starts.
func (w *socialWorld) seed(ctx context.Context, conn *pgx.Conn) error {
	now := time.Now().UTC().Truncate(time.Second)
	w.partyStart = now.Add(-3 * time.Hour)
	_, err := conn.Exec(ctx, `INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES
		($1, 'Live', $2, $3, $4), ($5, 'Ended', $6, $7, $8)`,
		liveParty, theme(w.liveBrands...), now.Add(-time.Hour), now.Add(24*time.Hour),
		endedParty, theme(w.endedBrands...), w.partyStart, w.partyStart.Add(time.Hour))
	return err
}

// socialOp writes one social change in tx, from a uniform draw op in
// [0, 100): shares into the live party (Zipf over its listings, by closets
// and shoppers), into the ended one (inside its window) or none, share
// deletes, likes and unlikes, follows and unfollows (Zipf over closets, a
// third of them by the watched users), blocks and unblocks, drops, a
// seller suspended or reinstated, the live party's theme widened or
// narrowed.
func (w *socialWorld) socialOp(ctx context.Context, tx pgx.Tx, rng *rand.Rand, zipfParty, zipfCloset *rand.Zipf, op int) error {
	partyListing := func(order []int) string { return fixtures.ListingID(order[zipfParty.Uint64()]) }
	sellers := w.gen.SellerCount()
	closet := func() string { return fixtures.SellerID(int(zipfCloset.Uint64())) }
	sharer := func() string {
		if rng.IntN(5) < 2 {
			return closet()
		}
		return w.gen.UserID(rng.IntN(w.users))
	}
	follower := func() string {
		if rng.IntN(3) == 0 {
			return w.watched[rng.IntN(len(w.watched))]
		}
		return w.gen.UserID(rng.IntN(w.users))
	}
	var err error
	switch {
	case op < 40:
		_, err = tx.Exec(ctx, `INSERT INTO shares (user_id, listing_id, party_id) VALUES ($1, $2, $3)`, sharer(), partyListing(w.liveOrder), liveParty)
	case op < 50:
		id := fixtures.ListingID(rng.IntN(w.gen.Count()))
		_, err = tx.Exec(ctx, `INSERT INTO shares (user_id, listing_id) VALUES ($1, $2)`, sharer(), id)
	case op < 55:
		at := w.partyStart.Add(time.Duration(rng.IntN(3600*1000)) * time.Millisecond)
		_, err = tx.Exec(ctx, `INSERT INTO shares (user_id, listing_id, party_id, created_at) VALUES ($1, $2, $3, $4)`,
			sharer(), partyListing(w.endedOrder), endedParty, at)
	case op < 57:
		_, err = tx.Exec(ctx, `DELETE FROM shares WHERE id = (SELECT max(id) FROM shares) - $1`, rng.IntN(50))
	case op < 67:
		_, err = tx.Exec(ctx, `INSERT INTO likes (user_id, listing_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, w.gen.UserID(rng.IntN(w.users)), partyListing(w.liveOrder))
	case op < 72:
		_, err = tx.Exec(ctx, `DELETE FROM likes WHERE (user_id, listing_id) IN (SELECT user_id, listing_id FROM likes WHERE user_id = $1 LIMIT 1)`, w.gen.UserID(rng.IntN(w.users)))
	case op < 84:
		_, err = tx.Exec(ctx, `INSERT INTO follows (follower_id, seller_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, follower(), closet())
	case op < 89:
		_, err = tx.Exec(ctx, `DELETE FROM follows WHERE (follower_id, seller_id) IN (SELECT follower_id, seller_id FROM follows WHERE follower_id = $1 LIMIT 1)`, follower())
	case op < 94:
		_, err = tx.Exec(ctx, `INSERT INTO blocks (user_id, seller_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, follower(), closet())
	case op < 96:
		_, err = tx.Exec(ctx, `DELETE FROM blocks WHERE (user_id, seller_id) IN (SELECT user_id, seller_id FROM blocks WHERE user_id = $1 LIMIT 1)`, follower())
	case op < 97: // a shared listing becomes a drop: tomorrow, in a moment (visible by the end, with no write then), or none
		at := []string{"now() + interval '1 day'", "now() + interval '2 seconds'", "NULL"}[rng.IntN(3)]
		_, err = tx.Exec(ctx, `UPDATE listings SET available_at = `+at+`, updated_at = now() WHERE id = $1`, partyListing(w.liveOrder))
	case op < 98: // the most followed closets are suspended, and some reinstated
		status := fixtures.SellerSuspended
		if rng.IntN(3) == 0 {
			status = fixtures.SellerActive
		}
		_, err = tx.Exec(ctx, `UPDATE sellers SET status = $2 WHERE id = $1`, fixtures.SellerID(rng.IntN(min(10, sellers))), status)
	default:
		th := theme(w.liveBrands...)
		if rng.IntN(2) == 0 {
			th = theme(append(slices.Clone(w.liveBrands), w.widen)...)
		}
		_, err = tx.Exec(ctx, `UPDATE parties SET theme = $2 WHERE id = $1`, liveParty, th)
	}
	return err
}

// The SQL answers of the feeds, as DESIGN.md defines them: a listing is
// visible when available and not a drop before its instant; suspended
// sellers never appear, nor closets the viewer blocked, nor (following
// feed) the viewer's own closet. Keys are milliseconds, as the feed's.
const (
	visibleSQL = `l.status = 'available' AND (l.available_at IS NULL OR l.available_at <= $2::timestamptz)
		AND l.seller_id NOT IN (SELECT id FROM sellers WHERE status = 'suspended'
			UNION ALL SELECT seller_id FROM blocks WHERE user_id = $3::text)`

	// partyFeedSQL ($1 party, $2 now, $3 viewer): the listings shared into
	// the party in its window up to now, each at its latest share, that
	// match its theme (a brand list) and are visible.
	partyFeedSQL = `WITH p AS (SELECT * FROM parties WHERE id = $1),
		s AS (SELECT listing_id, max(created_at) AS at FROM shares, p
			WHERE party_id = p.id AND created_at >= p.starts_at AND created_at < LEAST(p.ends_at, $2::timestamptz + interval '1 millisecond')
			GROUP BY listing_id)
		SELECT l.id FROM s JOIN listings l ON l.id = s.listing_id, p
		WHERE ` + visibleSQL + `
			AND lower(l.brand) IN (SELECT lower(b) FROM jsonb_array_elements_text(p.theme->'brand') b)
		ORDER BY floor(extract(epoch FROM s.at) * 1000) DESC, l.id`

	// followingFeedSQL ($1 window start, $2 now, $3 viewer): the listings
	// of the closets the viewer follows (at listed_at) and those the
	// closets shared in (start, now] (at the share), each at its latest
	// such event, from the window's start on, visible, not the viewer's.
	followingFeedSQL = `WITH f AS (SELECT seller_id FROM follows WHERE follower_id = $3),
		ev AS (SELECT id, GREATEST(created_at, COALESCE(available_at, created_at)) AS at FROM listings WHERE seller_id IN (SELECT seller_id FROM f)
			UNION ALL
			SELECT listing_id, created_at FROM shares WHERE user_id IN (SELECT seller_id FROM f) AND created_at > $1::timestamptz AND created_at < $2::timestamptz + interval '1 millisecond')
		SELECT l.id FROM ev JOIN listings l ON l.id = ev.id
		WHERE ` + visibleSQL + ` AND l.seller_id <> $3
		GROUP BY l.id HAVING max(ev.at) >= $1
		ORDER BY floor(extract(epoch FROM max(ev.at)) * 1000) DESC, l.id`
)

// followingWindow reaches back past the generated catalog's oldest
// listing, so that the followed closets' listings are in their feeds
// beside the shares streamed now.
const followingWindow = 4 * 365 * 24 * time.Hour

// compareFeeds compares, at now, every party's feed (for everyone and for
// each watched user) and each watched user's following feed, read through
// package feed over index and store, with the SQL answer. It returns one
// line per difference and a summary of what it compared.
func compareFeeds(ctx context.Context, db *pgx.Conn, index feed.Retriever, store signals.Reader, watched []string, now time.Time) ([]string, string, error) {
	now = now.Truncate(time.Millisecond)
	f := feed.New(index, store, feed.Config{FollowingWindow: followingWindow})
	var diffs []string
	var compared []string
	check := func(what string, sql string, args []any, page func(req *query.Request) (*feed.Page, error)) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		want, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		got, err := walk(page, now)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		compared = append(compared, fmt.Sprintf("%s %d", what, len(want)))
		if !slices.Equal(want, got) {
			diffs = append(diffs, fmt.Sprintf("%s: %s%s", what, reconcile.FirstDiff(want, got, "feed"), describeDiff(ctx, db, index, want, got)))
		}
		return nil
	}
	rows, err := db.Query(ctx, `SELECT id FROM parties ORDER BY id`)
	if err != nil {
		return nil, "", err
	}
	parties, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, "", err
	}
	for _, p := range parties {
		for _, u := range append([]string{""}, watched...) {
			err := check(fmt.Sprintf("party %s for %q", p, u), partyFeedSQL, []any{p, now, u}, func(req *query.Request) (*feed.Page, error) {
				req.User = u
				return f.PartyFeed(ctx, p, req)
			})
			if err != nil {
				return nil, "", err
			}
		}
	}
	for _, u := range watched {
		err := check(fmt.Sprintf("following of %s", u), followingFeedSQL, []any{now.Add(-followingWindow), now, u}, func(req *query.Request) (*feed.Page, error) {
			req.User = u
			return f.Following(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
	}
	return diffs, strings.Join(compared, ", "), nil
}

// walk pages through a feed from its first page at now and returns its
// listing ids in order.
func walk(page func(req *query.Request) (*feed.Page, error), now time.Time) ([]string, error) {
	var ids []string
	req := &query.Request{Limit: query.MaxLimit, Now: now}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			return ids, errors.New("more than 1000 pages")
		}
		p, err := page(req)
		if err != nil {
			return ids, err
		}
		for _, h := range p.Hits {
			ids = append(ids, h.ID)
		}
		if p.NextCursor == "" {
			return ids, nil
		}
		next := *req
		next.Cursor = p.NextCursor
		req = &next
	}
}

// describeDiff tells, for each listing in one answer and not the other,
// what Postgres and the index hold of it: enough to tell a stale index
// from a stale signals store from a wrong feed.
func describeDiff(ctx context.Context, db *pgx.Conn, index feed.Retriever, want, got []string) string {
	var b strings.Builder
	describe := func(side, id string) {
		var brand, status, seller, sellerStatus, shares string
		var availableAt *time.Time
		err := db.QueryRow(ctx, `SELECT l.brand, l.status, l.available_at, l.seller_id, s.status,
				(SELECT string_agg(coalesce(party_id, '-') || '@' || to_char(created_at, 'HH24:MI:SS.MS'), ' ' ORDER BY created_at) FROM shares WHERE listing_id = l.id)
			FROM listings l JOIN sellers s ON s.id = l.seller_id WHERE l.id = $1`, id).Scan(&brand, &status, &availableAt, &seller, &sellerStatus, &shares)
		if err != nil {
			fmt.Fprintf(&b, "\n    %s only in %s: postgres: %v", id, side, err)
			return
		}
		fmt.Fprintf(&b, "\n    %s only in %s: postgres brand %q status %s available_at %v seller %s (%s) shares [%s]", id, side, brand, status, availableAt, seller, sellerStatus, shares)
		if g, ok := index.(interface {
			Get(context.Context, string) (*rummage.Listing, error)
		}); ok {
			if l, err := g.Get(ctx, id); err != nil {
				fmt.Fprintf(&b, "; index: %v", err)
			} else {
				fmt.Fprintf(&b, "; index brand %q status %s available_at %v seller %s", l.Brand, l.Status, l.AvailableAt, l.SellerID)
			}
		}
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			describe("postgres", id)
		}
	}
	for _, id := range got {
		if !slices.Contains(want, id) {
			describe("the feed", id)
		}
	}
	return b.String()
}
