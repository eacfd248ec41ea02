package reconcile

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/signals"
)

// SignalsReport is the outcome of Signals: what was compared and the
// differences found, one line each.
type SignalsReport struct {
	Parties, Followers, Blockers, Listings int // compared
	Differences                            []string
}

// InSync reports whether no difference was found.
func (r *SignalsReport) InSync() bool { return len(r.Differences) == 0 }

// Summary is a one-line account of the report.
func (r *SignalsReport) Summary() string {
	return fmt.Sprintf("parties %d, followers %d, blockers %d, engaged listings %d: %d differences",
		r.Parties, r.Followers, r.Blockers, r.Listings, len(r.Differences))
}

func (r *SignalsReport) differ(format string, args ...any) {
	r.Differences = append(r.Differences, fmt.Sprintf(format, args...))
}

// Signals compares the social state of a signals store with Postgres as of
// now: the parties and each one's feed input (the latest share of every
// listing inside its window, and its share count), every user's follows
// and blocks, the suspended sellers, and every listing's engagers (their
// latest like or share). It is the signals' counterpart of Run, for the
// same moments (an idle stream), and reads the whole social state: meant
// for tests, the crash test and operators on a modest data set. Users the
// store knows but Postgres does not are not looked for (the Reader cannot
// list them). Instants compare to the millisecond, the store's unit.
func Signals(ctx context.Context, db Querier, store signals.Reader, now time.Time) (*SignalsReport, error) {
	rep := &SignalsReport{}
	for _, step := range []func(context.Context, Querier, signals.Reader, time.Time, *SignalsReport) error{
		compareParties, compareFollows, compareBlocks, compareSuspended, compareEngagers,
	} {
		if err := step(ctx, db, store, now, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func compareParties(ctx context.Context, db Querier, store signals.Reader, now time.Time, rep *SignalsReport) error {
	type window struct {
		start, end time.Time
		theme      signals.Theme
	}
	want := map[string]window{}
	if err := scan(ctx, db, `SELECT id, starts_at, ends_at, theme FROM parties`, func(rows pgx.Rows) error {
		var id string
		var w window
		var theme []byte
		if err := rows.Scan(&id, &w.start, &w.end, &theme); err != nil {
			return err
		}
		th, err := signals.ParseTheme(theme)
		if err != nil {
			return fmt.Errorf("party %s: %w", id, err)
		}
		w.theme = th
		want[id] = w
		return nil
	}); err != nil {
		return err
	}
	got, err := store.Parties(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range got {
		have[p.ID] = true
		w, ok := want[p.ID]
		switch {
		case !ok:
			rep.differ("party %s: in signals, not in postgres", p.ID)
		case ms(w.start) != ms(p.StartsAt) || ms(w.end) != ms(p.EndsAt):
			rep.differ("party %s: window postgres [%s, %s) signals [%s, %s)", p.ID, w.start, w.end, p.StartsAt, p.EndsAt)
		case !reflect.DeepEqual(w.theme, p.Theme):
			rep.differ("party %s: theme postgres %+v signals %+v", p.ID, w.theme, p.Theme)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		rep.Parties++
		if !have[id] {
			rep.differ("party %s: in postgres, not in signals", id)
			continue
		}
		w := want[id]
		to := w.end
		if t := now.Add(time.Millisecond); t.Before(to) {
			to = t
		}
		if !w.start.Before(to) {
			continue
		}
		var sql []string
		count := 0
		if err := scan(ctx, db, `SELECT listing_id, max(created_at), count(*) FROM shares
			WHERE party_id = $1 AND created_at >= $2 AND created_at < $3
			GROUP BY listing_id ORDER BY date_trunc('milliseconds', max(created_at)) DESC, listing_id`, func(rows pgx.Rows) error {
			var l string
			var at time.Time
			var n int
			if err := rows.Scan(&l, &at, &n); err != nil {
				return err
			}
			sql, count = append(sql, fmt.Sprintf("%s@%d", l, ms(at))), count+n
			return nil
		}, id, w.start, to); err != nil {
			return err
		}
		shares, n, err := store.PartyShares(ctx, id, w.start, to)
		if err != nil {
			return err
		}
		sig := make([]string, len(shares))
		for i, s := range shares {
			sig[i] = fmt.Sprintf("%s@%d", s.Listing, ms(s.At))
		}
		if n != count {
			rep.differ("party %s: %d shares in postgres, %d in signals", id, count, n)
		}
		if !slices.Equal(sql, sig) {
			rep.differ("party %s: latest shares differ: %s", id, firstDiff(sql, sig, "signals"))
		}
	}
	return nil
}

// compareSets compares, for every key of the query's (key, value) rows,
// the set of values with what got returns for that key.
func compareSets(ctx context.Context, db Querier, sql, what string, got func(key string) ([]string, error), rep *SignalsReport) (int, error) {
	want := map[string][]string{}
	if err := scan(ctx, db, sql, func(rows pgx.Rows) error {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		want[k] = append(want[k], v)
		return nil
	}); err != nil {
		return 0, err
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		have, err := got(k)
		if err != nil {
			return 0, err
		}
		w := slices.Sorted(slices.Values(want[k]))
		have = slices.Sorted(slices.Values(have))
		if !slices.Equal(w, have) {
			rep.differ("%s of %s: %s", what, k, firstDiff(w, have, "signals"))
		}
	}
	return len(want), nil
}

func compareFollows(ctx context.Context, db Querier, store signals.Reader, _ time.Time, rep *SignalsReport) (err error) {
	rep.Followers, err = compareSets(ctx, db, `SELECT follower_id, seller_id FROM follows`, "follows",
		func(u string) ([]string, error) { return store.Following(ctx, u, time.Time{}, 0) }, rep)
	return err
}

func compareBlocks(ctx context.Context, db Querier, store signals.Reader, _ time.Time, rep *SignalsReport) (err error) {
	rep.Blockers, err = compareSets(ctx, db, `SELECT user_id, seller_id FROM blocks`, "blocks",
		func(u string) ([]string, error) { return store.Blocked(ctx, u) }, rep)
	return err
}

func compareSuspended(ctx context.Context, db Querier, store signals.Reader, _ time.Time, rep *SignalsReport) error {
	_, err := compareSets(ctx, db, `SELECT 'suspended', id FROM sellers WHERE status = 'suspended'`, "sellers",
		func(string) ([]string, error) { return store.Suspended(ctx) }, rep)
	return err
}

// compareEngagers compares every liked or shared listing's users, each at
// their latest like or share up to now.
func compareEngagers(ctx context.Context, db Querier, store signals.Reader, now time.Time, rep *SignalsReport) error {
	want := map[string][]string{}
	if err := scan(ctx, db, `SELECT listing_id, user_id, max(created_at) FROM (
			SELECT listing_id, user_id, created_at FROM likes UNION ALL
			SELECT listing_id, user_id, created_at FROM shares) e
		WHERE created_at <= $1 GROUP BY listing_id, user_id`, func(rows pgx.Rows) error {
		var l, u string
		var at time.Time
		if err := rows.Scan(&l, &u, &at); err != nil {
			return err
		}
		want[l] = append(want[l], fmt.Sprintf("%s@%d", u, ms(at)))
		return nil
	}, now); err != nil {
		return err
	}
	ids := slices.Sorted(maps.Keys(want))
	rep.Listings = len(ids)
	const chunk = 1000
	for from := 0; from < len(ids); from += chunk {
		part := ids[from:min(from+chunk, len(ids))]
		got, err := store.Engagers(ctx, part, time.UnixMilli(0), now)
		if err != nil {
			return err
		}
		for _, l := range part {
			have := make([]string, len(got[l]))
			for i, u := range got[l] {
				have[i] = fmt.Sprintf("%s@%d", u.User, ms(u.At))
			}
			w := slices.Sorted(slices.Values(want[l]))
			have = slices.Sorted(slices.Values(have))
			if !slices.Equal(w, have) {
				rep.differ("engagers of %s: %s", l, firstDiff(w, have, "signals"))
			}
		}
	}
	return nil
}

// firstDiff describes where the list Postgres gives and the one other
// (what is compared with it) gives first differ.
func firstDiff(postgres, got []string, other string) string {
	for i := range max(len(postgres), len(got)) {
		var p, g string
		if i < len(postgres) {
			p = postgres[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if p != g {
			return fmt.Sprintf("at %d postgres %q %s %q (%d vs %d items)", i, p, other, g, len(postgres), len(got))
		}
	}
	return "equal"
}

func scan(ctx context.Context, db Querier, sql string, row func(pgx.Rows) error, args ...any) error {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("reconcile: %s: %w", strings.Fields(sql)[0:4], err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
