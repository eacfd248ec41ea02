package reference_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
	"github.com/rummage/rummage/query/reference"
)

// The versus test (bleve's test/versus_test.go is the model): the embedded
// backend and the reference answer the same random retrievals over the same
// generated catalog, and must agree. Every disagreement is a bug in one of
// them; rerun it with the seed the failure prints.
var (
	versusSeed     = flag.Uint64("versus.seed", 0, "seed of TestVersus (catalog and requests); 0 picks one from the clock")
	versusRequests = flag.Int("versus.requests", 1000, "random retrievals TestVersus runs")
	versusListings = flag.Int("versus.listings", 4500, "generated listings TestVersus indexes (from 4096 on, the embedded backend keeps presorted orders)")
)

// versusNow is the generator's base instant: drops fall in the week after.
var versusNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestVersus(t *testing.T) {
	if testing.Short() {
		t.Skip("versus test in -short mode")
	}
	seed := *versusSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("versus seed %d (rerun with -versus.seed=%d)", seed, seed)
	v := newVersus(t, seed)
	for i := 0; i < *versusRequests && v.failures < maxFailures; i++ {
		if i == *versusRequests/2 {
			// Writes between retrievals: the embedded backend's presorted
			// orders now have dirty listings.
			v.apply(v.updates())
		}
		v.one(i)
	}
	t.Logf("compared %d retrievals (%d pages): %d with text (%d matching something, %d by relevance with the whole set compared), %d with facets, %d restricted (%d of them feeds), %d walked past page 1",
		v.stats.requests, v.stats.pages, v.stats.text, v.stats.textHits, v.stats.wholeSet, v.stats.facets, v.stats.restricted, v.stats.feed, v.stats.walked)
	t.Logf("text queries matching something, by kind: %v", v.matched)
	if v.failures > 0 {
		t.Fatalf("%d disagreements; seed %d (rerun with go test ./query/reference -run TestVersus -versus.seed=%d)", v.failures, seed, seed)
	}
}

const maxFailures = 10

type versus struct {
	t         *testing.T
	seed      uint64
	r         *rand.Rand
	emb       *embedded.Index
	ref       *reference.Engine
	aliases   []string            // alias keys, sorted
	aliasesOf map[string][]string // brand → its aliases, sorted
	held      []*rummage.Listing  // every listing held after the updates
	catalog   []rummage.Listing
	drops     []time.Time
	failures  int
	stats     struct{ requests, pages, text, textHits, wholeSet, facets, restricted, feed, walked int }
	kind      string         // of the last text: "typo", "alias" or ""
	matched   map[string]int // text kinds that matched something

	brands, sizes, colors, sellers, ids, words []string
	paths                                      [][]string
}

func newVersus(t *testing.T, seed uint64) *versus {
	aliases, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		t.Fatal(err)
	}
	emb := embeddedtest.Open(t, embedded.Config{Aliases: aliases})
	ref, err := reference.New(aliases)
	if err != nil {
		t.Fatal(err)
	}
	v := &versus{t: t, seed: seed, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), emb: emb, ref: ref, matched: map[string]int{}}
	for k := range aliases {
		v.aliases = append(v.aliases, k)
	}
	slices.Sort(v.aliases)
	v.aliasesOf = map[string][]string{}
	for _, k := range v.aliases {
		v.aliasesOf[aliases[k]] = append(v.aliasesOf[aliases[k]], k)
	}

	g, err := fixtures.NewGenerator(fixtures.Options{Seed: seed, Now: versusNow, Count: *versusListings})
	if err != nil {
		t.Fatal(err)
	}
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		v.catalog = append(v.catalog, l)
	}
	v.catalog = append(v.catalog, edgeCases(v.catalog)...)
	first := make([]query.Change, len(v.catalog))
	for i := range v.catalog {
		first[i] = query.Change{ID: v.catalog[i].ID, Version: 1, Doc: &v.catalog[i]}
	}
	v.apply(first)
	v.apply(v.updates())
	v.collect()
	return v
}

// edgeCases are hand-made listings the generator does not make: spellings
// that differ only in case, drops at the instants requests are evaluated
// at, hidden statuses, bucket-edge prices, equal keys, empty fields.
func edgeCases(cat []rummage.Listing) []rummage.Listing {
	var out []rummage.Listing
	add := func(base rummage.Listing, id string, edit func(l *rummage.Listing)) {
		l := base
		l.ID = id
		l.Category = slices.Clone(base.Category)
		l.Colors = slices.Clone(base.Colors)
		l.Tags = slices.Clone(base.Tags)
		edit(&l)
		out = append(out, l)
	}
	at := func(d time.Duration) *time.Time { t := versusNow.Add(d); return &t }
	for i, b := range cat[:40] {
		switch i % 8 {
		case 0:
			add(b, fmt.Sprintf("x-upper-%02d", i), func(l *rummage.Listing) {
				l.Brand = strings.ToUpper(l.Brand)
				l.Size = strings.ToLower(l.Size)
			})
		case 1:
			add(b, fmt.Sprintf("x-lower-%02d", i), func(l *rummage.Listing) {
				l.Brand = strings.ToLower(l.Brand)
				for k := range l.Colors {
					l.Colors[k] = strings.ToUpper(l.Colors[k])
				}
				l.Colors = append(l.Colors, strings.ToLower(l.Colors[0])) // the same color twice, in two spellings
			})
		case 2:
			add(b, fmt.Sprintf("x-cat-%02d", i), func(l *rummage.Listing) {
				for k := range l.Category {
					l.Category[k] = strings.ToLower(l.Category[k])
				}
			})
		case 3:
			add(b, fmt.Sprintf("x-drop-%02d", i), func(l *rummage.Listing) {
				l.Status = rummage.StatusAvailable
				l.AvailableAt = at(time.Duration(i) * time.Hour)
				l.LastSharedAt, l.ShareCount = nil, 0
			})
			add(b, fmt.Sprintf("x-drop-late-%02d", i), func(l *rummage.Listing) {
				// Created after its instant: listed at created_at.
				l.Status = rummage.StatusAvailable
				l.AvailableAt = at(time.Duration(i) * time.Hour)
				l.CreatedAt = versusNow.Add(time.Duration(i+1) * time.Hour)
			})
		case 4:
			for k, s := range []string{rummage.StatusSold, rummage.StatusRemoved, rummage.StatusReserved} {
				add(b, fmt.Sprintf("x-hidden-%02d-%d", i, k), func(l *rummage.Listing) { l.Status = s })
			}
		case 5:
			for k, p := range []int64{0, 2499, 2500, 5000, 49999, 50000, 50001} {
				add(b, fmt.Sprintf("x-price-%02d-%d", i, k), func(l *rummage.Listing) {
					l.PriceCents = p
					l.CreatedAt = versusNow.Add(-time.Hour) // equal keys: ties by id
					t := versusNow.Add(-30 * time.Minute)
					l.LastSharedAt = &t
					l.AvailableAt = nil
				})
			}
		case 6:
			add(b, fmt.Sprintf("x-bare-%02d", i), func(l *rummage.Listing) {
				l.Brand, l.Size, l.Condition, l.Description = "", "", "", ""
				l.Category, l.Colors, l.Tags = nil, nil, nil
				l.Status, l.AvailableAt = rummage.StatusAvailable, nil
			})
		case 7:
			add(b, fmt.Sprintf("x-words-%02d", i), func(l *rummage.Listing) {
				l.Brand = "Abercrombie & Fitch"
				l.Title = "Levi's the Runner's vintage jackets"
				l.Tags = []string{"Y2K", "cottagecore"}
				l.Status, l.AvailableAt = rummage.StatusAvailable, nil
			})
		}
	}
	// A spelling only a listing deleted later uses, and one only an older
	// version used.
	add(cat[0], "x-ghost-deleted", func(l *rummage.Listing) { l.Brand = "NiKe"; l.Status = rummage.StatusAvailable })
	add(cat[1], "x-ghost-renamed", func(l *rummage.Listing) { l.Brand = "zArA"; l.Status = rummage.StatusAvailable })
	return out
}

// updates is a second batch: new versions (prices, statuses, spellings),
// deletes, stale and equal versions, an id changed twice.
func (v *versus) updates() []query.Change {
	var out []query.Change
	r := v.r
	for k := 0; k < 200; k++ {
		l := v.catalog[r.IntN(len(v.catalog))]
		l.Category, l.Colors = slices.Clone(l.Category), slices.Clone(l.Colors)
		switch r.IntN(6) {
		case 0:
			out = append(out, query.Change{ID: l.ID, Version: 2, Delete: true})
		case 1:
			out = append(out, query.Change{ID: l.ID, Version: 0, Doc: &l}) // stale
		case 2:
			l.Title += " Stale"
			out = append(out, query.Change{ID: l.ID, Version: 1, Doc: &l}) // equal: applies
		default:
			l.PriceCents = int64(r.IntN(60000))
			l.Status = rummage.Statuses()[r.IntN(len(rummage.Statuses()))]
			l.Brand = randomCase(r, l.Brand)
			out = append(out, query.Change{ID: l.ID, Version: 2, Doc: &l})
			if r.IntN(4) == 0 {
				l2 := l
				l2.Status = rummage.StatusAvailable
				out = append(out, query.Change{ID: l.ID, Version: 3, Doc: &l2})
			}
		}
	}
	ghost := v.catalog[len(v.catalog)-1]
	ghost.Brand = "Zara"
	out = append(out,
		query.Change{ID: "x-ghost-deleted", Version: 2, Delete: true},
		query.Change{ID: ghost.ID, Version: 2, Doc: &ghost},
		query.Change{ID: "x-never-held", Version: 5, Delete: true})
	return out
}

// engine is what the versus test asks both the embedded index and the
// reference alike.
type engine interface {
	Apply(context.Context, []query.Change) (query.ApplyStats, error)
	Load(context.Context, []string) ([]*rummage.Listing, error)
}

// both runs call on the embedded index, then on the reference, and returns
// their answers; an error of either fails the test.
func both[T any](v *versus, call func(engine) (T, error)) (emb, ref T) {
	v.t.Helper()
	emb, err := call(v.emb)
	if err != nil {
		v.t.Fatalf("embedded: %v", err)
	}
	if ref, err = call(v.ref); err != nil {
		v.t.Fatalf("reference: %v", err)
	}
	return emb, ref
}

// apply writes a batch to both and compares what they did.
func (v *versus) apply(batch []query.Change) {
	ctx := context.Background()
	a, b := both(v, func(e engine) (query.ApplyStats, error) { return e.Apply(ctx, batch) })
	if a != b {
		v.failf("apply of %d changes: embedded %+v, reference %+v", len(batch), a, b)
	}
	sa, _ := v.emb.Stats(ctx)
	sb, _ := v.ref.Stats(ctx)
	if sa != sb {
		v.failf("stats: embedded %+v, reference %+v", sa, sb)
	}
}

// collect gathers the values requests draw from, from what is held now.
func (v *versus) collect() {
	ctx := context.Background()
	ids := make([]string, len(v.catalog))
	for i := range v.catalog {
		ids[i] = v.catalog[i].ID
	}
	got, held := both(v, func(e engine) ([]*rummage.Listing, error) { return e.Load(ctx, ids) })
	seen := map[string]bool{}
	addTo := func(list *[]string, kind, s string) {
		if s != "" && !seen[kind+s] {
			seen[kind+s] = true
			*list = append(*list, s)
		}
	}
	for i, l := range held {
		if !sameDoc(l, got[i]) {
			v.failf("load %s: embedded %s, reference %s", ids[i], docJSON(got[i]), docJSON(l))
		}
		if l == nil {
			continue
		}
		v.held = append(v.held, l)
		addTo(&v.ids, "id:", l.ID)
		addTo(&v.sellers, "seller:", l.SellerID)
		addTo(&v.brands, "brand:", l.Brand)
		addTo(&v.sizes, "size:", l.Size)
		for _, c := range l.Colors {
			addTo(&v.colors, "color:", c)
		}
		if len(l.Category) > 0 && !seen["path:"+l.CategoryPath()] {
			seen["path:"+l.CategoryPath()] = true
			v.paths = append(v.paths, l.Category)
		}
		for _, w := range strings.Fields(l.Title + " " + l.Brand + " " + strings.Join(l.Tags, " ")) {
			addTo(&v.words, "word:", w)
		}
		if l.AvailableAt != nil && !seen["drop:"+l.AvailableAt.String()] {
			seen["drop:"+l.AvailableAt.String()] = true
			v.drops = append(v.drops, *l.AvailableAt)
		}
	}
	v.ids = append(v.ids, "l-unknown")
	v.sellers = append(v.sellers, "s-unknown")
}

func (v *versus) failf(format string, args ...any) {
	v.t.Helper()
	v.failures++
	if v.failures <= maxFailures {
		v.t.Errorf("seed %d: "+format, append([]any{v.seed}, args...)...)
	}
}

// one runs request i on both engines and compares the answers, page by
// page.
func (v *versus) one(i int) {
	req := v.request()
	desc := describe(req)
	ctx := context.Background()
	relevance := req.EffectiveSort() == query.SortRelevance
	var matches map[string]bool // the reference's whole match set, for relevance
	if relevance {
		matches = v.matchSet(req)
	}
	pages := 1 + v.r.IntN(3)
	v.stats.requests++
	if req.Query != "" {
		v.stats.text++
	}
	if len(req.Facets) > 0 {
		v.stats.facets++
	}
	if req.Restrict.Active() {
		v.stats.restricted++
	}
	ea, ra := *req, *req
	var eIDs, rIDs []string
	for p := 0; p < pages; p++ {
		e, err := conformance.Retrieve(ctx, v.emb, &ea)
		if err != nil {
			v.t.Fatalf("request %d %s: embedded: %v", i, desc, err)
		}
		r, err := conformance.Retrieve(ctx, v.ref, &ra)
		if err != nil {
			v.t.Fatalf("request %d %s: reference: %v", i, desc, err)
		}
		where := fmt.Sprintf("request %d page %d %s", i, p, desc)
		v.stats.pages++
		if p == 1 {
			v.stats.walked++
		}
		if p == 0 && req.Query != "" && r.Total > 0 {
			v.stats.textHits++
			v.matched[v.kind]++
		}
		if p == 0 && relevance && req.N >= r.Total && r.Total > 0 {
			v.stats.wholeSet++
		}
		if e.Total != r.Total {
			v.failf("%s: total embedded %d, reference %d", where, e.Total, r.Total)
			return
		}
		if !reflect.DeepEqual(e.Facets, r.Facets) {
			v.failf("%s: facets\n  embedded  %s\n  reference %s", where, facetsJSON(e.Facets), facetsJSON(r.Facets))
			return
		}
		if relevance {
			if !v.sameRelevance(where, &ea, e, r, matches, p == 0) {
				return
			}
			eIDs, rIDs = append(eIDs, conformance.IDs(e.Hits)...), append(rIDs, conformance.IDs(r.Hits)...)
		} else if !v.sameHits(where, &ea, e, r) {
			return
		}
		if !e.More || !r.More {
			if relevance && !e.More && !r.More {
				// Both walked every match: the same set, each once.
				if !sameSet(eIDs, rIDs) || len(eIDs) != len(matches) {
					v.failf("%s: walked %d embedded, %d reference ids of %d matches", where, len(eIDs), len(rIDs), len(matches))
				}
			}
			return
		}
		pe, pr := e.Hits[len(e.Hits)-1].Position(), r.Hits[len(r.Hits)-1].Position()
		ea.After, ra.After = &pe, &pr
	}
}

// sameHits compares a page of a key order: the same candidates in the same
// order with the same keys, signals and documents.
func (v *versus) sameHits(where string, req *query.Retrieval, e, r *query.Candidates) bool {
	if e.More != r.More {
		v.failf("%s: more embedded %v, reference %v", where, e.More, r.More)
		return false
	}
	if !slices.Equal(conformance.IDs(e.Hits), conformance.IDs(r.Hits)) {
		v.failf("%s: hits\n  embedded  %v\n  reference %v", where, conformance.IDs(e.Hits), conformance.IDs(r.Hits))
		return false
	}
	for k := range e.Hits {
		eh, rh := e.Hits[k], r.Hits[k]
		eh.Text, rh.Text = 0, 0 // text scores are engine-specific
		if eh.Key != rh.Key || eh.Score != rh.Score || eh.Signals != rh.Signals {
			v.failf("%s: hit %s\n  embedded  key %d %+v\n  reference key %d %+v", where, eh.ID, eh.Key, eh.Signals, rh.Key, rh.Signals)
			return false
		}
		if !v.sameDocAt(where, req, k, eh.Doc, rh.Doc) {
			return false
		}
	}
	return true
}

// sameRelevance compares a page of the relevance order, whose order is
// engine-specific: every embedded hit is a match; the pages have the same
// size; and when the first page holds every match, the same set.
func (v *versus) sameRelevance(where string, req *query.Retrieval, e, r *query.Candidates, matches map[string]bool, first bool) bool {
	// Both have walked as many candidates: as many remain.
	if len(e.Hits) != len(r.Hits) || e.More != r.More {
		v.failf("%s: %d hits embedded (more %v), %d reference (more %v)", where, len(e.Hits), e.More, len(r.Hits), r.More)
		return false
	}
	for k, h := range e.Hits {
		if !matches[h.ID] {
			v.failf("%s: embedded hit %s does not match per the reference", where, h.ID)
			return false
		}
		if h.Text <= 0 {
			v.failf("%s: embedded hit %s has text score %v", where, h.ID, h.Text)
			return false
		}
		if !v.sameDocAt(where, req, k, h.Doc, docOf(v.ref, h.ID, h.Doc != nil)) {
			return false
		}
	}
	if first && req.N >= r.Total {
		if !sameSet(conformance.IDs(e.Hits), conformance.IDs(r.Hits)) || e.More || r.More {
			v.failf("%s: hit sets\n  embedded  %v\n  reference %v", where, sortedIDs(e.Hits), sortedIDs(r.Hits))
			return false
		}
	}
	return true
}

// sameDocAt checks the document of hit k: whole for the first Docs hits,
// absent after.
func (v *versus) sameDocAt(where string, req *query.Retrieval, k int, e, r *rummage.Listing) bool {
	if (k < req.Docs) != (e != nil) || !sameDoc(e, r) {
		v.failf("%s: document of hit %d (Docs %d)\n  embedded  %s\n  reference %s", where, k, req.Docs, docJSON(e), docJSON(r))
		return false
	}
	return true
}

func docOf(e *reference.Engine, id string, want bool) *rummage.Listing {
	if !want {
		return nil
	}
	l, _ := e.Get(context.Background(), id)
	return l
}

// matchSet is every listing the reference answers req with, in any order.
func (v *versus) matchSet(req *query.Retrieval) map[string]bool {
	all := *req
	all.Sort, all.N, all.Docs, all.Facets, all.After = query.SortNewest, query.MaxCandidates, 0, nil, nil
	out := map[string]bool{}
	for {
		res, err := v.ref.Retrieve(context.Background(), &all)
		if err != nil {
			v.t.Fatal(err)
		}
		for _, h := range res.Hits {
			out[h.ID] = true
		}
		if !res.More {
			return out
		}
		p := res.Hits[len(res.Hits)-1].Position()
		all.After = &p
	}
}

// request draws a random valid retrieval.
func (v *versus) request() *query.Retrieval {
	r := v.r
	req := &query.Retrieval{Now: v.now(), N: v.n()}
	req.Docs = r.IntN(req.N + 1)
	if r.IntN(3) == 0 {
		req.Docs = 0
	}
	filterOneIn := 5
	if r.IntN(2) == 0 {
		req.Query = v.text()
		filterOneIn = 12 // text narrows enough
	}
	f := &req.Filters
	f.Brands = v.values(v.brands, filterOneIn)
	f.Sizes = v.values(v.sizes, filterOneIn)
	f.Colors = v.values(v.colors, filterOneIn)
	if r.IntN(8) == 0 {
		for range 1 + r.IntN(2) {
			f.Conditions = append(f.Conditions, randomCase(r, rummage.Conditions()[r.IntN(len(rummage.Conditions()))]))
		}
	}
	if r.IntN(filterOneIn) == 0 {
		p := v.paths[r.IntN(len(v.paths))]
		for _, s := range p[:1+r.IntN(len(p))] {
			f.Category = append(f.Category, randomCase(r, s))
		}
		if r.IntN(10) == 0 {
			f.Category = append(f.Category, "Nowhere")
		}
	}
	if r.IntN(6) == 0 {
		lo := int64(r.IntN(6)) * 2500
		f.PriceMin = &lo
	}
	if r.IntN(6) == 0 {
		hi := int64(r.IntN(8)+1) * 5000
		if r.IntN(3) == 0 {
			hi-- // just below a bucket edge
		}
		if f.PriceMin == nil || *f.PriceMin <= hi {
			f.PriceMax = &hi
		}
	}
	if r.IntN(2) == 0 {
		for _, k := range r.Perm(len(query.Facets()))[:1+r.IntN(len(query.Facets()))] {
			req.Facets = append(req.Facets, query.Facets()[k])
		}
		if r.IntN(2) == 0 {
			req.FacetLimit = 1 + r.IntN(12)
		}
	}
	sorts := append([]query.Sort{""}, query.Sorts()...)
	req.Sort = sorts[r.IntN(len(sorts))]
	if req.Query != "" && r.IntN(2) == 0 {
		req.Sort = sorts[r.IntN(2)] // relevance, by default or by name: the set is what is compared
	}
	if r.IntN(6) == 0 {
		rs := &req.Restrict
		rs.Include = r.IntN(4) > 0
		if rs.Include {
			rs.Sellers = v.pick(v.sellers, r.IntN(6))
			rs.IDs = v.pick(v.ids, r.IntN(40))
		}
		if r.IntN(2) == 0 {
			rs.ExcludeSellers = v.pick(v.sellers, 1+r.IntN(5))
		}
		if rs.Include && r.IntN(2) == 0 {
			v.feed(req)
		}
	}
	if err := req.Validate(); err != nil {
		v.t.Fatalf("random request is invalid: %v (%s)", err, describe(req))
	}
	return req
}

// now is the instant of a request: the base, a drop's instant or just
// before it, or some time around the base.
func (v *versus) now() time.Time {
	r := v.r
	switch k := r.IntN(6); {
	case k < 2 && len(v.drops) > 0:
		d := v.drops[r.IntN(len(v.drops))]
		if k == 1 {
			return d.Add(-time.Millisecond)
		}
		return d
	case k == 2:
		return versusNow.Add(-time.Duration(r.IntN(30*24)) * time.Hour)
	case k == 3:
		return versusNow.Add(time.Duration(r.Int64N(int64(8 * 24 * time.Hour))))
	}
	return versusNow
}

// n is a candidate count: mostly a page, sometimes a whole window.
func (v *versus) n() int {
	switch v.r.IntN(10) {
	case 0:
		return query.MaxCandidates
	case 1:
		return 1
	}
	return 1 + v.r.IntN(60)
}

// text is a random query: mostly words of one listing (its title, brand
// or tags, so that they match together), with typos, stop words, the
// brand's alias, punctuation and random case; sometimes words of several.
func (v *versus) text() string {
	r := v.r
	var words []string
	v.kind = ""
	if r.IntN(5) > 0 {
		l := v.held[r.IntN(len(v.held))]
		src := strings.Fields(l.Title)
		switch k := r.IntN(10); {
		case k == 0 && len(l.Tags) > 0:
			src = l.Tags
		case k == 1 && l.Brand != "":
			src = strings.Fields(l.Brand)
		}
		at := r.IntN(len(src))
		words = slices.Clone(src[at:min(len(src), at+1+r.IntN(3))])
		if r.IntN(4) == 0 {
			k := r.IntN(len(words))
			words[k] = typo(r, words[k])
			v.kind = "typo"
		}
		if as := v.aliasesOf[l.Brand]; len(as) > 0 && r.IntN(3) == 0 {
			words = append(words, as[r.IntN(len(as))])
			v.kind = "alias"
		}
	} else {
		for range 1 + r.IntN(3) {
			switch k := r.IntN(10); {
			case k < 5:
				words = append(words, v.words[r.IntN(len(v.words))])
			case k < 7:
				words = append(words, v.aliases[r.IntN(len(v.aliases))])
			case k < 8:
				words = append(words, []string{"a&f", "levi's", "runner's", "--", "y2k", "t-shirt"}[r.IntN(6)])
			case k < 9:
				words = append(words, typo(r, typo(r, v.words[r.IntN(len(v.words))])))
			default:
				words = append(words, "zzq"+string(rune('a'+r.IntN(26))))
			}
		}
	}
	if r.IntN(6) == 0 {
		stop := []string{"the", "and", "of", "a", "with", "in"}[r.IntN(6)]
		words = slices.Insert(words, r.IntN(len(words)+1), stop)
	}
	if r.IntN(20) == 0 {
		words = []string{"the", "of"}[:1+r.IntN(2)]
	}
	q := strings.Join(words, " ")
	if r.IntN(3) == 0 {
		q = randomCase(r, q)
	}
	if r.IntN(10) == 0 {
		q = "  " + strings.ReplaceAll(q, " ", "   ") + " "
	}
	if len(q) > query.MaxQueryBytes {
		q = q[:query.MaxQueryBytes]
	}
	return q
}

// values draws 0 (most often) to 3 filter values from list, in random case,
// sometimes one that no listing has.
func (v *versus) values(list []string, oneIn int) []string {
	r := v.r
	if len(list) == 0 || r.IntN(oneIn) != 0 {
		return nil
	}
	var out []string
	for range 1 + r.IntN(3) {
		s := list[r.IntN(len(list))]
		if r.IntN(2) == 0 {
			s = randomCase(r, s)
		}
		out = append(out, s)
	}
	if r.IntN(10) == 0 {
		out = append(out, "No Such Value")
	}
	return out
}

// feed makes req a feed retrieval (sort "feed"): each included id once,
// with a key (a share time, often tied) around the request's instant,
// sometimes a MinKey, and the ids in key order or, as a following feed
// hands them over, in no order.
func (v *versus) feed(req *query.Retrieval) {
	r, rs := v.r, &req.Restrict
	req.Sort, req.Query, req.Score = query.SortFeed, "", nil
	rs.IDs = slices.Compact(slices.Sorted(slices.Values(rs.IDs)))
	rs.IDKeys = make([]int64, len(rs.IDs))
	for i := range rs.IDKeys {
		rs.IDKeys[i] = req.Now.UnixMilli() - int64(r.IntN(20))*int64(time.Hour/time.Millisecond)
	}
	if r.IntN(2) == 0 {
		rs.MinKey = req.Now.Add(-time.Duration(r.IntN(20*24)) * time.Hour).UnixMilli()
	}
	if rs.Unordered = r.IntN(2) == 0; rs.Unordered {
		r.Shuffle(len(rs.IDs), func(i, j int) {
			rs.IDs[i], rs.IDs[j] = rs.IDs[j], rs.IDs[i]
			rs.IDKeys[i], rs.IDKeys[j] = rs.IDKeys[j], rs.IDKeys[i]
		})
	} else {
		rs.Unordered = true
		*rs = rs.InKeyOrder() // ordered, Unordered false
	}
	v.stats.feed++
}

func (v *versus) pick(list []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = list[v.r.IntN(len(list))]
	}
	return out
}

func randomCase(r *rand.Rand, s string) string {
	switch r.IntN(4) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToLower(s)
	}
	b := []rune(s)
	for i := range b {
		if r.IntN(2) == 0 {
			b[i] = unicode.ToUpper(b[i])
		} else {
			b[i] = unicode.ToLower(b[i])
		}
	}
	return string(b)
}

// typo makes one edit in w: a substitution, deletion, insertion or swap.
func typo(r *rand.Rand, w string) string {
	b := []rune(w)
	if len(b) < 2 {
		return w
	}
	i := r.IntN(len(b) - 1)
	letter := rune('a' + r.IntN(26))
	switch r.IntN(4) {
	case 0:
		b[i] = letter
	case 1:
		b = slices.Delete(b, i, i+1)
	case 2:
		b = slices.Insert(b, i, letter)
	default:
		b[i], b[i+1] = b[i+1], b[i]
	}
	return string(b)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sortedIDs(hits []query.Candidate) []string {
	ids := conformance.IDs(hits)
	slices.Sort(ids)
	return ids
}

func sameDoc(a, b *rummage.Listing) bool { return docJSON(a) == docJSON(b) }

func docJSON(l *rummage.Listing) string {
	if l == nil {
		return "nil"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func facetsJSON(f map[query.Facet][]query.FacetValue) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// describe spells a retrieval for a failure message.
func describe(r *query.Retrieval) string {
	c := *r
	c.Score = nil
	if len(c.Restrict.IDs) > 8 {
		c.Restrict.IDs = append(c.Restrict.IDs[:8:8], fmt.Sprintf("…%d more", len(r.Restrict.IDs)-8))
	}
	b, _ := json.Marshal(c)
	return string(b)
}
