package feedbench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
)

// The SQL baselines: each surface's answer the way a team would write it
// on the marketplace's own tables, one statement per source, the blend
// and the facet top-N in Go. Visibility is DESIGN.md's: available, and a
// drop only from available_at; suspended sellers never appear.

const visibleSQL = `l.status = 'available' AND (l.available_at IS NULL OR l.available_at <= $now)
    AND NOT EXISTS (SELECT 1 FROM sellers se WHERE se.id = l.seller_id AND se.status = 'suspended')`

// facetsSQL counts the five facets over the CTE feed (brand, size,
// condition, top-level category, price buckets), plus its total.
const facetsSQL = `SELECT json_agg(json_build_array(f, v, n)) FROM (
    SELECT 'brand' f, brand v, count(*) n FROM feed WHERE brand <> '' GROUP BY brand
    UNION ALL SELECT 'size', size, count(*) FROM feed WHERE size <> '' GROUP BY size
    UNION ALL SELECT 'condition', condition, count(*) FROM feed WHERE condition <> '' GROUP BY condition
    UNION ALL SELECT 'category', cat, count(*) FROM feed WHERE cat IS NOT NULL GROUP BY cat
    UNION ALL SELECT 'price', CASE WHEN price_cents < 2500 THEN '0-25' WHEN price_cents < 5000 THEN '25-50'
        WHEN price_cents < 10000 THEN '50-100' WHEN price_cents < 25000 THEN '100-250'
        WHEN price_cents < 50000 THEN '250-500' ELSE '500+' END, count(*) FROM feed GROUP BY 2
  ) x`

// bind replaces the named parameters ($now, ...) of a statement with
// positional ones, in the order given.
func bind(sql string, names ...string) string {
	for i, n := range names {
		sql = strings.ReplaceAll(sql, "$"+n, fmt.Sprintf("$%d", i+1))
	}
	return sql
}

// themeSQL is a party theme as a WHERE clause on listings l (the theme
// keys the generator writes: brand, condition, category, price_max).
func themeSQL(t fixtures.PartyTheme) string {
	var and []string
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	if len(t.Brand) > 0 {
		var v []string
		for _, b := range t.Brand {
			v = append(v, quote(strings.ToLower(b)))
		}
		and = append(and, "lower(l.brand) IN ("+strings.Join(v, ",")+")")
	}
	if len(t.Condition) > 0 {
		var v []string
		for _, c := range t.Condition {
			v = append(v, quote(c))
		}
		and = append(and, "l.condition IN ("+strings.Join(v, ",")+")")
	}
	if t.PriceMax != nil {
		and = append(and, fmt.Sprintf("l.price_cents <= %d", *t.PriceMax))
	}
	if t.Category != "" {
		path := strings.Split(t.Category, "/")
		var v []string
		for _, p := range path {
			v = append(v, quote(p))
		}
		and = append(and, fmt.Sprintf("l.category[1:%d] = ARRAY[%s]::text[]", len(path), strings.Join(v, ",")))
	}
	if len(and) == 0 {
		return "true"
	}
	return strings.Join(and, " AND ")
}

// partySQL is the party feed's first page with five facets: the latest
// share of each listing into the party in its window (shares at or
// before now), joined to the visible listings of the theme, newest share
// first (ties by id).
func partySQL(t fixtures.PartyTheme) string {
	return bind(`WITH latest AS (
    SELECT listing_id, max(created_at) AS shared_at FROM shares
    WHERE party_id = $party AND created_at >= $from AND created_at < $to
    GROUP BY listing_id
), feed AS MATERIALIZED (
    SELECT l.id, l.brand, l.size, l.condition, l.category[1] AS cat, l.price_cents, t.shared_at
    FROM latest t JOIN listings l ON l.id = t.listing_id
    WHERE `+visibleSQL+` AND `+themeSQL(t)+`
)
SELECT (SELECT coalesce(json_agg(id ORDER BY shared_at DESC, id COLLATE "C"), '[]') FROM
          (SELECT id, shared_at FROM feed ORDER BY shared_at DESC, id COLLATE "C" LIMIT $limit) p),
       (SELECT count(*) FROM feed),
       (`+facetsSQL+`)`, "party", "from", "to", "now", "limit")
}

// followingSQL is the following feed: the listings the followed closets
// listed (at listed_at) or shared (at their latest share, the newest 50k
// in the window), each at its latest such event, newest first, without
// the viewer's own closet and the closets they block.
func followingSQL(withTotal bool) string {
	total := "0"
	if withTotal {
		total = "(SELECT count(*) FROM feed)"
	}
	return bind(`WITH f AS (SELECT seller_id FROM follows WHERE follower_id = $user),
shared AS (
    SELECT s.listing_id, max(s.created_at) AS at FROM shares s
    WHERE s.user_id IN (SELECT seller_id FROM f) AND s.created_at > $since AND s.created_at <= $now
    GROUP BY s.listing_id ORDER BY at DESC, s.listing_id COLLATE "C" LIMIT $maxshares
), listed AS (
    SELECT l.id AS listing_id, greatest(l.created_at, coalesce(l.available_at, l.created_at)) AS at
    FROM listings l WHERE l.seller_id IN (SELECT seller_id FROM f)
), cand AS (
    SELECT listing_id, max(at) AS at FROM (SELECT * FROM shared UNION ALL SELECT * FROM listed) u GROUP BY listing_id
), feed AS MATERIALIZED (
    SELECT l.id, l.seller_id, c.at FROM cand c JOIN listings l ON l.id = c.listing_id
    WHERE c.at >= $since AND `+visibleSQL+` AND l.seller_id <> $user
      AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = $user AND b.seller_id = l.seller_id)
)
SELECT (SELECT coalesce(json_agg(json_build_array(id, seller_id) ORDER BY at DESC, id COLLATE "C"), '[]') FROM
          (SELECT id, seller_id, at FROM feed ORDER BY at DESC, id COLLATE "C" LIMIT $limit) p),
       `+total, "user", "since", "now", "maxshares", "limit")
}

// activitySQL is the viewer's latest likes and shares in the window
// (each listing once at its latest, the newest 200) that are visible now:
// the input of their affinity profile.
var activitySQL = bind(`WITH act AS (
    SELECT listing_id, max(at) AS at FROM (
        SELECT listing_id, created_at AS at FROM likes WHERE user_id = $user AND created_at > $since AND created_at <= $now
        UNION ALL
        SELECT listing_id, created_at FROM shares WHERE user_id = $user AND created_at > $since AND created_at <= $now) a
    GROUP BY listing_id ORDER BY at DESC, listing_id COLLATE "C" LIMIT 200)
SELECT l.brand, array_to_string(l.category, '/'), l.size FROM act JOIN listings l ON l.id = act.listing_id
WHERE l.status = 'available' AND (l.available_at IS NULL OR l.available_at <= $now)
ORDER BY act.at DESC, l.id COLLATE "C"`, "user", "since", "now")

// newestSQL is the newest visible listings (of a brand, a category or a
// size when given), without the excluded closets.
var newestSQL = bind(`SELECT l.id, l.seller_id FROM listings l
WHERE `+visibleSQL+` AND l.seller_id <> ALL($exclude)
  AND ($brand = '' OR lower(l.brand) = lower($brand))
  AND ($size = '' OR l.size = $size)
  AND (cardinality($category::text[]) = 0 OR l.category[1:cardinality($category::text[])] = $category::text[])
ORDER BY greatest(l.created_at, coalesce(l.available_at, l.created_at)) DESC, l.id COLLATE "C" LIMIT $limit`,
	"now", "exclude", "brand", "size", "category", "limit")

// trendingSQL is trending: per listing, the distinct users other than the
// seller by their latest like or share in the horizon, each decayed by
// the half-life; visible listings, at most two per closet.
var trendingSQL = bind(`WITH e AS (
    SELECT listing_id, user_id, max(created_at) AS t FROM (
        SELECT listing_id, user_id, created_at FROM likes WHERE created_at > $since AND created_at <= $now
        UNION ALL
        SELECT listing_id, user_id, created_at FROM shares WHERE created_at > $since AND created_at <= $now) x
    GROUP BY listing_id, user_id
), sc AS (
    SELECT e.listing_id, l.seller_id, sum(power(2, -extract(epoch FROM ($now - e.t)) / $halflife)) AS score
    FROM e JOIN listings l ON l.id = e.listing_id
    WHERE e.user_id <> l.seller_id AND `+visibleSQL+`
    GROUP BY e.listing_id, l.seller_id
), r AS (
    SELECT *, row_number() OVER (PARTITION BY seller_id ORDER BY score DESC, listing_id COLLATE "C") AS rn FROM sc
)
SELECT listing_id, seller_id FROM r WHERE rn <= 2 ORDER BY score DESC, listing_id COLLATE "C" LIMIT 1000`,
	"since", "now", "halflife")

// answer is a first page as both sides give it.
type answer struct {
	IDs    []string
	Total  int
	Facets map[string]map[string]int // facet → value → count (non-zero)
}

type sqlBaseline struct {
	pool *pgxpool.Pool
	now  time.Time
}

func (b *sqlBaseline) party(ctx context.Context, p fixtures.Party, limit int) (*answer, error) {
	to := p.EndsAt
	if t := b.now.Add(time.Millisecond); t.Before(to) {
		to = t
	}
	var ids []string
	var total int
	var facets [][]any
	if err := b.pool.QueryRow(ctx, partySQL(p.Theme), p.ID, p.StartsAt, to, b.now, limit).Scan(&ids, &total, &facets); err != nil {
		return nil, fmt.Errorf("feedbench: party SQL: %w", err)
	}
	a := &answer{IDs: ids, Total: total, Facets: map[string]map[string]int{}}
	for _, f := range facets {
		name, _ := f[0].(string)
		v, _ := f[1].(string)
		n, _ := f[2].(float64)
		if a.Facets[name] == nil {
			a.Facets[name] = map[string]int{}
		}
		a.Facets[name][v] = int(n)
	}
	for name, m := range a.Facets {
		if name != "price" {
			a.Facets[name] = topN(m, query.DefaultFacetLimit)
		}
	}
	return a, nil
}

// topN keeps the n values of m with the highest counts (ties by value),
// as the facets of the feed do.
func topN(m map[string]int, n int) map[string]int {
	if len(m) <= n {
		return m
	}
	vals := make([]string, 0, len(m))
	for v := range m {
		vals = append(vals, v)
	}
	slices.SortFunc(vals, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]int, n)
	for _, v := range vals[:n] {
		out[v] = m[v]
	}
	return out
}

type idSeller struct{ ID, Seller string }

func (b *sqlBaseline) following(ctx context.Context, user string, since time.Time, maxShares, limit int, withTotal bool) ([]idSeller, int, error) {
	var rows [][]string
	var total int
	if err := b.pool.QueryRow(ctx, followingSQL(withTotal), user, since, b.now, maxShares, limit).Scan(&rows, &total); err != nil {
		return nil, 0, fmt.Errorf("feedbench: following SQL: %w", err)
	}
	out := make([]idSeller, len(rows))
	for i, r := range rows {
		out[i] = idSeller{r[0], r[1]}
	}
	return out, total, nil
}

func (b *sqlBaseline) newest(ctx context.Context, exclude []string, brand, size string, category []string, limit int) ([]idSeller, error) {
	if category == nil {
		category = []string{}
	}
	rows, err := b.pool.Query(ctx, newestSQL, b.now, exclude, brand, size, category, limit)
	if err != nil {
		return nil, fmt.Errorf("feedbench: newest SQL: %w", err)
	}
	return collect(rows)
}

type pgRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

func collect(rows pgRows) ([]idSeller, error) {
	defer rows.Close()
	var out []idSeller
	for rows.Next() {
		var r idSeller
		if err := rows.Scan(&r.ID, &r.Seller); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (b *sqlBaseline) trending(ctx context.Context) ([]idSeller, error) {
	rows, err := b.pool.Query(ctx, trendingSQL, b.now.Add(-ranking.TrendingHorizon), b.now, ranking.TrendingHalfLife.Seconds())
	if err != nil {
		return nil, fmt.Errorf("feedbench: trending SQL: %w", err)
	}
	return collect(rows)
}

// home is the home feed's first page from SQL: the sources of
// feed.Home (following, affinity from the viewer's likes and shares,
// trending computed once and cached as the feed does, fresh), blended by
// ranking.BlendHome.
func (b *sqlBaseline) home(ctx context.Context, user string, window time.Duration, maxShares int, trending []idSeller, limit int) ([]string, error) {
	const sourceSize = 200
	since := b.now.Add(-window)
	var blocked []string
	rows, err := b.pool.Query(ctx, "SELECT seller_id FROM blocks WHERE user_id = $1", user)
	if err != nil {
		return nil, fmt.Errorf("feedbench: blocks SQL: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		blocked = append(blocked, s)
	}
	rows.Close()
	exclude := append(blocked, user)
	var src ranking.HomeSources
	items := func(list []idSeller, source ranking.Source) []ranking.Item {
		out := make([]ranking.Item, 0, len(list))
		for _, r := range list {
			if !slices.Contains(exclude, r.Seller) {
				out = append(out, ranking.Item{ID: r.ID, Seller: r.Seller, Source: source})
			}
		}
		return out
	}
	fol, _, err := b.following(ctx, user, since, maxShares, sourceSize, false)
	if err != nil {
		return nil, err
	}
	src.Following = items(fol, ranking.SourceFollowing)

	rows, err = b.pool.Query(ctx, activitySQL, user, since, b.now)
	if err != nil {
		return nil, fmt.Errorf("feedbench: activity SQL: %w", err)
	}
	var mine []query.Candidate
	for rows.Next() {
		var c query.Candidate
		if err := rows.Scan(&c.Signals.Brand, &c.Signals.Category, &c.Signals.Size); err != nil {
			rows.Close()
			return nil, err
		}
		mine = append(mine, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var lists [][]idSeller
	for _, want := range ranking.Profile(mine).Top(3) {
		var brand, size string
		var cat []string
		switch want.Field {
		case query.FacetBrand:
			brand = want.Value
		case query.FacetSize:
			size = want.Value
		case query.FacetCategory:
			cat = strings.Split(want.Value, "/")
		}
		l, err := b.newest(ctx, exclude, brand, size, cat, sourceSize/3)
		if err != nil {
			return nil, err
		}
		lists = append(lists, l)
	}
	for i := 0; ; i++ {
		more := false
		for _, l := range lists {
			if i < len(l) {
				src.Affinity = append(src.Affinity, items(l[i:i+1], ranking.SourceAffinity)...)
				more = true
			}
		}
		if !more {
			break
		}
	}
	src.Trending = items(trending, ranking.SourceTrending)
	fresh, err := b.newest(ctx, exclude, "", "", nil, sourceSize)
	if err != nil {
		return nil, err
	}
	src.Fresh = items(fresh, ranking.SourceFresh)
	blend := ranking.BlendHome(src, ranking.DefaultHome, limit)
	ids := make([]string, len(blend))
	for i, it := range blend {
		ids[i] = it.ID
	}
	return ids, nil
}
