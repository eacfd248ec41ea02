package embedded

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
)

// Benchmarks run on a corpus of fixtures.Generator listings, built once and
// kept in the temp directory for later runs:
//
//	go test ./query/embedded -run '^$' -bench . -benchtime 200x -corpus 200000
var corpusSize = flag.Int("corpus", 50000, "listings in the benchmark corpus")

// corpusDir, when set, is an existing index (of any size, with or without
// baseline facet fields) to benchmark instead of the generated corpus:
//
//	go test ./query/embedded -run '^$' -bench '^BenchmarkSearch$' -corpusdir /path/to/1M-index
var corpusDir = flag.String("corpusdir", "", "existing index to benchmark searches on (not built)")

var benchNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

var (
	corpusOnce sync.Once
	corpusIdx  *Index
	corpusErr  error
)

// corpus opens (building on first use) the benchmark index, with baseline
// facet fields so the Bleve baseline runs on the same documents.
func corpus(b *testing.B) *Index {
	b.Helper()
	corpusOnce.Do(func() {
		if *corpusDir != "" {
			corpusIdx, corpusErr = Open(context.Background(), Config{Dir: *corpusDir})
			return
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("rummage-embedded-bench-%d", *corpusSize))
		_, statErr := os.Stat(filepath.Join(dir, metaFile))
		corpusIdx, corpusErr = Open(context.Background(), Config{Dir: dir, BaselineFacetFields: true})
		if corpusErr != nil || statErr == nil {
			return
		}
		start := time.Now()
		g, err := fixtures.NewGenerator(fixtures.Options{Seed: 1, Now: benchNow, Count: *corpusSize})
		if err != nil {
			corpusErr = err
			return
		}
		_, corpusErr = corpusIdx.Bulk(context.Background(), generated(g))
		b.Logf("built %d listings (with baseline fields) in %v", *corpusSize, time.Since(start))
	})
	if corpusErr != nil {
		b.Fatal(corpusErr)
	}
	return corpusIdx
}

func generated(g *fixtures.Generator) func() (query.Change, error) {
	return func() (query.Change, error) {
		l, ok := g.Next()
		if !ok {
			return query.Change{}, io.EOF
		}
		return query.Change{ID: l.ID, Version: 1, Doc: &l}, nil
	}
}

var allFacets = []query.Facet{query.FacetBrand, query.FacetCategory, query.FacetSize, query.FacetCondition, query.FacetColor, query.FacetPrice}

func benchRequests(b *testing.B) map[string]*query.Request {
	small, _, err := fixtures.CategoryNear(0.01)
	if err != nil {
		b.Fatal(err)
	}
	big, _, err := fixtures.CategoryNear(0.2)
	if err != nil {
		b.Fatal(err)
	}
	req := func(r query.Request) *query.Request {
		r.Now = benchNow
		if r.Facets == nil {
			r.Facets = allFacets
		}
		return &r
	}
	return map[string]*query.Request{
		"Text":          req(query.Request{Query: "nike sneakers"}),
		"TextTypo":      req(query.Request{Query: "lululemom leggings"}),
		"TextFilters":   req(query.Request{Query: "floral dress", Filters: query.Filters{Sizes: []string{"M", "S"}, Conditions: []string{"good", "like_new"}}}),
		"CategorySmall": req(query.Request{Filters: query.Filters{Category: small}}),
		"CategoryBig":   req(query.Request{Filters: query.Filters{Category: big}}),
		"MatchAll":      req(query.Request{}),
		"SortPriceAsc":  req(query.Request{Sort: query.SortPriceAsc, Facets: []query.Facet{}}),
		"SortShared":    req(query.Request{Sort: query.SortRecentlyShared, Facets: []query.Facet{}}),
		"SortNewest":    req(query.Request{Sort: query.SortNewest, Facets: []query.Facet{}}),
		"TextRelevance": req(query.Request{Query: "vintage", Facets: []query.Facet{}}),
	}
}

func BenchmarkSearch(b *testing.B) {
	x := corpus(b)
	ctx := context.Background()
	search := feed.NewSearch(x, feed.SearchConfig{})
	benchEachRequest(b, func(req *query.Request) (int, error) {
		res, err := search.Search(ctx, req)
		if err != nil {
			return 0, err
		}
		return res.Total, nil
	})
}

func BenchmarkSearchBleveFacets(b *testing.B) {
	x := corpus(b)
	ctx := context.Background()
	benchEachRequest(b, func(req *query.Request) (int, error) {
		r := feed.SearchRetrieval(req, req.Now, nil)
		r.Docs = r.N
		res, err := x.SearchBleveFacets(ctx, r)
		if err != nil {
			return 0, err
		}
		return res.Total, nil
	})
}

// benchEachRequest runs search on each of benchRequests as a sub-benchmark
// and reports the hits it counts.
func benchEachRequest(b *testing.B, search func(*query.Request) (total int, err error)) {
	for name, req := range benchRequests(b) {
		b.Run(name, func(b *testing.B) {
			var total int
			for b.Loop() {
				n, err := search(req)
				if err != nil {
					b.Fatal(err)
				}
				total = n
			}
			b.ReportMetric(float64(total), "hits")
		})
	}
}

// BenchmarkHitMapping compares ways of turning a text query into ordinals:
// matchText (postings bitmaps per segment, then the segment ordinal maps),
// Bleve's Searcher with the segment ordinal maps, and Bleve's Searcher with
// ExternalID plus a map lookup per hit.
func BenchmarkHitMapping(b *testing.B) {
	x := corpus(b)
	ctx := context.Background()
	for _, q := range []string{"black", "nike sneakers"} {
		x.mu.RLock()
		bleveQ, _ := x.bleveQuery(q, x.snap)
		clauses, _, err := x.planText(q, x.snap)
		x.mu.RUnlock()
		if err != nil {
			b.Fatal(err)
		}
		run := func(name string, f func() (*textHits, error)) {
			b.Run(name+"/"+q, func(b *testing.B) {
				var n int
				for b.Loop() {
					x.mu.RLock()
					h, err := f()
					x.mu.RUnlock()
					if err != nil {
						b.Fatal(err)
					}
					n = len(h.ords)
				}
				b.ReportMetric(float64(n), "hits")
			})
		}
		run("Bitmaps", func() (*textHits, error) { return x.matchText(ctx, x.snap, x.segs, clauses, true) })
		run("SearcherSegmentMaps", func() (*textHits, error) { return x.matchSearcher(ctx, x.snap, x.segs, bleveQ) })
		run("SearcherExternalID", func() (*textHits, error) { return x.matchExternalID(ctx, x.snap, bleveQ) })
	}
}

var bulkSize = flag.Int("bulk", 50000, "listings BenchmarkBulk indexes")

// BenchmarkBulk builds a fresh index of -bulk generated listings (generated
// up front, not timed) and reports listings/s.
func BenchmarkBulk(b *testing.B) {
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: 2, Now: benchNow, Count: *bulkSize})
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]query.Change, 0, *bulkSize)
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		docs = append(docs, query.Change{ID: l.ID, Version: 1, Doc: &l})
	}
	for _, baseline := range []bool{false, true} {
		b.Run(fmt.Sprintf("baseline=%v", baseline), func(b *testing.B) {
			for b.Loop() {
				x, err := Open(context.Background(), Config{Dir: b.TempDir(), BaselineFacetFields: baseline})
				if err != nil {
					b.Fatal(err)
				}
				i := 0
				start := time.Now()
				_, err = x.Bulk(context.Background(), func() (query.Change, error) {
					if i == len(docs) {
						return query.Change{}, io.EOF
					}
					i++
					return docs[i-1], nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(docs))/time.Since(start).Seconds(), "listings/s")
				x.Close()
			}
		})
	}
}
