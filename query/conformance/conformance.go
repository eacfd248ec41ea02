package conformance

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
)

//go:embed testdata/listings.jsonl testdata/cases.json testdata/scenarios.json
var testdata embed.FS

// Version is the version Load writes the documents with.
const Version = 1

// Listings returns the suite's documents.
func Listings() ([]rummage.Listing, error) {
	b, err := testdata.ReadFile("testdata/listings.jsonl")
	if err != nil {
		return nil, err
	}
	return rummage.DecodeAll(bytes.NewReader(b))
}

// Load applies the suite's documents to b at Version.
func Load(ctx context.Context, b query.Backend) error {
	docs, err := Listings()
	if err != nil {
		return err
	}
	batch := make([]query.Change, len(docs))
	for i := range docs {
		batch[i] = query.Change{ID: docs[i].ID, Version: Version, Doc: &docs[i]}
	}
	st, err := b.Apply(ctx, batch)
	if err != nil {
		return err
	}
	if st.Written != len(docs) || st.Stale != 0 {
		return fmt.Errorf("load: applied %+v, want %d written", st, len(docs))
	}
	return nil
}

// Request is a retrieval as the test data spells it: the parameters of
// GET /v1/search, and the restriction the feeds use.
type Request struct {
	query.Params
	Sort       string       `json:"sort,omitempty"`
	Limit      int          `json:"limit,omitempty"`
	Facets     []string     `json:"facets,omitempty"`
	FacetLimit int          `json:"facet_limit,omitempty"`
	Restrict   *Restriction `json:"restrict,omitempty"`
	Scope      *Scope       `json:"scope,omitempty"`
	Now        string       `json:"now,omitempty"`
}

// Restriction is query.Restriction as the test data spells it.
type Restriction struct {
	Sellers        []string `json:"sellers,omitempty"`
	IDs            []string `json:"ids,omitempty"`
	ExcludeSellers []string `json:"exclude_sellers,omitempty"`
	// Include false (with only exclude_sellers) applies the exclusion alone.
	Include *bool `json:"include,omitempty"`
	// IDKeys and MinKey are the keys of sort "feed" (query.Restriction).
	IDKeys []int64 `json:"id_keys,omitempty"`
	MinKey int64   `json:"min_key,omitempty"`
}

// Scope is query.Scope as the test data spells it.
type Scope struct {
	Q        string   `json:"q,omitempty"`
	Brand    []string `json:"brand,omitempty"`
	Category string   `json:"category,omitempty"`
	PriceMax *int64   `json:"price_max,omitempty"`
}

// Case is one search and what it must return. Empty expectations are not
// checked.
type Case struct {
	Name    string                        `json:"name"`
	Request Request                       `json:"request"`
	Total   *int                          `json:"total,omitempty"`
	IDs     []string                      `json:"ids,omitempty"`    // hits, in order
	IDSet   []string                      `json:"id_set,omitempty"` // hits, any order
	FirstIn []string                      `json:"first_in,omitempty"`
	Facets  map[string][]query.FacetValue `json:"facets,omitempty"`
	// Pages walks every page with the cursor; the hits of all pages must be
	// AllIDs in order (or, for relevance with q, IDSet in any order) with
	// no duplicate, and every page but the last must be full.
	Pages  bool     `json:"pages,omitempty"`
	AllIDs []string `json:"all_ids,omitempty"`
}

type caseFile struct {
	Now   time.Time `json:"now"`
	Cases []Case    `json:"cases"`
}

type change struct {
	ID      string         `json:"id"`
	Version uint64         `json:"version"`
	Delete  bool           `json:"delete"`
	Base    string         `json:"base"`
	Set     map[string]any `json:"set"`
}

type step struct {
	Apply    []change                      `json:"apply"`
	Written  int                           `json:"written"`
	Stale    int                           `json:"stale"`
	Get      string                        `json:"get"`
	Title    string                        `json:"title"`
	Status   string                        `json:"status"`
	NotFound bool                          `json:"not_found"`
	Search   *Request                      `json:"search"`
	IDs      []string                      `json:"ids"`
	IDSet    []string                      `json:"id_set"`
	Total    *int                          `json:"total"`
	Facets   map[string][]query.FacetValue `json:"facets"`
	Stats    *int64                        `json:"stats"`
}

type scenarioFile struct {
	Note      string `json:"note"`
	Scenarios []struct {
		Name  string `json:"name"`
		Steps []step `json:"steps"`
	} `json:"scenarios"`
}

// mustLoad loads the suite's documents into b, failing the test if it
// cannot.
func mustLoad(t testing.TB, ctx context.Context, b query.Backend) {
	t.Helper()
	if err := Load(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// loadedWith returns b as the optional capability T, holding the suite's
// documents, or skips the test (saying why) when b lacks T.
func loadedWith[T any](t *testing.T, b query.Backend, why string) T {
	t.Helper()
	v, ok := b.(T)
	if !ok {
		t.Skip(why)
	}
	mustLoad(t, context.Background(), b)
	return v
}

// mustCases reads the search cases (CasesFile).
func mustCases(t testing.TB) *caseFile {
	t.Helper()
	var cf caseFile
	if err := readJSON(CasesFile, &cf); err != nil {
		t.Fatal(err)
	}
	return &cf
}

func readJSON(name string, v any) error {
	b, err := testdata.ReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// DefaultLimit is the page size of a case without a limit.
const DefaultLimit = query.DefaultLimit

// Retrieve runs r on b with the shipped relevance blend as its first phase,
// as the search surface does.
func Retrieve(ctx context.Context, b query.Retriever, r *query.Retrieval) (*query.Candidates, error) {
	if r.EffectiveSort() == query.SortRelevance {
		r.Score = ranking.Blend{NowMs: r.Now.UnixMilli()}
	}
	return b.Retrieve(ctx, r)
}

// Run runs the whole suite. open returns a new, empty backend each time it
// is called (the suite calls it once for the search cases and once per write
// scenario) and arranges its cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) query.Backend) {
	t.Run("search", func(t *testing.T) { RunSearch(t, open(t)) })
	t.Run("write", func(t *testing.T) { RunWrites(t, open) })
	t.Run("drops", func(t *testing.T) { RunDrops(t, open(t)) })
	t.Run("counters", func(t *testing.T) { RunCounters(t, open(t)) })
}

// RunCounters checks a backend's CounterWriter (when it has one): counters
// land on the listing and in the recently_shared order, every other field
// and the version stay, an unknown id is skipped, and a replay is harmless.
func RunCounters(t *testing.T, b query.Backend) {
	cw := loadedWith[query.CounterWriter](t, b, "the backend keeps no counters of its own")
	ctx := context.Background()
	docs, err := Listings()
	if err != nil {
		t.Fatal(err)
	}
	target := docs[len(docs)-1]
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC) // after every share of the suite's listings
	cs := []query.Counters{{ID: target.ID, Likes: 4242, Shares: 77, LastSharedAt: &at}, {ID: "never-seen", Likes: 1}}
	for range 2 { // the second time is a replay
		if err := cw.ApplyCounters(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Get(ctx, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := target
	cs[0].Set(&want)
	if g, w := fmt.Sprintf("%+v", *got), fmt.Sprintf("%+v", want); g != w {
		t.Errorf("after ApplyCounters\n got %s\nwant %s", g, w)
	}
	if _, err := b.Get(ctx, "never-seen"); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("Get(never-seen) = %v, want ErrNotFound: counters of an unknown id create nothing", err)
	}
	// the version held is the listing's own: a change below it is stale
	old := want
	old.Title = "stale title"
	if st, err := b.Apply(ctx, []query.Change{{ID: target.ID, Version: Version - 1, Doc: &old}}); err != nil || st.Stale != 1 {
		t.Errorf("apply below the held version: %+v, %v; want stale", st, err)
	}
	if target.Status == rummage.StatusAvailable && (target.AvailableAt == nil || target.AvailableAt.Before(at)) {
		res, err := Retrieve(ctx, b, &query.Retrieval{Sort: query.SortRecentlyShared, N: 1, Now: at})
		if err != nil {
			t.Fatal(err)
		}
		if ids := IDs(res.Hits); len(ids) != 1 || ids[0] != target.ID {
			t.Errorf("recently_shared first = %v, want %s", ids, target.ID)
		}
	}
}

// RunDrops checks the drops a backend lists (when it lists them): the
// suite's one future drop, counted with its brand, and none once it is out.
func RunDrops(t *testing.T, b query.Backend) {
	dl := loadedWith[query.DropLister](t, b, "the backend lists no drops")
	ctx := context.Background()
	cf := mustCases(t)
	ds, err := dl.Drops(ctx, &query.DropsRequest{From: cf.Now, To: cf.Now.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2025, 6, 1, 15, 0, 0, 0, time.UTC)
	if len(ds) != 1 || !ds[0].At.Equal(want) || ds[0].Count != 1 || len(ds[0].Brands) != 1 || ds[0].Brands[0] != (query.FacetValue{Value: "Nike", Count: 1}) {
		t.Errorf("drops = %+v, want one at %s: Nike 1", ds, want)
	}
	ds, err = dl.Drops(ctx, &query.DropsRequest{From: cf.Now, To: cf.Now.Add(30 * 24 * time.Hour), ExcludeSellers: []string{"s19"}})
	if err != nil || len(ds) != 0 {
		t.Errorf("drops without the drop's seller = %+v, %v; want none", ds, err)
	}
	ds, err = dl.Drops(ctx, &query.DropsRequest{From: want, To: want.Add(time.Hour)})
	if err != nil || len(ds) != 0 {
		t.Errorf("drops once it is out = %+v, %v; want none", ds, err)
	}
}

// RunSearch loads the documents into b and runs every case of cases.json.
func RunSearch(t *testing.T, b query.Backend) {
	ctx := context.Background()
	cf := mustCases(t)
	mustLoad(t, ctx, b)
	for _, c := range cf.Cases {
		t.Run(c.Name, func(t *testing.T) {
			req := c.Request.Build(t, cf.Now)
			res, err := Retrieve(ctx, b, req)
			if err != nil {
				t.Fatalf("retrieve: %v", err)
			}
			set := c.IDSet
			if c.Pages {
				set = nil // the walk checks the set over all pages
			}
			checkResult(t, res, c.Total, c.IDs, set)
			if len(c.FirstIn) > 0 && (len(res.Hits) == 0 || !slices.Contains(c.FirstIn, res.Hits[0].ID)) {
				t.Errorf("first hit %v, want one of %v", IDs(res.Hits), c.FirstIn)
			}
			checkFacets(t, req, res, c.Facets)
			if c.Pages {
				walk(t, b, req, c)
			}
		})
	}
}

// Build turns the test data's request into a validated retrieval of one
// page (N = the limit), documents included, evaluated at now unless the
// request says otherwise.
func (r *Request) Build(t testing.TB, now time.Time) *query.Retrieval {
	t.Helper()
	limit := r.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	req := &query.Retrieval{
		Query:      r.Q,
		Filters:    r.Params.Filters(),
		Sort:       query.Sort(r.Sort),
		N:          limit,
		Docs:       limit,
		FacetLimit: r.FacetLimit,
		Now:        now,
	}
	if rs := r.Restrict; rs != nil {
		req.Restrict = query.Restriction{Include: rs.Include == nil || *rs.Include, Sellers: rs.Sellers, IDs: rs.IDs,
			IDKeys: rs.IDKeys, MinKey: rs.MinKey, ExcludeSellers: rs.ExcludeSellers}
	}
	if sc := r.Scope; sc != nil {
		req.Scope = &query.Scope{Query: sc.Q, Filters: query.Filters{Brands: sc.Brand, PriceMax: sc.PriceMax}}
		if sc.Category != "" {
			req.Scope.Filters.Category = strings.Split(sc.Category, "/")
		}
	}
	for _, f := range r.Facets {
		req.Facets = append(req.Facets, query.Facet(f))
	}
	if r.Now != "" {
		n, err := time.Parse(time.RFC3339, r.Now)
		if err != nil {
			t.Fatalf("bad now %q: %v", r.Now, err)
		}
		req.Now = n
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("test request is invalid: %v", err)
	}
	return req
}

// IDs are the ids of candidates, in order.
func IDs(hits []query.Candidate) []string {
	out := make([]string, len(hits))
	for i := range hits {
		out[i] = hits[i].ID
	}
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func checkResult(t *testing.T, res *query.Candidates, total *int, want, wantSet []string) {
	t.Helper()
	got := IDs(res.Hits)
	if total != nil && res.Total != *total {
		t.Errorf("total = %d, want %d (hits %v)", res.Total, *total, got)
	}
	if want != nil && !slices.Equal(got, want) {
		t.Errorf("hits = %v, want %v", got, want)
	}
	if wantSet != nil && !slices.Equal(sorted(got), sorted(wantSet)) {
		t.Errorf("hit set = %v, want %v", sorted(got), sorted(wantSet))
	}
	for _, h := range res.Hits {
		if h.Doc == nil || h.Doc.ID != h.ID || h.Doc.Title == "" || h.Doc.SellerID == "" {
			t.Errorf("hit %s has no whole listing: %+v", h.ID, h.Doc)
		}
		if h.Doc != nil && h.Seller != h.Doc.SellerID {
			t.Errorf("hit %s: signals seller %q, listing seller %q", h.ID, h.Seller, h.Doc.SellerID)
		}
	}
}

func checkFacets(t *testing.T, req *query.Retrieval, res *query.Candidates, want map[string][]query.FacetValue) {
	t.Helper()
	for _, f := range req.Facets {
		if _, ok := res.Facets[f]; !ok {
			t.Errorf("facet %s asked for but missing", f)
		}
	}
	for name, w := range want {
		got := res.Facets[query.Facet(name)]
		if !facetsEqual(got, w) {
			t.Errorf("facet %s =\n  %s\nwant\n  %s", name, facetString(got), facetString(w))
		}
	}
}

func facetsEqual(a, b []query.FacetValue) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	for i := range a {
		if a[i].Value != b[i].Value || a[i].Key != b[i].Key || a[i].Count != b[i].Count ||
			!eq(a[i].From, b[i].From) || !eq(a[i].To, b[i].To) {
			return false
		}
	}
	return true
}

func facetString(v []query.FacetValue) string {
	var sb strings.Builder
	for i, x := range v {
		if i > 0 {
			sb.WriteString(", ")
		}
		name := x.Value
		if x.Key != "" {
			name = x.Key
			if x.From != nil {
				name += fmt.Sprintf("[%d", *x.From)
			}
			if x.To != nil {
				name += fmt.Sprintf(",%d)", *x.To)
			}
		}
		fmt.Fprintf(&sb, "%s:%d", name, x.Count)
	}
	return "[" + sb.String() + "]"
}

// walk pages through a result and checks that the pages hold c.AllIDs in
// order (relevance: c.IDSet in any order).
func walk(t *testing.T, b query.Retriever, first *query.Retrieval, c Case) {
	t.Helper()
	got := pages(t, b, first)
	if first.EffectiveSort() == query.SortRelevance {
		if !slices.Equal(sorted(got), sorted(c.IDSet)) {
			t.Errorf("pages hold %v, want %v", sorted(got), sorted(c.IDSet))
		}
		return
	}
	if !slices.Equal(got, c.AllIDs) {
		t.Errorf("pages hold %v, want %v", got, c.AllIDs)
	}
}

// pages returns the ids of every page of a result, each page starting after
// the last candidate of the one before; no id may repeat, and every page
// but the last must be full.
func pages(t testing.TB, b query.Retriever, first *query.Retrieval) []string {
	t.Helper()
	ctx := context.Background()
	req := *first
	var got []string
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("more than 100 pages")
		}
		res, err := Retrieve(ctx, b, &req)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		for _, id := range IDs(res.Hits) {
			if seen[id] {
				t.Errorf("page %d repeats %s", page, id)
			}
			seen[id] = true
			got = append(got, id)
		}
		if !res.More {
			return got
		}
		if len(res.Hits) != req.N {
			t.Errorf("page %d has %d hits and more to come, want %d", page, len(res.Hits), req.N)
		}
		if len(res.Hits) == 0 {
			t.Fatalf("page %d is empty but says more follow", page)
		}
		pos := res.Hits[len(res.Hits)-1].Position()
		req.After = &pos
	}
}

// RunWrites runs every scenario of scenarios.json, each on a new backend
// holding the documents at Version.
func RunWrites(t *testing.T, open func(t *testing.T) query.Backend) {
	var sf scenarioFile
	if err := readJSON("testdata/scenarios.json", &sf); err != nil {
		t.Fatal(err)
	}
	cf := mustCases(t)
	docs, err := Listings()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]rummage.Listing{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	for _, sc := range sf.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			mustLoad(t, ctx, b)
			for i, s := range sc.Steps {
				runStep(t, ctx, b, i, &s, byID, cf.Now)
			}
		})
	}
}

func runStep(t *testing.T, ctx context.Context, b query.Backend, i int, s *step, byID map[string]rummage.Listing, now time.Time) {
	t.Helper()
	switch {
	case s.Apply != nil:
		batch := make([]query.Change, len(s.Apply))
		for j, c := range s.Apply {
			batch[j] = query.Change{ID: c.ID, Version: c.Version, Delete: c.Delete}
			if !c.Delete {
				batch[j].Doc = patched(t, byID, c)
			}
		}
		st, err := b.Apply(ctx, batch)
		if err != nil {
			t.Fatalf("step %d: apply: %v", i, err)
		}
		if st.Written != s.Written || st.Stale != s.Stale {
			t.Errorf("step %d: apply = %+v, want written %d stale %d", i, st, s.Written, s.Stale)
		}
	case s.Get != "":
		l, err := b.Get(ctx, s.Get)
		if s.NotFound {
			if !errors.Is(err, query.ErrNotFound) {
				t.Errorf("step %d: get %s = %v, %v; want ErrNotFound", i, s.Get, l, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("step %d: get %s: %v", i, s.Get, err)
		}
		if l.ID != s.Get || (s.Title != "" && l.Title != s.Title) || (s.Status != "" && l.Status != s.Status) {
			t.Errorf("step %d: get %s = {id %s title %q status %s}, want title %q status %q", i, s.Get, l.ID, l.Title, l.Status, s.Title, s.Status)
		}
	case s.Search != nil:
		req := s.Search.Build(t, now)
		res, err := Retrieve(ctx, b, req)
		if err != nil {
			t.Fatalf("step %d: retrieve: %v", i, err)
		}
		checkResult(t, res, s.Total, s.IDs, s.IDSet)
		checkFacets(t, req, res, s.Facets)
	case s.Stats != nil:
		st, err := b.Stats(ctx)
		if err != nil {
			t.Fatalf("step %d: stats: %v", i, err)
		}
		if st.Documents != *s.Stats {
			t.Errorf("step %d: stats documents = %d, want %d", i, st.Documents, *s.Stats)
		}
	default:
		t.Fatalf("step %d: empty step", i)
	}
}

// patched is the listing of c.Base (or c.ID) with c.Set applied and id c.ID.
func patched(t *testing.T, byID map[string]rummage.Listing, c change) *rummage.Listing {
	t.Helper()
	base := c.Base
	if base == "" {
		base = c.ID
	}
	l, ok := byID[base]
	if !ok {
		t.Fatalf("change %s: no document %s to start from", c.ID, base)
	}
	b, _ := json.Marshal(l)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range c.Set {
		m[k] = v
	}
	m["id"] = c.ID
	b, _ = json.Marshal(m)
	var out rummage.Listing
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("change %s: %v", c.ID, err)
	}
	out.Normalize()
	if err := out.Validate(); err != nil {
		t.Fatalf("change %s: %v", c.ID, err)
	}
	return &out
}
