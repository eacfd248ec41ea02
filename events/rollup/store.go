package rollup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/events"
)

// Store is the analytics tables of migrations 0005 and 0007.
type Store struct {
	pool *pgxpool.Pool
	// beforeCommit, in tests, runs after a batch's rows are written and
	// before its transaction commits: an error there is a crash at the
	// worst moment.
	beforeCommit func() error
}

// OpenStore connects to the analytics database (migrated to 0007).
func OpenStore(ctx context.Context, databaseURL string) (*Store, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("rollup: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("rollup: connect: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Pool is the connection pool (the analytics queries share it).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Offsets returns the next offset to read of each partition of topic the
// consumer committed.
func (s *Store) Offsets(ctx context.Context, topic string) (map[int]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, next_offset FROM rummage.analytics_offsets WHERE topic = $1`, topic)
	if err != nil {
		return nil, fmt.Errorf("rollup: read offsets: %w", err)
	}
	out := map[int]int64{}
	for rows.Next() {
		var p int
		var o int64
		if err := rows.Scan(&p, &o); err != nil {
			return nil, err
		}
		out[p] = o
	}
	return out, rows.Err()
}

// Apply adds evs to the rollups and moves topic's offsets to next, in one
// transaction: either the batch counts and the consumer moves past it, or
// neither.
func (s *Store) Apply(ctx context.Context, topic string, evs []events.Event, next map[int]int64) (*Delta, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollup: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	known := map[string]Known{}
	if need := NeedQueryIDs(evs); len(need) > 0 {
		// Locked in key order: the views counted so far decide whether a
		// view is an answer a CDN served, and a concurrent batch must not
		// read the same count.
		rows, err := tx.Query(ctx, `SELECT query_id, query, surface, party_id, total, shown, views FROM rummage.analytics_query_ids
			WHERE query_id = ANY($1) ORDER BY query_id FOR UPDATE`, need)
		if err != nil {
			return nil, fmt.Errorf("rollup: query ids: %w", err)
		}
		for rows.Next() {
			var id string
			var k Known
			if err := rows.Scan(&id, &k.Query, &k.Surface, &k.PartyID, &k.Total, &k.Shown, &k.Views); err != nil {
				return nil, err
			}
			known[id] = k
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	d := Aggregate(evs, known)
	if err := write(ctx, tx, d); err != nil {
		return nil, err
	}
	parts, offs := make([]int32, 0, len(next)), make([]int64, 0, len(next))
	for p, o := range next {
		parts, offs = append(parts, int32(p)), append(offs, o)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_offsets (topic, partition, next_offset)
		SELECT $1, p, o FROM unnest($2::int[], $3::bigint[]) AS t(p, o)
		ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()`, topic, parts, offs); err != nil {
		return nil, fmt.Errorf("rollup: offsets: %w", err)
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("rollup: commit: %w", err)
	}
	return d, nil
}

func write(ctx context.Context, tx pgx.Tx, d *Delta) error {
	if len(d.queryIDs) > 0 {
		var ids, qs, surfaces, parties []string
		var ats []time.Time
		var totals, shown []int32
		var views []int64
		for id, q := range d.queryIDs {
			ids, qs, ats = append(ids, id), append(qs, q.Query), append(ats, q.at)
			surfaces, parties = append(surfaces, q.Surface), append(parties, q.PartyID)
			totals, shown, views = append(totals, int32(q.Total)), append(shown, int32(q.Shown)), append(views, d.views[id])
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_query_ids (query_id, query, at, surface, party_id, total, shown, views)
			SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int[], $7::int[], $8::bigint[])
			ON CONFLICT DO NOTHING`, ids, qs, ats, surfaces, parties, totals, shown, views); err != nil {
			return fmt.Errorf("rollup: query ids: %w", err)
		}
	}
	// The views of earlier batches' answers.
	var vids []string
	var vn []int64
	for id, n := range d.views {
		if _, own := d.queryIDs[id]; !own {
			vids, vn = append(vids, id), append(vn, n)
		}
	}
	if len(vids) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE rummage.analytics_query_ids AS t SET views = t.views + u.n
			FROM unnest($1::text[], $2::bigint[]) AS u(id, n) WHERE t.query_id = u.id`, vids, vn); err != nil {
			return fmt.Errorf("rollup: query id views: %w", err)
		}
	}
	if len(d.queries) > 0 {
		var mins []time.Time
		var qs []string
		var a, b, c, e, f []int64
		for k, r := range d.queries {
			mins, qs = append(mins, k.minute), append(qs, k.query)
			a, b, c, e, f = append(a, r.searches), append(b, r.zero), append(c, r.clicks), append(e, r.carts), append(f, r.purchases)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_queries AS t (minute, query, searches, zero_results, clicks, add_to_carts, purchases)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
			ON CONFLICT (minute, query) DO UPDATE SET searches = t.searches + EXCLUDED.searches, zero_results = t.zero_results + EXCLUDED.zero_results,
				clicks = t.clicks + EXCLUDED.clicks, add_to_carts = t.add_to_carts + EXCLUDED.add_to_carts, purchases = t.purchases + EXCLUDED.purchases`,
			mins, qs, a, b, c, e, f); err != nil {
			return fmt.Errorf("rollup: queries: %w", err)
		}
	}
	if len(d.positions) > 0 {
		var mins []time.Time
		var qs []string
		var ps []int32
		var a, b []int64
		for k, r := range d.positions {
			mins, qs, ps = append(mins, k.minute), append(qs, k.query), append(ps, int32(k.pos))
			a, b = append(a, r.impressions), append(b, r.clicks)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_query_positions AS t (minute, query, position, impressions, clicks)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::bigint[], $5::bigint[])
			ON CONFLICT (minute, query, position) DO UPDATE SET impressions = t.impressions + EXCLUDED.impressions, clicks = t.clicks + EXCLUDED.clicks`,
			mins, qs, ps, a, b); err != nil {
			return fmt.Errorf("rollup: positions: %w", err)
		}
	}
	if err := writeParties(ctx, tx, d.parties); err != nil {
		return err
	}
	if len(d.drops) > 0 {
		var secs []time.Time
		var ls []string
		var a, b, c, e []int64
		for k, r := range d.drops {
			secs, ls = append(secs, k.second), append(ls, k.listing)
			a, b, c, e = append(a, r.arrivals), append(b, r.clicks), append(c, r.carts), append(e, r.purchases)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_drops AS t (second, listing_id, arrivals, clicks, add_to_carts, purchases)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
			ON CONFLICT (second, listing_id) DO UPDATE SET arrivals = t.arrivals + EXCLUDED.arrivals, clicks = t.clicks + EXCLUDED.clicks,
				add_to_carts = t.add_to_carts + EXCLUDED.add_to_carts, purchases = t.purchases + EXCLUDED.purchases`,
			secs, ls, a, b, c, e); err != nil {
			return fmt.Errorf("rollup: drops: %w", err)
		}
	}
	if len(d.experiments) > 0 {
		var days []time.Time
		var ex, vs, us []string
		var a, b, c []int64
		for k, r := range d.experiments {
			days, ex, vs, us = append(days, k.day), append(ex, k.experiment), append(vs, k.variant), append(us, k.subject)
			a, b, c = append(a, r.impressions), append(b, r.clicks), append(c, r.purchases)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_experiments AS t (day, experiment, variant, pseudonym, impressions, clicks, purchases)
			SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
			ON CONFLICT (day, experiment, variant, pseudonym) DO UPDATE SET impressions = t.impressions + EXCLUDED.impressions,
				clicks = t.clicks + EXCLUDED.clicks, purchases = t.purchases + EXCLUDED.purchases`,
			days, ex, vs, us, a, b, c); err != nil {
			return fmt.Errorf("rollup: experiments: %w", err)
		}
	}
	return nil
}

// writeParties merges the batch's viewer sketches into the stored ones
// (read under a row lock, merged here) and adds the counters.
func writeParties(ctx context.Context, tx pgx.Tx, parties map[partyKey]*partyRow) error {
	if len(parties) == 0 {
		return nil
	}
	var mins []time.Time
	var ids []string
	for k := range parties {
		mins, ids = append(mins, k.minute), append(ids, k.party)
	}
	rows, err := tx.Query(ctx, `SELECT t.minute, t.party_id, t.viewers FROM rummage.analytics_parties t
		JOIN unnest($1::timestamptz[], $2::text[]) AS k(minute, party_id) USING (minute, party_id) FOR UPDATE OF t`, mins, ids)
	if err != nil {
		return fmt.Errorf("rollup: parties: %w", err)
	}
	for rows.Next() {
		var k partyKey
		var raw []byte
		if err := rows.Scan(&k.minute, &k.party, &raw); err != nil {
			return err
		}
		old := hyperloglog.New14()
		if err := old.UnmarshalBinary(raw); err != nil {
			return fmt.Errorf("rollup: party %s at %s: viewers sketch: %w", k.party, k.minute, err)
		}
		if r := parties[partyKey{k.minute.UTC(), k.party}]; r != nil {
			if err := r.viewers.Merge(old); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var a, b, c, e, f, g, est []int64
	var sk [][]byte
	mins, ids = mins[:0], ids[:0]
	for k, r := range parties {
		raw, err := r.viewers.MarshalBinary()
		if err != nil {
			return err
		}
		mins, ids, sk = append(mins, k.minute), append(ids, k.party), append(sk, raw)
		a, b, c, e, f, g = append(a, r.views), append(b, r.impressions), append(c, r.clicks), append(e, r.shares), append(f, r.carts), append(g, r.purchases)
		est = append(est, int64(r.viewers.Estimate()))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rummage.analytics_parties AS t (minute, party_id, views, impressions, clicks, share_events, add_to_carts, purchases, viewers, viewers_estimate)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bytea[], $10::bigint[])
		ON CONFLICT (minute, party_id) DO UPDATE SET views = t.views + EXCLUDED.views, impressions = t.impressions + EXCLUDED.impressions,
			clicks = t.clicks + EXCLUDED.clicks, share_events = t.share_events + EXCLUDED.share_events, add_to_carts = t.add_to_carts + EXCLUDED.add_to_carts,
			purchases = t.purchases + EXCLUDED.purchases, viewers = EXCLUDED.viewers, viewers_estimate = EXCLUDED.viewers_estimate`,
		mins, ids, a, b, c, e, f, g, sk, est); err != nil {
		return fmt.Errorf("rollup: parties: %w", err)
	}
	return nil
}

// DeleteBefore deletes the rollup rows older than before (the rollup
// retention).
func (s *Store) DeleteBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	for _, q := range []string{
		`DELETE FROM rummage.analytics_queries WHERE minute < $1`,
		`DELETE FROM rummage.analytics_query_positions WHERE minute < $1`,
		`DELETE FROM rummage.analytics_query_ids WHERE at < $1`,
		`DELETE FROM rummage.analytics_parties WHERE minute < $1`,
		`DELETE FROM rummage.analytics_drops WHERE second < $1`,
		`DELETE FROM rummage.analytics_experiments WHERE day < $1::timestamptz::date`,
	} {
		tag, err := s.pool.Exec(ctx, q, before)
		if err != nil {
			return n, fmt.Errorf("rollup: retention: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// Forget deletes the rows of a user's pseudonym (rummage users forget).
// The party viewer sketches hold hashes of pseudonyms, not pseudonyms, and
// cannot give one user back: they are not per-user rows.
func (s *Store) Forget(ctx context.Context, pseudonym string) (int64, error) {
	if pseudonym == "" {
		return 0, errors.New("rollup: forget: empty pseudonym")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM rummage.analytics_experiments WHERE pseudonym = $1`, pseudonym)
	if err != nil {
		return 0, fmt.Errorf("rollup: forget: %w", err)
	}
	return tag.RowsAffected(), nil
}
