package purgebench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage/indexer/pipeline"
	"github.com/rummage/rummage/internal/benchkit"
)

// TargetP99 is the target: a sold listing leaves every cached page that
// showed it within 1 s at p99 (issue 10 §5, DESIGN.md "Freshness").
const TargetP99 = time.Second

// Report is the bench's outcome.
type Report struct {
	Listings       int64   `json:"listings"`
	Rate           float64 `json:"offered_changes_per_s"`
	SaleRate       float64 `json:"sales_per_s"`
	PartyShareRate float64 `json:"party_shares_per_s"`
	Mix            string  `json:"mix"`
	DevArgs        string  `json:"dev_args,omitempty"`
	DurationS      float64 `json:"sales_duration_s"`
	Cores          int     `json:"cores"`
	// Window is the measured time (writes start to the last sale's end);
	// Achieved the changes committed per second over the writes' run.
	Window       float64         `json:"window_s"`
	Achieved     float64         `json:"achieved_changes_per_s"`
	Changes      int64           `json:"changes"`
	FailedTx     int64           `json:"failed_transactions"`
	WriteErrors  int64           `json:"sale_write_errors"`
	SalesStarted int             `json:"sales_started"`
	Sales        int             `json:"sales_measured"`
	TimedOut     int             `json:"sales_timed_out"`
	Skipped      map[string]int  `json:"skipped,omitempty"`
	PagesPerSale float64         `json:"pages_per_sale"`
	PagesByKind  map[string]int  `json:"pages_by_kind"`
	Purge        Dist            `json:"purge_latency"`
	Strict       Dist            `json:"strict_latency"`
	ByKind       map[string]Dist `json:"purge_by_kind"`
	ListingPage  Dist            `json:"listing_page_sold"`
	// CacheShare is, per sale, its latency minus its listing page's (the
	// pipeline's commit → visible), at least 0: what the cache added.
	CacheShare   Dist  `json:"cache_share"`
	StaleShowing int   `json:"stale_hits_showing"`
	Polls        int64 `json:"polls"`
	Pass         bool  `json:"pass"`
	// Cache is the deltas of the cache's counters over the window;
	// OverPurge the share of invalidated entries whose next fill answered
	// the same (rummage_cache_purged_total{changed="false"}).
	Cache     map[string]float64 `json:"cache"`
	OverPurge float64            `json:"over_purge"`
	// Stages are the means over the window of the pipeline's histograms;
	// Counters the deltas of its counters (summed over their labels).
	Stages   map[string]float64 `json:"stages"`
	Counters map[string]float64 `json:"pipeline_counters"`
	// CPU seconds over the window: the service (dev, a child process; 0 in
	// process), the private Postgres (0 for --database-url) and the bench.
	ServiceCPU   float64    `json:"service_cpu_s"`
	PostgresCPU  float64    `json:"postgres_cpu_s"`
	BenchCPU     float64    `json:"bench_cpu_s"`
	InProcess    bool       `json:"in_process,omitempty"`
	LoadAvgStart [3]float64 `json:"loadavg_start"`
	LoadAvgEnd   [3]float64 `json:"loadavg_end"`
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func dist(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := benchkit.Summarize(ds, 0, 1)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Dist{N: s.N, P50: ms(s.P50), P99: ms(s.P99), Max: ms(s.Max)}
}

// extra is what the sale goroutines wrote: their shares and sales.
func (b *bench) extra() (writes, errs int64) {
	return b.shares.Load() + b.sold.Load(), b.writeErrs.Load()
}

func (r *Report) fill(load pipeline.LoadResult, extra func() (int64, int64), sales []*Sale, m0, m1 map[string]float64) {
	w, errs := extra()
	r.Changes = load.Changes + w
	if load.Seconds > 0 {
		r.Achieved = float64(load.Changes)/load.Seconds + float64(w)/r.Window
	}
	r.FailedTx, r.WriteErrors = load.Failed, errs
	r.Polls = 0
	r.PagesByKind, r.ByKind, r.Skipped = map[string]int{}, map[string]Dist{}, map[string]int{}
	var lat, strict, listing, share []time.Duration
	byKind := map[string][]time.Duration{}
	pages := 0
	for _, s := range sales {
		if s == nil {
			continue
		}
		r.SalesStarted++
		if s.Skipped != "" {
			reason, _, _ := strings.Cut(s.Skipped, ":")
			r.Skipped[reason]++
			continue
		}
		r.Sales++
		if s.TimedOut {
			r.TimedOut++
		}
		lat, strict = append(lat, s.Latency), append(strict, s.Strict)
		if s.ListingPage != nil {
			listing = append(listing, s.ListingPage.Latency)
			share = append(share, max(0, s.Latency-s.ListingPage.Latency))
			r.Polls += int64(s.ListingPage.Polls)
		}
		for _, p := range s.Pages {
			pages++
			r.PagesByKind[p.Kind]++
			byKind[p.Kind] = append(byKind[p.Kind], p.Latency)
			r.StaleShowing += p.StaleHits
			r.Polls += int64(p.Polls)
		}
	}
	if r.Sales > 0 {
		r.PagesPerSale = float64(pages) / float64(r.Sales)
	}
	r.Purge, r.Strict, r.ListingPage, r.CacheShare = dist(lat), dist(strict), dist(listing), dist(share)
	for k, ds := range byKind {
		r.ByKind[k] = dist(ds)
	}
	r.Pass = r.Sales > 0 && r.TimedOut == 0 && r.Purge.P99 <= float64(TargetP99.Milliseconds())
	delta := func(series string) float64 { return m1[series] - m0[series] }
	r.Cache = map[string]float64{}
	for s := range m1 {
		if strings.HasPrefix(s, "rummage_cache_") && !strings.HasPrefix(s, "rummage_cache_bytes") {
			r.Cache[strings.TrimPrefix(s, "rummage_cache_")] = delta(s)
		}
	}
	same, changed := delta(`rummage_cache_purged_total{changed="false"}`), delta(`rummage_cache_purged_total{changed="true"}`)
	if same+changed > 0 {
		r.OverPurge = same / (same + changed)
	}
	r.Stages, r.Counters = map[string]float64{}, map[string]float64{}
	for s, v := range m1 {
		name, _, _ := strings.Cut(s, "{")
		if strings.HasSuffix(name, "_total") && (strings.HasPrefix(name, "rummage_cdc_") || strings.HasPrefix(name, "rummage_indexer_")) {
			r.Counters[name] += v - m0[s]
		}
	}
	for s := range m1 {
		name, ok := strings.CutSuffix(s, "_sum")
		if !ok || !(strings.HasPrefix(name, "rummage_cdc_") || strings.HasPrefix(name, "rummage_indexer_")) {
			continue
		}
		if n := delta(name + "_count"); n > 0 {
			r.Stages[name+" (mean)"] = delta(s) / n
		}
	}
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return benchkit.WriteJSON(w, r) }

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) error {
	la := func(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }
	fmt.Fprintf(w, "bench purge: %d listings in Postgres, rummage dev (CDC → Kafka → indexer → embedded index, API with cache), %d cores\n", r.Listings, r.Cores)
	if r.DevArgs != "" {
		fmt.Fprintf(w, "dev flags  %s\n", r.DevArgs)
	}
	fmt.Fprintf(w, "writes     offered %.0f changes/s (%s; %.0f/s shares into the party; %.0f sales/s, each after a share into the party)\n", r.Rate, r.Mix, r.PartyShareRate, r.SaleRate)
	fmt.Fprintf(w, "           achieved %.0f changes/s: %d changes over %.1f s, %d failed transactions, %d failed sale writes\n", r.Achieved, r.Changes, r.Window, r.FailedTx, r.WriteErrors)
	skipped := ""
	for _, k := range slices.Sorted(maps.Keys(r.Skipped)) {
		skipped += fmt.Sprintf(" %s %d;", k, r.Skipped[k])
	}
	fmt.Fprintf(w, "sales      %d started, %d measured, %d still shown at the timeout; skipped:%s\n", r.SalesStarted, r.Sales, r.TimedOut, skipped)
	kinds := ""
	for _, k := range slices.Sorted(maps.Keys(r.PagesByKind)) {
		kinds += fmt.Sprintf(" %s %d", k, r.PagesByKind[k])
	}
	fmt.Fprintf(w, "pages      %.1f cached pages showed each sold listing before the sale:%s\n", r.PagesPerSale, kinds)
	mark := "MISS"
	if r.Pass {
		mark = "PASS"
	}
	fmt.Fprintf(w, "purge      COMMIT → no cached page shows it: p50 %.0f ms  p99 %.0f ms  max %.0f ms over %d sales  (target p99 ≤ %v: %s)\n", r.Purge.P50, r.Purge.P99, r.Purge.Max, r.Purge.N, TargetP99, mark)
	fmt.Fprintf(w, "strict     COMMIT → no answer (cached or computed) shows it: p50 %.0f ms  p99 %.0f ms  max %.0f ms\n", r.Strict.P50, r.Strict.P99, r.Strict.Max)
	for _, k := range slices.Sorted(maps.Keys(r.ByKind)) {
		d := r.ByKind[k]
		fmt.Fprintf(w, "  %-15s %4d pages  p50 %5.0f ms  p99 %5.0f ms  max %5.0f ms\n", k, d.N, d.P50, d.P99, d.Max)
	}
	fmt.Fprintf(w, "listing    /v1/listings/{id} (not cached) says sold: p50 %.0f ms  p99 %.0f ms  max %.0f ms\n", r.ListingPage.P50, r.ListingPage.P99, r.ListingPage.Max)
	fmt.Fprintf(w, "cache share  a sale's latency minus its listing page's (what the cache added): p50 %.0f ms  p99 %.0f ms  max %.0f ms\n", r.CacheShare.P50, r.CacheShare.P99, r.CacheShare.Max)
	fmt.Fprintf(w, "polls      %d reads (%.0f/s); %d stale hits still showing a sold listing\n", r.Polls, float64(r.Polls)/max(r.Window, 1), r.StaleShowing)
	c := r.Cache
	fmt.Fprintf(w, "cache      requests hit %.0f, stale %.0f, miss %.0f; invalidations %.0f, entries marked stale %.0f, fills %.0f (%.0f discarded)\n",
		c[`requests_total{result="hit"}`], c[`requests_total{result="stale"}`], c[`requests_total{result="miss"}`], c["invalidations_total"], c["stale_marked_total"], c["fills_total"], c["fills_discarded_total"])
	fmt.Fprintf(w, "over-purge %.1f %% of the invalidated entries refilled answered the same (%.0f of %.0f)\n", 100*r.OverPurge,
		c[`purged_total{changed="false"}`], c[`purged_total{changed="false"}`]+c[`purged_total{changed="true"}`])
	for _, k := range slices.Sorted(maps.Keys(r.Stages)) {
		fmt.Fprintf(w, "stage      %-58s %.4g\n", k, r.Stages[k])
	}
	var cs []string
	for _, k := range slices.Sorted(maps.Keys(r.Counters)) {
		if r.Counters[k] != 0 {
			cs = append(cs, fmt.Sprintf("%s %.0f", strings.TrimSuffix(k, "_total"), r.Counters[k]))
		}
	}
	fmt.Fprintf(w, "counters   %s\n", strings.Join(cs, ", "))
	svc := fmt.Sprintf("%.1f s (%.2f cores)", r.ServiceCPU, r.ServiceCPU/max(r.Window, 1))
	if r.InProcess {
		svc = "in the bench's process"
	}
	fmt.Fprintf(w, "cpu        service %s, Postgres %.1f s (%.2f cores), bench %.1f s (%.2f cores)\n", svc, r.PostgresCPU, r.PostgresCPU/max(r.Window, 1), r.BenchCPU, r.BenchCPU/max(r.Window, 1))
	fmt.Fprintf(w, "loadavg    start %s  end %s\n", la(r.LoadAvgStart), la(r.LoadAvgEnd))
	return nil
}
