package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/golden"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/ranking"
)

// -update (internal/golden) rewrites the golden rankings and
// testdata/rank_stats.txt.
var acceptDrop = flag.Bool("accept-drop", false, "with -update: pin mean figures lower than the committed ones")

// The fixed catalog: the generator's at a fixed seed, size and instant,
// searched a day and a half later, so that the drops of those 36 hours are
// released (and rank as fresh) while the week's later ones stay hidden.
const (
	catalogSeed  = 1
	catalogCount = 20000
)

var (
	catalogNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	searchNow  = catalogNow.Add(36 * time.Hour)
)

// topK is how many hits each query is judged on (one page).
const topK = 10

// epsilon absorbs float noise when a mean is compared with its committed
// figure (written with 6 decimals).
const epsilon = 1e-5

// TestRanking runs every judged query of testdata/rank_queries.txt through
// the search surface, compares its top 10 with testdata/rankings/<query>.txt
// and the metrics with testdata/rank_stats.txt.
func TestRanking(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "rank_queries.txt"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := parseQueries(f)
	f.Close()
	if err != nil {
		t.Fatalf("rank_queries.txt: %v", err)
	}

	ctx := context.Background()
	c := catalog(t)
	s := feed.NewSearch(c.index, feed.SearchConfig{Aliases: c.aliases})

	checkGoldenSet(t, queries)
	var stats []queryStats
	for _, q := range queries {
		t.Run(goldenName(q.Query), func(t *testing.T) {
			page, err := s.Search(ctx, &query.Request{Query: q.Query, Sort: query.SortRelevance, Limit: topK, Now: searchNow})
			if err != nil {
				t.Fatal(err)
			}
			st := queryStats{Query: q.Query}
			var ideal []int
			for i := range c.visible {
				if g := q.grade(&c.visible[i], searchNow); g > 0 {
					ideal = append(ideal, g)
				}
			}
			st.Relevant = len(ideal)
			if st.Relevant == 0 {
				t.Fatalf("line %d: no listing of the catalog meets a rule of %q: fix the judgment", q.Line, q.Query)
			}
			got := make([]int, len(page.Hits))
			for i := range page.Hits {
				l := &page.Hits[i].Listing
				if !l.VisibleAt(searchNow) {
					t.Errorf("rank %d: %s is not visible at %s (status %s)", i+1, l.ID, searchNow.Format(time.RFC3339), l.Status)
				}
				got[i] = q.grade(l, searchNow)
			}
			st.Recall1, st.Recall5 = recallAt(1, got, st.Relevant), recallAt(5, got, st.Relevant)
			st.RR, st.NDCG = reciprocalRank(got), ndcgAt(topK, got, ideal)
			stats = append(stats, st)
			golden.Check(t, filepath.Join("testdata", "rankings", goldenName(q.Query)+".txt"), renderRanking(&q, page, got, &st))
		})
	}

	t.Run("rank_stats", func(t *testing.T) {
		if len(stats) != len(queries) {
			t.Skip("not every query ran")
		}
		checkStats(t, renderStats(stats))
	})
}

// checkGoldenSet: every query has a file name of its own, and every file
// of testdata/rankings belongs to a query (-update removes the others).
func checkGoldenSet(t *testing.T, queries []judgedQuery) {
	t.Helper()
	want := map[string]string{}
	for _, q := range queries {
		name := goldenName(q.Query) + ".txt"
		if other, ok := want[name]; ok {
			t.Fatalf("queries %q and %q share the golden file %s", other, q.Query, name)
		}
		want[name] = q.Query
	}
	dir := filepath.Join("testdata", "rankings")
	files, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := want[f.Name()]; ok {
			continue
		}
		if !golden.Updating() {
			t.Errorf("%s belongs to no query of rank_queries.txt (-update removes it)", filepath.Join(dir, f.Name()))
		} else if err := os.Remove(filepath.Join(dir, f.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// fixedCatalog is the fixed catalog, indexed: built once per test binary
// (catalog), removed by TestMain.
type fixedCatalog struct {
	index   *embedded.Index
	aliases query.Aliases // the shipped ones, as serve wires them
	// visible are the listings shoppers may see at searchNow: the judged
	// universe the ideal ranking is drawn from.
	visible []rummage.Listing
	dir     string
}

var shared struct {
	once sync.Once
	c    *fixedCatalog
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if c := shared.c; c != nil {
		if err := c.index.Close(); err != nil && code == 0 {
			fmt.Fprintln(os.Stderr, "closing the catalog index:", err)
			code = 1
		}
		os.RemoveAll(c.dir)
	}
	os.Exit(code)
}

// catalog returns the fixed catalog, building it on first use.
func catalog(t *testing.T) *fixedCatalog {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = buildCatalog(context.Background()) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// buildCatalog indexes the generator's listings, then the hand-written
// ones of testdata/extra_listings.jsonl, into a temporary embedded index.
func buildCatalog(ctx context.Context) (_ *fixedCatalog, err error) {
	extra, err := extraListings()
	if err != nil {
		return nil, fmt.Errorf("extra_listings.jsonl: %w", err)
	}
	aliases, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		return nil, err
	}
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: catalogSeed, Now: catalogNow, Count: catalogCount})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rummage-rank-")
	if err != nil {
		return nil, err
	}
	x, err := embedded.Open(ctx, embedded.Config{Dir: dir, Aliases: aliases})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			x.Close()
			os.RemoveAll(dir)
		}
	}()
	var visible []rummage.Listing
	st, err := x.Bulk(ctx, func() (query.Change, error) {
		l, ok := g.Next()
		if !ok {
			if len(extra) == 0 {
				return query.Change{}, io.EOF
			}
			l, extra = extra[0], extra[1:]
		}
		if l.VisibleAt(searchNow) {
			visible = append(visible, l)
		}
		return query.Change{ID: l.ID, Version: 1, Doc: &l}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing the catalog: %w", err)
	}
	if want := catalogCount + extraCount; st.Written != want {
		return nil, fmt.Errorf("indexed %+v, want %d written", st, want)
	}
	return &fixedCatalog{index: x, aliases: aliases, visible: visible, dir: dir}, nil
}

// extraCount is the number of hand-written listings, pinned so that the
// summary's header stays true.
const extraCount = 6

func extraListings() ([]rummage.Listing, error) {
	f, err := os.Open(filepath.Join("testdata", "extra_listings.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := rummage.DecodeAll(f)
	if err != nil {
		return nil, err
	}
	if len(out) != extraCount {
		return nil, fmt.Errorf("%d listings, want extraCount = %d", len(out), extraCount)
	}
	return out, nil
}

// queryStats are the metrics of one query.
type queryStats struct {
	Query                      string
	Relevant                   int
	Recall1, Recall5, RR, NDCG float64
}

// goldenName turns a query into a file name: "tnf jacket" → "tnf_jacket".
func goldenName(q string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ':
			return '_'
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-':
			return r
		}
		return -1
	}, q)
}

// renderRanking is the golden file of one query: the judgment, the
// metrics, and the top 10 as a table.
func renderRanking(q *judgedQuery, page *feed.Page, got []int, st *queryStats) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "query: %s\n", q.Query)
	if q.Why != "" {
		fmt.Fprintf(&b, "why: %s\n", q.Why)
	}
	for _, r := range q.Rules {
		fmt.Fprintf(&b, "grade %d: %s\n", r.Grade, r.Text)
	}
	fmt.Fprintf(&b, "matches: %d   relevant: %d\n", page.Total, st.Relevant)
	fmt.Fprintf(&b, "recall@1 %.4f   recall@5 %.4f   RR %.4f   NDCG@10 %.4f\n\n", st.Recall1, st.Recall5, st.RR, st.NDCG)
	// fresh and pop are the blend's signals (ranking.Freshness and
	// ranking.Popularity, in [0,1]): why a weaker text match may sit above
	// a stronger one. They do not depend on the blend's weights, and the
	// columns have fixed widths (a longer value only shifts its own row;
	// the category, the longest, comes last), so a change of ranking shows
	// as moved rows, not as every row changed.
	nowMs := searchNow.UnixMilli()
	row := func(cols ...any) {
		fmt.Fprintf(&b, "%-4v  %-5v  %-10v  %-48v  %-20v  %-9v  %9v  %6v  %8v  %5v  %6v  %5v  %5v  %v\n", cols...)
	}
	row("rank", "grade", "id", "title", "brand", "condition", "price", "age_d", "shared_d", "likes", "shares", "fresh", "pop", "category")
	for i := range page.Hits {
		l := &page.Hits[i].Listing
		sig := signals(l)
		shared := "-"
		if l.LastSharedAt != nil {
			shared = days(searchNow.Sub(*l.LastSharedAt))
		}
		row(i+1, got[i], l.ID, l.Title, orDash(l.Brand), l.Condition,
			"$"+strconv.FormatFloat(float64(l.PriceCents)/100, 'f', 2, 64),
			days(searchNow.Sub(l.ListedAt())), shared, l.LikeCount, l.ShareCount,
			strconv.FormatFloat(ranking.Freshness(&sig, nowMs), 'f', 3, 64),
			strconv.FormatFloat(ranking.Popularity(&sig), 'f', 3, 64),
			strings.Join(l.Category, " > "))
	}
	if len(page.Hits) == 0 {
		b.WriteString("(no hits)\n")
	}
	return trimLines(b.Bytes())
}

// signals are what ranking reads of l, as a backend's columns hold them.
func signals(l *rummage.Listing) query.Signals {
	s := query.Signals{CreatedMs: l.CreatedAt.UnixMilli(), ListedMs: l.ListedAt().UnixMilli(),
		Likes: l.LikeCount, Shares: l.ShareCount}
	if l.LastSharedAt != nil {
		s.SharedMs = l.LastSharedAt.UnixMilli()
	}
	return s
}

func days(d time.Duration) string { return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trimLines(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i := range lines {
		lines[i] = bytes.TrimRight(lines[i], " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

// The summary's figures, the names checkStats reads back.
const (
	mRecall1 = "recall@1"
	mRecall5 = "recall@5"
	mMRR     = "MRR"
	mNDCG    = "NDCG@10"
)

var metricNames = []string{mRecall1, mRecall5, mMRR, mNDCG}

func (st *queryStats) metric(name string) float64 {
	switch name {
	case mRecall1:
		return st.Recall1
	case mRecall5:
		return st.Recall5
	case mMRR:
		return st.RR
	}
	return st.NDCG
}

// renderStats is testdata/rank_stats.txt: the per-query figures and their
// means.
func renderStats(stats []queryStats) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Ranking quality of the search surface (relevance, top %d) over the fixed catalog:\n", topK)
	fmt.Fprintf(&b, "# fixtures seed %d, %d listings generated at %s and %d hand-written, searched at %s.\n",
		catalogSeed, catalogCount, catalogNow.Format(time.RFC3339), extraCount, searchNow.Format(time.RFC3339))
	fmt.Fprintf(&b, "# recall@k: relevant hits in the top k / min(k, relevant); RR: 1 / rank of the first relevant hit\n")
	fmt.Fprintf(&b, "# (its mean is the MRR); NDCG@%d: gains 2^grade - 1 against the catalog's ideal order.\n", topK)
	fmt.Fprintf(&b, "# Judgments: rank_queries.txt. Refresh: go test ./ranking/e2e -update (see doc.go).\n")
	fmt.Fprintf(&b, "queries: %d\n\n", len(stats))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "query\trelevant\t%s\t%s\tRR\t%s\n", mRecall1, mRecall5, mNDCG)
	for _, st := range stats {
		fmt.Fprintf(w, "%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\n", st.Query, st.Relevant, st.Recall1, st.Recall5, st.RR, st.NDCG)
	}
	w.Flush()
	b.WriteString("\n")
	for _, m := range metricNames {
		sum := 0.0
		for i := range stats {
			sum += stats[i].metric(m)
		}
		fmt.Fprintf(&b, "mean %s: %.6f\n", m, sum/float64(len(stats)))
	}
	return trimLines(b.Bytes())
}

// parsedStats is rank_stats.txt read back.
type parsedStats struct {
	means    map[string]float64
	perQuery map[string]queryStats
	order    []string // the queries, in file order
}

func parseStats(b []byte) (parsedStats, error) {
	p := parsedStats{means: map[string]float64{}, perQuery: map[string]queryStats{}}
	inTable := false
	for n, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "query") && strings.Contains(line, "relevant"):
			inTable = true
			continue
		case strings.TrimSpace(line) == "":
			inTable = false
			continue
		case strings.HasPrefix(line, "mean "):
			name, val, ok := strings.Cut(strings.TrimPrefix(line, "mean "), ":")
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if !ok || err != nil {
				return p, fmt.Errorf("line %d: %q", n+1, line)
			}
			p.means[name] = v
		case inTable:
			f := strings.Fields(line)
			if len(f) < 6 {
				return p, fmt.Errorf("line %d: %q", n+1, line)
			}
			var nums [5]float64
			for i := range nums {
				v, err := strconv.ParseFloat(f[len(f)-5+i], 64)
				if err != nil {
					return p, fmt.Errorf("line %d: %w", n+1, err)
				}
				nums[i] = v
			}
			q := strings.Join(f[:len(f)-5], " ")
			p.order = append(p.order, q)
			p.perQuery[q] = queryStats{Query: q, Relevant: int(nums[0]), Recall1: nums[1], Recall5: nums[2], RR: nums[3], NDCG: nums[4]}
		}
	}
	for _, m := range metricNames {
		if _, ok := p.means[m]; !ok {
			return p, fmt.Errorf("no mean %s", m)
		}
	}
	return p, nil
}

// checkStats compares the summary with the committed one: a mean below its
// committed figure fails, naming the queries that got worse; any other
// difference fails as a stale golden file. -update rewrites it, but not
// over a drop unless -accept-drop.
func checkStats(t *testing.T, got []byte) {
	path := filepath.Join("testdata", "rank_stats.txt")
	want, err := os.ReadFile(path)
	if err != nil && !(os.IsNotExist(err) && golden.Updating()) {
		t.Fatal(err)
	}
	var report string
	if len(want) > 0 {
		old, err := parseStats(want)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		now, err := parseStats(got)
		if err != nil {
			t.Fatalf("rendered stats: %v", err)
		}
		report = drops(old, now)
	}
	switch {
	case report != "" && !(golden.Updating() && *acceptDrop):
		how := "fix the regression, or pin it with -update -accept-drop if it is deliberate"
		if golden.Updating() {
			how = "rank_stats.txt is left as it was; add -accept-drop to pin the lower figures"
		}
		t.Fatalf("ranking quality dropped (%s):\n%s", how, report)
	case report != "":
		t.Logf("pinning lower figures:\n%s", report)
	}
	golden.Check(t, path, got)
}

// drops describes every mean of now below its figure in old, and the
// queries whose figures fell; "" when no mean dropped.
func drops(old, now parsedStats) string {
	var b strings.Builder
	for _, m := range metricNames {
		if now.means[m] < old.means[m]-epsilon {
			fmt.Fprintf(&b, "  mean %s: %.6f → %.6f\n", m, old.means[m], now.means[m])
		}
	}
	if b.Len() == 0 {
		return ""
	}
	b.WriteString("queries that got worse:\n")
	for _, q := range now.order {
		st := now.perQuery[q]
		o, ok := old.perQuery[q]
		if !ok {
			fmt.Fprintf(&b, "  %s: new query\n", q)
			continue
		}
		var worse []string
		for _, m := range metricNames {
			if a, z := o.metric(m), st.metric(m); z < a {
				worse = append(worse, fmt.Sprintf("%s %.4f → %.4f", m, a, z))
			}
		}
		if len(worse) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", q, strings.Join(worse, ", "))
		}
	}
	for _, q := range old.order {
		if _, ok := now.perQuery[q]; !ok {
			fmt.Fprintf(&b, "  %s: no longer judged\n", q)
		}
	}
	return b.String()
}

// TestStats: the summary reads back as written, and drops names a lower
// mean and the queries behind it, and nothing else.
func TestStats(t *testing.T) {
	old := []queryStats{
		{Query: "lulu leggings", Relevant: 45, Recall1: 1, Recall5: 1, RR: 1, NDCG: 0.8},
		{Query: "black boots", Relevant: 435, Recall1: 1, Recall5: 0.8, RR: 1, NDCG: 0.9},
	}
	p, err := parseStats(renderStats(old))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.order) != 2 || p.order[0] != "lulu leggings" || p.perQuery["black boots"] != old[1] {
		t.Errorf("read back %+v", p)
	}
	if got := p.means[mNDCG]; math.Abs(got-0.85) > 1e-9 {
		t.Errorf("mean NDCG %v, want 0.85", got)
	}
	if r := drops(p, p); r != "" {
		t.Errorf("drops against itself: %q", r)
	}

	better := slices.Clone(old)
	better[1].Recall5 = 1
	worse := slices.Clone(old)
	worse[1].NDCG, worse[0].RR = 0.7, 0.5
	pb, _ := parseStats(renderStats(better))
	pw, _ := parseStats(renderStats(worse))
	if r := drops(p, pb); r != "" {
		t.Errorf("an improvement reported as a drop: %q", r)
	}
	r := drops(p, pw)
	for _, want := range []string{"mean NDCG@10: 0.850000 → 0.750000", "mean MRR: 1.000000 → 0.750000",
		"lulu leggings: MRR 1.0000 → 0.5000", "black boots: NDCG@10 0.9000 → 0.7000"} {
		if !strings.Contains(r, want) {
			t.Errorf("drops lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r, "recall") {
		t.Errorf("drops names a metric that did not fall:\n%s", r)
	}

	// Float noise below epsilon is not a drop.
	noisy := slices.Clone(old)
	noisy[0].NDCG -= epsilon / 10
	pn, _ := parseStats(renderStats(noisy))
	if r := drops(p, pn); r != "" {
		t.Errorf("noise reported as a drop: %q", r)
	}
	if _, err := parseStats([]byte("queries: 1\n")); err == nil {
		t.Error("parsed a summary without means")
	}
}
