package rollup

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/axiomhq/hyperloglog"
)

// Window is the time range an analytics query covers: [From, To).
type Window struct {
	From, To time.Time
}

// PositionCTR is the click-through rate of one position.
type PositionCTR struct {
	Position    int     `json:"position"`
	Impressions int64   `json:"impressions"`
	Clicks      int64   `json:"clicks"`
	CTR         float64 `json:"ctr"`
}

// QueryStats is one normalized query over a window.
type QueryStats struct {
	Query       string        `json:"query"`
	Searches    int64         `json:"searches"`
	ZeroResults int64         `json:"zero_results"`
	Clicks      int64         `json:"clicks"`
	CTR         float64       `json:"ctr"` // clicks per search
	AddToCarts  int64         `json:"add_to_carts"`
	Purchases   int64         `json:"purchases"`
	Positions   []PositionCTR `json:"positions"`
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Searches returns the top queries of w by searches (zeroOnly: the
// queries that answered nothing, by their zero-result searches), at most
// limit.
func (s *Store) Searches(ctx context.Context, w Window, limit int, zeroOnly bool) ([]QueryStats, error) {
	order := "sum(searches) DESC"
	having := ""
	if zeroOnly {
		order, having = "sum(zero_results) DESC", "HAVING sum(zero_results) > 0"
	}
	rows, err := s.pool.Query(ctx, `SELECT query, sum(searches)::bigint, sum(zero_results)::bigint, sum(clicks)::bigint, sum(add_to_carts)::bigint, sum(purchases)::bigint
		FROM rummage.analytics_queries WHERE minute >= $1 AND minute < $2 GROUP BY query `+having+` ORDER BY `+order+`, query LIMIT $3`, w.From, w.To, limit)
	if err != nil {
		return nil, fmt.Errorf("analytics: searches: %w", err)
	}
	var out []QueryStats
	for rows.Next() {
		var q QueryStats
		if err := rows.Scan(&q.Query, &q.Searches, &q.ZeroResults, &q.Clicks, &q.AddToCarts, &q.Purchases); err != nil {
			return nil, err
		}
		q.CTR = ratio(q.Clicks, q.Searches)
		q.Positions = []PositionCTR{}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return []QueryStats{}, nil
	}
	idx := map[string]int{}
	names := make([]string, len(out))
	for i, q := range out {
		idx[q.Query], names[i] = i, q.Query
	}
	rows, err = s.pool.Query(ctx, `SELECT query, position, sum(impressions)::bigint, sum(clicks)::bigint FROM rummage.analytics_query_positions
		WHERE minute >= $1 AND minute < $2 AND query = ANY($3) GROUP BY query, position ORDER BY query, position`, w.From, w.To, names)
	if err != nil {
		return nil, fmt.Errorf("analytics: positions: %w", err)
	}
	for rows.Next() {
		var q string
		var p PositionCTR
		if err := rows.Scan(&q, &p.Position, &p.Impressions, &p.Clicks); err != nil {
			return nil, err
		}
		p.CTR = ratio(p.Clicks, p.Impressions)
		out[idx[q]].Positions = append(out[idx[q]].Positions, p)
	}
	return out, rows.Err()
}

// PartyMinute is one minute of a party.
type PartyMinute struct {
	Minute      time.Time `json:"minute"`
	Viewers     int64     `json:"viewers"` // unique, estimated (HyperLogLog)
	Views       int64     `json:"views"`
	Impressions int64     `json:"impressions"`
	Clicks      int64     `json:"clicks"`
	Shares      int64     `json:"shares"`       // from the CDC (the shares table), when this database holds it
	ShareEvents int64     `json:"share_events"` // share events: attribution records
	AddToCarts  int64     `json:"add_to_carts"`
	Purchases   int64     `json:"purchases"` // purchase events: attribution records
}

// PartyStats is a party over a window.
type PartyStats struct {
	PartyID string        `json:"party_id"`
	Viewers int64         `json:"viewers"` // unique over the window, estimated
	Minutes []PartyMinute `json:"minutes"`
}

// Party returns a party's minutes over w.
func (s *Store) Party(ctx context.Context, id string, w Window) (*PartyStats, error) {
	rows, err := s.pool.Query(ctx, `SELECT minute, viewers, viewers_estimate, views, impressions, clicks, share_events, add_to_carts, purchases
		FROM rummage.analytics_parties WHERE party_id = $1 AND minute >= $2 AND minute < $3 ORDER BY minute`, id, w.From, w.To)
	if err != nil {
		return nil, fmt.Errorf("analytics: party: %w", err)
	}
	out := &PartyStats{PartyID: id, Minutes: []PartyMinute{}}
	all := hyperloglog.New14()
	byMinute := map[time.Time]int{}
	for rows.Next() {
		var m PartyMinute
		var raw []byte
		if err := rows.Scan(&m.Minute, &raw, &m.Viewers, &m.Views, &m.Impressions, &m.Clicks, &m.ShareEvents, &m.AddToCarts, &m.Purchases); err != nil {
			return nil, err
		}
		sk := hyperloglog.New14()
		if err := sk.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("analytics: party %s: viewers sketch: %w", id, err)
		}
		if err := all.Merge(sk); err != nil {
			return nil, err
		}
		m.Minute = m.Minute.UTC()
		byMinute[m.Minute] = len(out.Minutes)
		out.Minutes = append(out.Minutes, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out.Viewers = int64(all.Estimate())
	// Shares are counted from the marketplace's shares table (the CDC's
	// source), when the analytics database is that database.
	var has bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('public.shares') IS NOT NULL`).Scan(&has); err != nil || !has {
		return out, nil
	}
	rows, err = s.pool.Query(ctx, `SELECT date_trunc('minute', created_at), count(*) FROM public.shares
		WHERE party_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1 ORDER BY 1`, id, w.From, w.To)
	if err != nil {
		return nil, fmt.Errorf("analytics: party shares: %w", err)
	}
	for rows.Next() {
		var m time.Time
		var n int64
		if err := rows.Scan(&m, &n); err != nil {
			return nil, err
		}
		m = m.UTC()
		i, ok := byMinute[m]
		if !ok {
			i = len(out.Minutes)
			byMinute[m] = i
			out.Minutes = append(out.Minutes, PartyMinute{Minute: m})
		}
		out.Minutes[i].Shares = n
	}
	slices.SortFunc(out.Minutes, func(a, b PartyMinute) int { return a.Minute.Compare(b.Minute) })
	return out, rows.Err()
}

// DropSecond is one second of arrivals.
type DropSecond struct {
	Second   time.Time `json:"second"`
	Arrivals int64     `json:"arrivals"`
}

// DropStats is one drop instant.
type DropStats struct {
	At         time.Time    `json:"at"`
	Listings   int64        `json:"listings"`
	Sold       int64        `json:"sold"`
	SoldOutSec *float64     `json:"time_to_sell_out_s"` // null until every listing sold
	Arrivals   int64        `json:"arrivals"`
	PerSecond  []DropSecond `json:"per_second"`
}

// Drops returns the drops whose instant is in w. Arrivals are view events
// on the drop surface (the events topic); listings, sales and the time to
// sell out come from the marketplace's listings table (the CDC's source:
// status sold, its updated_at the sale), so they need the analytics
// database to be that database; without it Drops returns the arrivals
// per second of the drop surface as one entry with a zero instant.
func (s *Store) Drops(ctx context.Context, w Window) ([]DropStats, error) {
	var has bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('public.listings') IS NOT NULL`).Scan(&has); err != nil {
		return nil, fmt.Errorf("analytics: drops: %w", err)
	}
	if !has {
		d := DropStats{PerSecond: []DropSecond{}}
		err := s.addArrivals(ctx, &d, "drops", `SELECT second, sum(arrivals)::bigint FROM rummage.analytics_drops WHERE second >= $1 AND second < $2 GROUP BY 1 ORDER BY 1`, w.From, w.To)
		if err != nil {
			return nil, err
		}
		return []DropStats{d}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT available_at, count(*), count(*) FILTER (WHERE status = 'sold'),
			extract(epoch FROM max(updated_at) FILTER (WHERE status = 'sold') - available_at)::float8
		FROM public.listings WHERE available_at >= $1 AND available_at < $2 GROUP BY available_at ORDER BY available_at`, w.From, w.To)
	if err != nil {
		return nil, fmt.Errorf("analytics: drops: %w", err)
	}
	var out []DropStats
	for rows.Next() {
		var d DropStats
		var sellOut *float64
		if err := rows.Scan(&d.At, &d.Listings, &d.Sold, &sellOut); err != nil {
			return nil, err
		}
		if d.Sold == d.Listings && sellOut != nil {
			v := max(*sellOut, 0)
			d.SoldOutSec = &v
		}
		d.At = d.At.UTC()
		d.PerSecond = []DropSecond{}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		err := s.addArrivals(ctx, &out[i], "drop arrivals", `SELECT a.second, sum(a.arrivals)::bigint FROM rummage.analytics_drops a
			JOIN public.listings l ON l.id = a.listing_id WHERE l.available_at = $1 GROUP BY 1 ORDER BY 1`, out[i].At)
		if err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = []DropStats{}
	}
	return out, nil
}

// addArrivals adds the (second, arrivals) rows of sql to d, seconds in UTC.
func (s *Store) addArrivals(ctx context.Context, d *DropStats, what, sql string, args ...any) error {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("analytics: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var x DropSecond
		if err := rows.Scan(&x.Second, &x.Arrivals); err != nil {
			return err
		}
		x.Second = x.Second.UTC()
		d.Arrivals += x.Arrivals
		d.PerSecond = append(d.PerSecond, x)
	}
	return rows.Err()
}

// Interval is a bootstrap confidence interval.
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// VariantStats is one variant of an experiment.
type VariantStats struct {
	Variant            string   `json:"variant"`
	Users              int      `json:"users"`
	Impressions        int64    `json:"impressions"`
	Clicks             int64    `json:"clicks"`
	Purchases          int64    `json:"purchases"`
	CTR                float64  `json:"ctr"` // clicks per impression
	CTRCI              Interval `json:"ctr_ci95"`
	PurchasesPerUser   float64  `json:"purchases_per_user"`
	PurchasesPerUserCI Interval `json:"purchases_per_user_ci95"`
}

// ExperimentStats is an experiment over a window.
type ExperimentStats struct {
	Experiment string         `json:"experiment"`
	Resamples  int            `json:"resamples"`
	Variants   []VariantStats `json:"variants"`
}

// Resamples is the bootstrap's resample count.
const Resamples = 1000

type userCounts struct{ impressions, clicks, purchases int64 }

// Experiment returns an experiment's variants over w with 95 % confidence
// intervals bootstrapped over users (each resample draws the variant's
// users with replacement; the unit of randomization is the user, not the
// impression). The resampling is seeded by the experiment's name: the
// same rows give the same intervals.
func (s *Store) Experiment(ctx context.Context, name string, w Window) (*ExperimentStats, error) {
	rows, err := s.pool.Query(ctx, `SELECT variant, pseudonym, sum(impressions)::bigint, sum(clicks)::bigint, sum(purchases)::bigint
		FROM rummage.analytics_experiments WHERE experiment = $1 AND day >= $2::timestamptz::date AND day <= $3::timestamptz::date
		GROUP BY variant, pseudonym ORDER BY variant, pseudonym`, name, w.From, w.To)
	if err != nil {
		return nil, fmt.Errorf("analytics: experiment: %w", err)
	}
	byVariant := map[string][]userCounts{}
	var order []string
	for rows.Next() {
		var v, u string
		var c userCounts
		if err := rows.Scan(&v, &u, &c.impressions, &c.clicks, &c.purchases); err != nil {
			return nil, err
		}
		if _, ok := byVariant[v]; !ok {
			order = append(order, v)
		}
		byVariant[v] = append(byVariant[v], c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := &ExperimentStats{Experiment: name, Resamples: Resamples, Variants: []VariantStats{}}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	for _, v := range order {
		out.Variants = append(out.Variants, bootstrap(v, byVariant[v], rng))
	}
	return out, nil
}

func bootstrap(variant string, users []userCounts, rng *rand.Rand) VariantStats {
	vs := VariantStats{Variant: variant, Users: len(users)}
	for _, u := range users {
		vs.Impressions += u.impressions
		vs.Clicks += u.clicks
		vs.Purchases += u.purchases
	}
	vs.CTR = ratio(vs.Clicks, vs.Impressions)
	vs.PurchasesPerUser = ratio(vs.Purchases, int64(len(users)))
	if len(users) == 0 {
		return vs
	}
	ctr := make([]float64, Resamples)
	ppu := make([]float64, Resamples)
	for r := range Resamples {
		var imp, clk, pur int64
		for range users {
			u := users[rng.IntN(len(users))]
			imp, clk, pur = imp+u.impressions, clk+u.clicks, pur+u.purchases
		}
		ctr[r], ppu[r] = ratio(clk, imp), ratio(pur, int64(len(users)))
	}
	vs.CTRCI, vs.PurchasesPerUserCI = percentiles(ctr), percentiles(ppu)
	return vs
}

// percentiles is the 2.5th-97.5th percentile interval of xs (sorted in
// place).
func percentiles(xs []float64) Interval {
	slices.Sort(xs)
	at := func(p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	return Interval{Low: at(0.025), High: at(0.975)}
}
