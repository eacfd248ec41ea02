package relevancebench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals/memory"
)

// Scoring the held-out part: the units, the rankings compared and the
// oracle's and popularity's orders.

// searchUnit is one held-out search: a shopper, what they searched, and
// the listings they then clicked (1), carted (2) or bought (3).
type searchUnit struct {
	shopper int
	query   string
	rel     map[string]int
}

var grades = map[string]int{fixtures.InteractionClick: 1, fixtures.InteractionCart: 2, fixtures.InteractionPurchase: 3}

func units(log *fixtures.ShopperLog, limit int) ([]searchUnit, map[int]map[string]int) {
	type key struct {
		s int
		q string
	}
	byKey := map[key]map[string]int{}
	var order []key
	home := map[int]map[string]int{}
	for _, it := range log.HeldOut {
		k := key{it.Shopper, it.Query}
		if byKey[k] == nil {
			byKey[k] = map[string]int{}
			order = append(order, k)
		}
		byKey[k][it.Listing] = max(byKey[k][it.Listing], grades[it.Type])
		if home[it.Shopper] == nil {
			home[it.Shopper] = map[string]int{}
		}
		home[it.Shopper][it.Listing] = max(home[it.Shopper][it.Listing], grades[it.Type])
	}
	var out []searchUnit
	for _, k := range order[:min(limit, len(order))] {
		out = append(out, searchUnit{shopper: k.s, query: k.q, rel: byKey[k]})
	}
	return out, home
}

// score scores the held-out part.
func (c *Config) score(ctx context.Context, rep *Report, log *fixtures.ShopperLog, g *fixtures.Generator, x *embedded.Index,
	store *memory.Store, pz *events.Pseudonymizer) error {
	us, home := units(log, c.Units)
	seen := map[[2]string]bool{}
	for _, it := range log.Train {
		seen[[2]string{log.Shoppers[it.Shopper].ID, it.Listing}] = true
	}
	judged, again := 0, 0
	for s, rel := range home {
		for l := range rel {
			judged++
			if seen[[2]string{log.Shoppers[s].ID, l}] {
				again++
			}
		}
	}
	if judged > 0 {
		rep.SeenInTraining = float64(again) / float64(judged)
	}
	c.logf("scoring %d held-out searches and %d shoppers' home feeds", len(us), len(home))
	now := time.Now()
	var anon, oracle, pop scorer
	pers := map[int]*scorer{}
	servers := map[int]http.Handler{}
	var secret string
	for _, st := range c.Strengths {
		h, s, err := server(ctx, x, store, pz, st, false)
		if err != nil {
			return err
		}
		servers[st], secret, pers[st] = h, s, &scorer{}
	}
	base := servers[c.Strengths[0]]
	for n, u := range us {
		if n > 0 && n%200 == 0 {
			c.logf("%d of %d searches scored", n, len(us))
		}
		q := url.Values{"q": {u.query}}
		ids, err := get(base, secret, "/v1/search", q)
		if err != nil {
			return err
		}
		anon.add(ids, u.rel)
		for _, st := range c.Strengths {
			q := url.Values{"q": {u.query}, "user": {log.Shoppers[u.shopper].ID}}
			ids, err := get(servers[st], secret, "/v1/search", q)
			if err != nil {
				return err
			}
			pers[st].add(ids, u.rel)
		}
		// The oracle and popularity rank the query's first candidates of
		// the shipped blend (query.MaxCandidates) by the true preferences
		// (then the blend), and by likes and shares.
		r := feed.SearchRetrieval(&query.Request{Query: u.query}, now, nil)
		r.Score, r.N = ranking.Blend{NowMs: now.UnixMilli()}, query.MaxCandidates
		cands, err := x.Retrieve(ctx, r)
		if err != nil {
			return err
		}
		sh := &log.Shoppers[u.shopper]
		hits := cands.Hits
		pref := make(map[string]int, len(hits))
		for i := range hits {
			s := &hits[i].Signals
			pref[hits[i].ID] = sh.Prefers(s.Brand, strings.Split(s.Category, "/"), s.Size, s.PriceCents)
		}
		byPref := slices.Clone(hits)
		slices.SortStableFunc(byPref, func(a, b query.Candidate) int { return cmp.Compare(pref[b.ID], pref[a.ID]) })
		oracle.add(candIDs(byPref), u.rel)
		byPop := slices.Clone(hits)
		slices.SortStableFunc(byPop, func(a, b query.Candidate) int { return cmp.Compare(popularity(&b.Signals), popularity(&a.Signals)) })
		pop.add(candIDs(byPop), u.rel)
	}
	rep.Search["anonymous"], rep.Search["oracle"], rep.Search["popularity"] = anon.mean(), oracle.mean(), pop.mean()
	for _, st := range c.Strengths {
		rep.Search[fmt.Sprintf("personalized_%d", st)] = pers[st].mean()
	}
	rep.lifts("search", &anon, pers, c.Seed)

	// The home feed: the shopper's first page, anonymous and personalized;
	// the oracle and popularity over the whole visible catalog.
	facts, err := catalogFacts(g, c.Now)
	if err != nil {
		return err
	}
	anonHome, why, err := getReasons(base, secret, "/v1/feed", url.Values{})
	if err != nil {
		return err
	}
	rep.AnonymousHome = map[string]int{}
	for _, r := range why {
		rep.AnonymousHome[r]++
	}
	byPop := slices.Clone(facts)
	slices.SortStableFunc(byPop, func(a, b fact) int { return cmp.Compare(b.pop, a.pop) })
	popHome := make([]string, 24)
	for i := range popHome {
		popHome[i] = byPop[i].id
	}
	var hAnon, hOracle, hPop scorer
	hPers := map[int]*scorer{}
	for _, st := range c.Strengths {
		hPers[st] = &scorer{}
	}
	shoppers := make([]int, 0, len(home))
	for s := range home {
		shoppers = append(shoppers, s)
	}
	slices.Sort(shoppers)
	shoppers = shoppers[:min(len(shoppers), c.Units)]
	c.logf("scored %d searches; scoring %d home feeds", len(us), len(shoppers))
	for _, s := range shoppers {
		rel := home[s]
		hAnon.add(anonHome, rel)
		hPop.add(popHome, rel)
		for _, st := range c.Strengths {
			ids, err := get(servers[st], secret, "/v1/feed", url.Values{"user": {log.Shoppers[s].ID}})
			if err != nil {
				return err
			}
			hPers[st].add(ids, rel)
		}
		hOracle.add(oracleHome(&log.Shoppers[s], facts, 24), rel)
	}
	rep.Home["anonymous"], rep.Home["oracle"], rep.Home["popularity"] = hAnon.mean(), hOracle.mean(), hPop.mean()
	for _, st := range c.Strengths {
		rep.Home[fmt.Sprintf("personalized_%d", st)] = hPers[st].mean()
	}
	rep.lifts("home", &hAnon, hPers, c.Seed)
	return nil
}

func candIDs(cs []query.Candidate) []string {
	out := make([]string, min(len(cs), 24))
	for i := range out {
		out[i] = cs[i].ID
	}
	return out
}

func popularity(s *query.Signals) int64 { return s.Likes + 2*s.Shares }

// fact is what the home oracle needs of a visible listing.
type fact struct {
	id       string
	brand    string
	category []string
	size     string
	price    int64
	listedMs int64
	pop      int64
}

func catalogFacts(g *fixtures.Generator, now time.Time) ([]fact, error) {
	var out []fact
	for i := range g.Count() {
		l := g.Listing(i)
		if l.Status != "available" || (l.AvailableAt != nil && l.AvailableAt.After(now)) {
			continue
		}
		out = append(out, fact{id: l.ID, brand: l.Brand, category: l.Category, size: l.Size, price: l.PriceCents,
			listedMs: l.ListedAt().UnixMilli(), pop: l.LikeCount + 2*l.ShareCount})
	}
	if len(out) < 24 {
		return nil, errors.New("relevancebench: fewer than 24 visible listings")
	}
	return out, nil
}

// oracleHome ranks the catalog by the shopper's true preferences, the
// newest first among equals.
func oracleHome(sh *fixtures.Shopper, facts []fact, k int) []string {
	type scored struct {
		i, pref int
	}
	top := make([]scored, 0, k+1)
	for i := range facts {
		f := &facts[i]
		p := sh.Prefers(f.brand, f.category, f.size, f.price)
		top = append(top, scored{i, p})
		if len(top) > 4*k {
			slices.SortFunc(top, func(a, b scored) int {
				if c := cmp.Compare(b.pref, a.pref); c != 0 {
					return c
				}
				return cmp.Compare(facts[b.i].listedMs, facts[a.i].listedMs)
			})
			top = top[:k]
		}
	}
	slices.SortFunc(top, func(a, b scored) int {
		if c := cmp.Compare(b.pref, a.pref); c != 0 {
			return c
		}
		return cmp.Compare(facts[b.i].listedMs, facts[a.i].listedMs)
	})
	out := make([]string, 0, k)
	for _, s := range top[:min(k, len(top))] {
		out = append(out, facts[s.i].id)
	}
	return out
}
