package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/conformance"
	"github.com/rummage/rummage/query/embedded"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// open opens an index with cfg; without cfg.Aliases, with the shipped
// ones, as rummage serve does.
func open(t *testing.T, cfg embedded.Config) *embedded.Index {
	t.Helper()
	if cfg.Aliases == nil {
		cfg.Aliases = shippedAliases(t)
	}
	x, err := embedded.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func search(t *testing.T, b feed.Retriever, req query.Request) *feed.Page {
	t.Helper()
	if req.Now.IsZero() {
		req.Now = now
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := feed.NewSearch(b, feed.SearchConfig{}).Search(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hitIDs(res *feed.Page) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.ID
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	testkit.CheckValidate(t, []testkit.ValidateCase[*embedded.Config]{
		{Name: "ok", Cfg: &embedded.Config{Dir: "x"}, OK: true},
		{Name: "no dir", Cfg: &embedded.Config{}, OK: false},
		{Name: "negative refresh", Cfg: &embedded.Config{Dir: "x", RefreshInterval: -1}, OK: false},
		{Name: "negative batch", Cfg: &embedded.Config{Dir: "x", BulkBatch: -1}, OK: false},
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Open(context.Background(), embedded.Config{Dir: dir}); err == nil {
		t.Error("opened a non-empty directory that holds no index")
	}
	// An index built lean cannot serve the baseline.
	lean := t.TempDir()
	open(t, embedded.Config{Dir: lean}).Close()
	if _, err := embedded.Open(context.Background(), embedded.Config{Dir: lean, BaselineFacetFields: true}); err == nil {
		t.Error("opened a lean index with BaselineFacetFields")
	}
}

// TestAliases: the aliases given replace the shipped ones.
func TestAliases(t *testing.T) {
	x := open(t, embedded.Config{Dir: t.TempDir(), Aliases: query.Aliases{"fpx": "Free People"}})
	defer x.Close()
	if err := conformance.Load(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	res := search(t, x, query.Request{Query: "fpx dress"})
	if got := hitIDs(res); !slices.Equal(sortedIDs(got), []string{"l06", "l07"}) {
		t.Errorf("fpx dress = %v, want l06 l07", got)
	}
	// Only the aliases given expand.
	if res := search(t, x, query.Request{Query: "lulu"}); res.Total != 0 {
		t.Errorf("lulu found %v with a custom alias file", hitIDs(res))
	}
}

func sortedIDs(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestReopen: what a reopened index holds, answers and remembers (versions
// and tombstones) is what it held before, without reindexing.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	x := open(t, embedded.Config{Dir: dir})
	if err := conformance.Load(ctx, x); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Apply(ctx, []query.Change{{ID: "l04", Version: 5, Delete: true}, {ID: "ghost", Version: 9, Delete: true}}); err != nil {
		t.Fatal(err)
	}
	reqs := []query.Request{
		{Facets: query.Facets(), Limit: 100},
		{Query: "vintage", Facets: query.Facets()},
		{Query: "lululemom"},
		{Sort: query.SortRecentlyShared, Filters: query.Filters{Category: []string{"Women"}}},
	}
	var before []*feed.Page
	for _, r := range reqs {
		before = append(before, search(t, x, r))
	}
	stBefore, _ := x.Stats(ctx)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	var progress []embedded.Progress
	y := open(t, embedded.Config{Dir: dir, Progress: func(p embedded.Progress) { progress = append(progress, p) }})
	defer y.Close()
	if len(progress) == 0 || progress[len(progress)-1].Phase != "load" || progress[len(progress)-1].Done != progress[len(progress)-1].Total {
		t.Errorf("load progress = %+v", progress)
	}
	stAfter, _ := y.Stats(ctx)
	if stAfter != stBefore {
		t.Errorf("stats after reopen = %+v, want %+v", stAfter, stBefore)
	}
	for i, r := range reqs {
		after := search(t, y, r)
		if !slices.Equal(hitIDs(after), hitIDs(before[i])) || after.Total != before[i].Total || facetsString(after.Facets) != facetsString(before[i].Facets) {
			t.Errorf("request %d after reopen:\n got %d %v %v\nwant %d %v %v", i, after.Total, hitIDs(after), after.Facets, before[i].Total, hitIDs(before[i]), before[i].Facets)
		}
	}
	checkVersions(t, y)
}

// checkVersions: versions and tombstones written before survived.
func checkVersions(t *testing.T, b query.Backend) {
	t.Helper()
	ctx := context.Background()
	docs, _ := conformance.Listings()
	var l04, l01 rummage.Listing
	for _, d := range docs {
		switch d.ID {
		case "l04":
			l04 = d
		case "l01":
			l01 = d
		}
	}
	ghost := l01
	ghost.ID = "ghost"
	st, err := b.Apply(ctx, []query.Change{
		{ID: "l01", Version: conformance.Version - 1, Doc: &l01}, // below: stale
		{ID: "l04", Version: 4, Doc: &l04},                       // below its delete: stale
		{ID: "ghost", Version: 8, Doc: &ghost},                   // below its delete: stale
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Stale != 3 || st.Written != 0 {
		t.Errorf("stale writes after reopen: %+v, want 3 stale", st)
	}
	if _, err := b.Get(ctx, "l04"); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("get deleted l04: %v", err)
	}
}

// TestCrashDurability: a child process applies a batch and exits without
// closing the index; everything Apply returned for is there on reopen.
func TestCrashDurability(t *testing.T) {
	if dir := os.Getenv("RUMMAGE_CRASH_DIR"); dir != "" {
		x, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		if err := conformance.Load(context.Background(), x); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		if _, err := x.Apply(context.Background(), []query.Change{{ID: "l04", Version: 5, Delete: true}, {ID: "ghost", Version: 9, Delete: true}}); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		os.Exit(7) // no Close: as if killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$")
	cmd.Env = append(os.Environ(), "RUMMAGE_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	x := open(t, embedded.Config{Dir: dir})
	defer x.Close()
	st, _ := x.Stats(context.Background())
	if st.Documents != 24 {
		t.Errorf("documents after crash = %d, want 24", st.Documents)
	}
	checkVersions(t, x)
}

// TestConcurrency runs searches while writers change statuses, prices and
// deletes, with segment merges picked up by a fast refresh. Every result
// must be self-consistent: hits visible and matching the filters, totals
// equal to what a full page walk yields. Run with -race.
func TestConcurrency(t *testing.T) {
	ctx := context.Background()
	x := open(t, embedded.Config{Dir: t.TempDir(), RefreshInterval: 5 * time.Millisecond})
	defer x.Close()
	if err := conformance.Load(ctx, x); err != nil {
		t.Fatal(err)
	}
	docs, _ := conformance.Listings()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v := uint64(conformance.Version)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v++
			d := docs[i%len(docs)]
			d.PriceCents = int64(1000 + i%50*100)
			if i%3 == 0 {
				d.Status = rummage.StatusSold
			}
			ch := query.Change{ID: d.ID, Version: v, Doc: &d}
			if i%7 == 0 {
				ch = query.Change{ID: d.ID, Version: v, Delete: true}
			}
			if _, err := x.Apply(ctx, []query.Change{ch}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 150; i++ {
				req := query.Request{Now: now, Facets: query.Facets(), Limit: 100}
				if i%2 == 0 {
					req.Filters.Category = []string{"Women"}
					lo := int64(2000)
					req.Filters.PriceMin = &lo
				}
				if i%3 == 0 {
					req.Query = "vintage"
				}
				res, err := feed.NewSearch(x, feed.SearchConfig{}).Search(ctx, &req)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Total != len(res.Hits) {
					t.Errorf("total %d but %d hits on one page of 100", res.Total, len(res.Hits))
				}
				for _, h := range res.Hits {
					if !h.VisibleAt(now) {
						t.Errorf("hit %s is %s", h.ID, h.Status)
					}
					if req.Filters.PriceMin != nil && (h.PriceCents < 2000 || h.Category[0] != "Women") {
						t.Errorf("hit %s (%d, %v) does not match the filters", h.ID, h.PriceCents, h.Category)
					}
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 150; i++ {
		if _, err := x.Get(ctx, docs[i%len(docs)].ID); err != nil && !errors.Is(err, query.ErrNotFound) {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestBaselineAgrees: Bleve's facet builder, on the same documents, counts
// what Search counts where the two are defined alike (no filter, so
// disjunctive and plain facets coincide; category differs by design).
func TestBaselineAgrees(t *testing.T) {
	ctx := context.Background()
	x := open(t, embedded.Config{Dir: t.TempDir(), BaselineFacetFields: true})
	defer x.Close()
	if err := conformance.Load(ctx, x); err != nil {
		t.Fatal(err)
	}
	facets := []query.Facet{query.FacetBrand, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}
	for _, req := range []query.Request{
		{Facets: facets, Limit: 100},
		{Query: "vintage", Facets: facets, Sort: query.SortPriceAsc},
		{Query: "sneakers", Facets: facets, Now: now.Add(4 * time.Hour)},
		{Filters: query.Filters{Category: []string{"Women"}}, Facets: []query.Facet{query.FacetCondition}, Sort: query.SortNewest},
	} {
		if req.Now.IsZero() {
			req.Now = now
		}
		ours := search(t, x, req)
		r := feed.SearchRetrieval(&req, req.Now, nil)
		base, err := x.SearchBleveFacets(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if base.Total != ours.Total {
			t.Errorf("%+v: baseline total %d, ours %d", req, base.Total, ours.Total)
		}
		if req.Query == "" || req.Sort != "" {
			if got := conformance.IDs(base.Hits); !slices.Equal(got, hitIDs(ours)) {
				t.Errorf("%+v: baseline hits %v, ours %v", req, got, hitIDs(ours))
			}
		}
		for _, f := range req.Facets {
			if facetString(base.Facets[f]) != facetString(ours.Facets[f]) {
				t.Errorf("%+v: facet %s baseline %s, ours %s", req, f, facetString(base.Facets[f]), facetString(ours.Facets[f]))
			}
		}
	}
	lean := open(t, embedded.Config{Dir: t.TempDir()})
	defer lean.Close()
	if _, err := lean.SearchBleveFacets(ctx, &query.Retrieval{N: 1, Now: now}); !errors.Is(err, embedded.ErrNoBaseline) {
		t.Errorf("lean index baseline: %v", err)
	}
}

func facetString(vals []query.FacetValue) string {
	var sb strings.Builder
	for _, v := range vals {
		fmt.Fprintf(&sb, "%s%s", v.Value, v.Key)
		if v.From != nil {
			fmt.Fprintf(&sb, "[%d", *v.From)
		}
		if v.To != nil {
			fmt.Fprintf(&sb, ",%d)", *v.To)
		}
		fmt.Fprintf(&sb, ":%d ", v.Count)
	}
	return sb.String()
}

func facetsString(m map[query.Facet][]query.FacetValue) string {
	var sb strings.Builder
	for _, f := range query.Facets() {
		fmt.Fprintf(&sb, "%s=%s; ", f, facetString(m[f]))
	}
	return sb.String()
}

// TestSellerLists: a listing moves between its sellers' lists when its
// seller changes, and leaves them when it is deleted; restrictions to
// sellers follow.
func TestSellerLists(t *testing.T) {
	ctx := context.Background()
	x := open(t, embedded.Config{Dir: t.TempDir()})
	defer x.Close()
	mk := func(id, seller string) *rummage.Listing {
		return &rummage.Listing{ID: id, SellerID: seller, Title: "t " + id, Status: rummage.StatusAvailable, CreatedAt: now.Add(-time.Hour)}
	}
	apply := func(chs ...query.Change) {
		t.Helper()
		if _, err := x.Apply(ctx, chs); err != nil {
			t.Fatal(err)
		}
	}
	bySellers := func(sellers ...string) []string {
		t.Helper()
		res, err := x.Retrieve(ctx, &query.Retrieval{Now: now, N: 100, Sort: query.SortPriceAsc, Restrict: query.Restriction{Include: true, Sellers: sellers}})
		if err != nil {
			t.Fatal(err)
		}
		return conformance.IDs(res.Hits)
	}
	apply(query.Change{ID: "a", Version: 1, Doc: mk("a", "s1")}, query.Change{ID: "b", Version: 1, Doc: mk("b", "s1")}, query.Change{ID: "c", Version: 1, Doc: mk("c", "s2")})
	if got := bySellers("s1"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("s1 = %v", got)
	}
	apply(query.Change{ID: "a", Version: 2, Doc: mk("a", "s2")})
	if got, got2 := bySellers("s1"), bySellers("s2"); !slices.Equal(got, []string{"b"}) || !slices.Equal(got2, []string{"a", "c"}) {
		t.Fatalf("after a moves: s1 = %v, s2 = %v", got, got2)
	}
	apply(query.Change{ID: "c", Version: 2, Delete: true}, query.Change{ID: "b", Version: 2, Delete: true})
	if got, got2 := bySellers("s1"), bySellers("s2", "nobody"); len(got) != 0 || !slices.Equal(got2, []string{"a"}) {
		t.Fatalf("after deletes: s1 = %v, s2 = %v", got, got2)
	}
	res, err := x.Retrieve(ctx, &query.Retrieval{Now: now, N: 10, Restrict: query.Restriction{ExcludeSellers: []string{"s2"}}})
	if err != nil || res.Total != 0 {
		t.Fatalf("excluding s2: %v %+v", err, res)
	}
}
