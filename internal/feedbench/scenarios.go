package feedbench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/signals"
)

// Facets asks the party feed for these five facets.
var Facets = []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetPrice}

// pageSize is the first page's size (the API's default limit).
const pageSize = query.DefaultLimit

// variant is one request of a scenario, on both sides.
type variant struct {
	label string
	feed  func(ctx context.Context) (*answer, error)
	sql   func(ctx context.Context) (*answer, error)
	// facets: the check compares the facet counts too.
	facets bool
}

type scenario struct {
	name     string
	what     string
	target   time.Duration
	variants []variant
}

type scenarios struct {
	c    *Config
	list []scenario
}

// newScenarios picks the parties and users of the scenarios from the data
// set and builds their requests.
func newScenarios(ctx context.Context, c *Config, x *embedded.Index, st signals.Reader, pg *postgres, ld *loaded) (*scenarios, error) {
	f := feed.New(x, st, feed.Config{})
	b := &sqlBaseline{pool: pg.pool, now: c.Now}
	now := c.Now
	s := &scenarios{c: c}

	partyVariant := func(k int) variant {
		p := ld.parties[k]
		return variant{
			label:  p.ID + " " + p.Name,
			facets: true,
			feed: feedPage(func(ctx context.Context) (*feed.Page, error) {
				return f.PartyFeed(ctx, p.ID, &query.Request{Now: now, Limit: pageSize, Facets: Facets})
			}),
			sql: func(ctx context.Context) (*answer, error) { return b.party(ctx, p, pageSize) },
		}
	}
	if ld.smallIdx >= 0 {
		s.list = append(s.list, scenario{name: "party_20k", what: fmt.Sprintf("party feed, first page + 5 facets, %d shared listings", ld.summary.SmallParty.SharedListings),
			target: 10 * time.Millisecond, variants: []variant{partyVariant(ld.smallIdx)}})
	}
	if ld.liveIdx >= 0 {
		s.list = append(s.list, scenario{name: "party_200k", what: fmt.Sprintf("party feed, first page + 5 facets, %d shared listings, %d shares", ld.summary.LiveParty.SharedListings, ld.summary.LiveParty.Shares),
			variants: []variant{partyVariant(ld.liveIdx)}})
	}

	followingVariant := func(u int) variant {
		user := ld.userIDs(u)
		return variant{
			label: fmt.Sprintf("%s follows %d", user, ld.outDeg[u]),
			feed: feedPage(func(ctx context.Context) (*feed.Page, error) {
				return f.Following(ctx, &query.Request{Now: now, Limit: pageSize, User: user})
			}),
			sql: func(ctx context.Context) (*answer, error) {
				rows, total, err := b.following(ctx, user, now.Add(-followingWindow), followingMaxShares, pageSize, true)
				if err != nil {
					return nil, err
				}
				a := &answer{Total: total}
				for _, r := range rows {
					a.IDs = append(a.IDs, r.ID)
				}
				return a, nil
			},
		}
	}
	users := map[int]int{}
	for _, want := range []int{1000, 5000, 200, 50} {
		users[want] = nearestUser(ld.outDeg, want, slices.Collect(maps.Values(users)))
	}
	for _, want := range []int{1000, 5000} {
		if u := users[want]; u >= 0 {
			s.list = append(s.list, scenario{name: fmt.Sprintf("following_%d", want), what: fmt.Sprintf("following feed, first page, a user following %d closets", ld.outDeg[u]),
				target: 20 * time.Millisecond, variants: []variant{followingVariant(u)}})
		}
	}

	trending, err := b.trending(ctx)
	if err != nil {
		return nil, err
	}
	home := scenario{name: "home", what: "home feed, first page, users following", target: 30 * time.Millisecond}
	var degs []string
	for _, want := range []int{1000, 5000, 200, 50} {
		u := users[want]
		if u < 0 {
			continue
		}
		user := ld.userIDs(u)
		degs = append(degs, fmt.Sprint(ld.outDeg[u]))
		home.variants = append(home.variants, variant{
			label: fmt.Sprintf("%s follows %d", user, ld.outDeg[u]),
			feed: feedPage(func(ctx context.Context) (*feed.Page, error) {
				return f.Home(ctx, &query.Request{Now: now, Limit: pageSize, User: user})
			}),
			sql: func(ctx context.Context) (*answer, error) {
				ids, err := b.home(ctx, user, followingWindow, followingMaxShares, trending, pageSize)
				if err != nil {
					return nil, err
				}
				return &answer{IDs: ids, Total: -1}, nil
			},
		})
	}
	home.what += " " + strings.Join(degs, ", ") + " closets"
	if len(home.variants) > 0 {
		s.list = append(s.list, home)
	}
	return s, nil
}

// The following feed's defaults (feed.Config's zero values), which the
// SQL repeats: it looks back 30 days, at most 50k shared listings.
const (
	followingWindow    = 30 * 24 * time.Hour
	followingMaxShares = 50000
)

// nearestUser is the user whose out-degree is nearest want, not one of
// taken (-1 when nobody follows anyone).
func nearestUser(deg []int32, want int, taken []int) int {
	best := -1
	for u, d := range deg {
		if d == 0 || slices.Contains(taken, u) {
			continue
		}
		if best < 0 || abs(int64(d)-int64(want)) < abs(int64(deg[best])-int64(want)) {
			best = u
		}
	}
	return best
}

// feedPage turns a surface's call into a variant's feed side.
func feedPage(call func(ctx context.Context) (*feed.Page, error)) func(ctx context.Context) (*answer, error) {
	return func(ctx context.Context) (*answer, error) {
		p, err := call(ctx)
		if err != nil {
			return nil, err
		}
		return feedAnswer(p), nil
	}
}

func feedAnswer(p *feed.Page) *answer {
	a := &answer{Total: p.Total, Facets: map[string]map[string]int{}}
	for _, h := range p.Hits {
		a.IDs = append(a.IDs, h.ID)
	}
	for fc, vals := range p.Facets {
		m := map[string]int{}
		for _, v := range vals {
			if v.Count == 0 {
				continue
			}
			if fc == query.FacetPrice {
				m[v.Key] = v.Count
			} else {
				m[v.Value] = v.Count
			}
		}
		a.Facets[string(fc)] = m
	}
	return a
}

// run measures every scenario on both sides and cross-checks their first
// pages.
func (s *scenarios) run(ctx context.Context, rep *Report) error {
	for _, sc := range s.list {
		if len(s.c.Only) > 0 && !slices.Contains(s.c.Only, sc.name) {
			continue
		}
		r := ScenarioResult{Name: sc.name, What: sc.what}
		if sc.target > 0 {
			r.TargetP99Ms = float64(sc.target) / float64(time.Millisecond)
		}
		for _, v := range sc.variants {
			r.Variants = append(r.Variants, v.label)
		}
		// The cross-check first: every variant once on both sides.
		for _, v := range sc.variants {
			ch, err := check(ctx, sc.name, v)
			if err != nil {
				return err
			}
			rep.Checks = append(rep.Checks, ch)
		}
		s.c.logf("%s: measuring the feed (%s)", sc.name, sc.what)
		op := func(ctx context.Context, i int) error {
			_, err := sc.variants[i%len(sc.variants)].feed(ctx)
			return err
		}
		var stop func() error
		if s.c.Profile != nil {
			var err error
			if stop, err = s.c.Profile(sc.name); err != nil {
				return err
			}
		}
		sum, err := benchkit.Run(ctx, s.c.Plan, op)
		if stop != nil {
			if perr := stop(); err == nil {
				err = perr
			}
		}
		if err != nil {
			return fmt.Errorf("feedbench: %s: %w", sc.name, err)
		}
		r.Rummage = sum
		s.c.logf("%s: feed %s", sc.name, sum)
		s.c.logf("%s: measuring the SQL baseline", sc.name)
		bsum, err := benchkit.Run(ctx, s.c.BaselinePlan, func(ctx context.Context, i int) error {
			_, err := sc.variants[i%len(sc.variants)].sql(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("feedbench: %s baseline: %w", sc.name, err)
		}
		r.Baseline = bsum
		s.c.logf("%s: SQL %s", sc.name, bsum)
		if sum.P50 > 0 {
			r.RatioP50 = float64(bsum.P50) / float64(sum.P50)
		}
		if sum.P99 > 0 {
			r.RatioP99 = float64(bsum.P99) / float64(sum.P99)
		}
		r.Status = "n/a"
		if rep.Targets && sc.target > 0 {
			r.Status = "PASS"
			if sum.P99 > sc.target {
				r.Status = "MISS"
			}
		}
		rep.Scenarios = append(rep.Scenarios, r)
	}
	return nil
}

// check compares one request's first page on both sides.
func check(ctx context.Context, scenario string, v variant) (Check, error) {
	ch := Check{Scenario: scenario, Request: v.label}
	fa, err := v.feed(ctx)
	if err != nil {
		return ch, fmt.Errorf("feedbench: %s: feed: %w", scenario, err)
	}
	sa, err := v.sql(ctx)
	if err != nil {
		return ch, err
	}
	ch.FeedIDs, ch.SQLIDs = fa.IDs, sa.IDs
	ch.FeedTotal, ch.SQLTotal = fa.Total, sa.Total
	ch.IDsAgree = slices.Equal(fa.IDs, sa.IDs)
	ch.TotalAgrees = sa.Total < 0 || fa.Total == sa.Total
	common := 0
	for _, id := range fa.IDs {
		if slices.Contains(sa.IDs, id) {
			common++
		}
	}
	ch.Common = common
	if v.facets {
		for _, fc := range Facets {
			if !maps.Equal(fa.Facets[string(fc)], sa.Facets[string(fc)]) {
				ch.FacetsDiffer = append(ch.FacetsDiffer, string(fc))
			}
		}
	}
	ch.Agree = ch.IDsAgree && ch.TotalAgrees && len(ch.FacetsDiffer) == 0
	return ch, nil
}
