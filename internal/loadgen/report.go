package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/rummage/rummage/internal/benchkit"
)

// Report is a run's outcome (--json prints it as is).
type Report struct {
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`
	Duration float64 `json:"duration_s"`
	Elapsed  float64 `json:"elapsed_s"`
	Sources  int     `json:"sources"`
	Workers  int     `json:"max_workers"`
	// Offered is the arrivals the scenario's curve offered; Sent those the
	// generator issued; Lag its worst cumulative shortfall (a fraction).
	Offered  float64  `json:"offered"`
	Sent     int      `json:"sent"`
	Lag      float64  `json:"lag"`
	LagLimit float64  `json:"lag_limit"`
	Seconds  []Second `json:"seconds"`
	// Status counts answers by code ("error": no answer).
	Status map[string]int `json:"status"`
	// Latency of every answer; Admitted of the 200 and 304 answers.
	Latency  Latency `json:"latency"`
	Admitted Latency `json:"admitted"`
	// Good answers (200, 304) and Goodput, good answers a second.
	Good    int     `json:"good"`
	Goodput float64 `json:"goodput_rps"`
	// Cache: the share of answers carrying Cache-Status that were hits
	// (stale ones included, StaleRatio of them).
	Cacheable     int     `json:"cacheable"`
	CacheHitRatio float64 `json:"cache_hit_ratio"`
	StaleRatio    float64 `json:"stale_ratio"`
	// Shed answers (503 with Retry-After), rate limited (429), degraded
	// (Rummage-Degraded).
	Shed        int     `json:"shed"`
	ShedRatio   float64 `json:"shed_ratio"`
	RateLimited int     `json:"rate_limited"`
	Degraded    int     `json:"degraded"`

	Kinds map[string]*KindReport `json:"kinds"`
	// Drop: T0 in seconds from the start, and the shopper count derived
	// from the peak rate × think time after T0.
	T0       float64     `json:"t0_s,omitempty"`
	Shoppers float64     `json:"shoppers,omitempty"`
	Writes   *WriteStats `json:"writes,omitempty"`
	// Visibility of the drop in its newest-first pages (drop only).
	Visibility *Visibility  `json:"drop_visibility,omitempty"`
	Probe      *ProbeReport `json:"probe,omitempty"`

	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
}

// Second is one second of the run: the arrivals offered, the requests
// issued, and the answers that came back in it.
type Second struct {
	T        int     `json:"t"`
	Offered  float64 `json:"offered"`
	Sent     int     `json:"sent"`
	Achieved int     `json:"achieved"`
}

// KindReport is one kind of request's share.
type KindReport struct {
	Requests  int     `json:"requests"`
	CacheHits int     `json:"cache_hits"`
	Admitted  Latency `json:"admitted"`
}

// ProbeReport is the separate prober's view (the /healthz prober).
type ProbeReport struct {
	Path     string         `json:"path"`
	Requests int            `json:"requests"`
	Status   map[string]int `json:"status"`
	Latency  Latency        `json:"latency"`
}

func pct(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) }

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "loadtest %s → %s: %.0f s, %d source address(es), ≤ %d workers\n", r.Scenario, r.Target, r.Duration, r.Sources, r.Workers)
	if r.T0 > 0 {
		fmt.Fprintf(w, "drop at T0 = +%.1f s; shoppers = peak rate × think time = %.0f\n", r.T0, r.Shoppers)
	}
	fmt.Fprintf(w, "%5s %9s %7s %9s\n", "t(s)", "offered", "sent", "achieved")
	for _, s := range r.Seconds {
		fmt.Fprintf(w, "%5d %9.0f %7d %9d\n", s.T, s.Offered, s.Sent, s.Achieved)
	}
	verdict := "ok"
	if !r.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "offered %.0f, sent %d; generator lag %s (limit %s): %s\n", r.Offered, r.Sent, pct(r.Lag), pct(r.LagLimit), verdict)
	fmt.Fprintf(w, "status: %s\n", counts(r.Status))
	fmt.Fprintf(w, "latency, all:      %s\n", r.Latency)
	fmt.Fprintf(w, "latency, admitted: %s\n", r.Admitted)
	fmt.Fprintf(w, "goodput %.0f/s; cache hit %s (stale %s) of %d cacheable; shed %s (%d); rate limited %d; degraded %d\n",
		r.Goodput, pct(r.CacheHitRatio), pct(r.StaleRatio), r.Cacheable, pct(r.ShedRatio), r.Shed, r.RateLimited, r.Degraded)
	for _, k := range slices.Sorted(maps.Keys(r.Kinds)) {
		kr := r.Kinds[k]
		fmt.Fprintf(w, "  %-18s %7d requests, %5.1f %% cache hits, admitted %s\n", k, kr.Requests, 100*float64(kr.CacheHits)/float64(max(kr.Requests, 1)), kr.Admitted)
	}
	if v := r.Visibility; v != nil {
		fmt.Fprintf(w, "drop visibility: %d of %d pages before T0 showed a listing early; %d of %d pages from T0 + 1 s showed the drop\n", v.Early, v.Before, v.Shown, v.After)
	}
	if r.Writes != nil {
		fmt.Fprintf(w, "writes: %d shares (of %.0f offered), %d sales, %d errors\n", r.Writes.Shares, r.Writes.SharesOffered, r.Writes.Sales, r.Writes.Errors)
	}
	if p := r.Probe; p != nil {
		fmt.Fprintf(w, "probe %s: %d requests, %s; %s\n", p.Path, p.Requests, counts(p.Status), p.Latency)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAIL: %s\n", f)
	}
}

func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms", l.N, l.P50, l.P99, l.P999, l.Max)
}

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// WriteText prints the report for people (Print).
func (r *Report) WriteText(w io.Writer) error {
	r.Print(w)
	return nil
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return benchkit.WriteJSON(w, r) }
