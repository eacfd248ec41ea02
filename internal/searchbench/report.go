package searchbench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rummage/rummage/internal/benchkit"
)

// Report is the outcome of a run; its JSON form is what --json prints.
type Report struct {
	Dataset   Dataset          `json:"dataset"`
	Machine   Machine          `json:"machine"`
	Facets    []string         `json:"facets"`
	Build     Builds           `json:"build"`
	Memory    Memory           `json:"memory"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Checks    []Check          `json:"checks"`
	LoadAvg   LoadAvgs         `json:"load_avg"`
	// Serve is the memory of a separate "rummage serve" process on the
	// main index, when measured (AddServe).
	Serve *ServeMemory `json:"serve,omitempty"`
}

// ServeMemory is the memory of a "rummage serve" process on the main index.
type ServeMemory struct {
	PID         int          `json:"pid"`
	ReadySecond float64      `json:"ready_seconds"` // start to /readyz 200
	AfterReady  benchkit.Mem `json:"after_ready"`
	AfterWarmup benchkit.Mem `json:"after_warmup"`
	Requests    int          `json:"warmup_requests"` // over the API paths of the variants
}

// APIPaths returns the distinct GET /v1/search requests of the scenarios'
// first-page variants, for warming up a server.
func (r *Report) APIPaths() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range r.Scenarios {
		for _, v := range s.Variants {
			if v.APIPath != "" && !seen[v.APIPath] {
				seen[v.APIPath] = true
				out = append(out, v.APIPath)
			}
		}
	}
	return out
}

// AddServe records the memory of a serve process and checks it against
// the target.
func (r *Report) AddServe(s ServeMemory) {
	r.Serve = &s
	r.Checks = append(r.Checks, Check{Name: "RSS of rummage serve after warm-up", Value: s.AfterWarmup.String(),
		Target: "< " + benchkit.FormatBytes(MaxServeRSS), Status: status(r.atScale(), s.AfterWarmup.RSS < MaxServeRSS)})
}

// Dataset describes the documents searched.
type Dataset struct {
	Listings     int       `json:"listings"`
	Visible      int       `json:"visible"` // available and not a future drop, at Now
	Seed         uint64    `json:"seed"`
	Now          time.Time `json:"now"`
	IndexDir     string    `json:"index_dir"`
	MainIndexDir string    `json:"main_index_dir"` // what rummage serve --index-dir takes
}

// Machine describes where the run happened.
type Machine struct {
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
}

// Builds holds the build figures of both indexes.
type Builds struct {
	Main     *Build `json:"main"`
	Baseline *Build `json:"baseline,omitempty"`
}

// Memory is this process's memory at three points: after opening the
// Rummage index, after one warm-up pass over every scenario (both with only
// the Rummage index open: what serve holds), and at the end (with the
// baseline index open too, when it ran).
type Memory struct {
	// BuiltHere is set when this process built an index before measuring:
	// the peaks (HWM) then include the build.
	BuiltHere   bool    `json:"built_here"`
	OpenSeconds float64 `json:"open_seconds"`
	// SettleSeconds is how long the opened index kept working in the
	// background (CPU above 5% of a core) after the warm-up pass; the
	// scenarios start after it.
	SettleSeconds float64      `json:"settle_seconds"`
	AfterOpen     benchkit.Mem `json:"after_open"`
	AfterWarmup   benchkit.Mem `json:"after_warmup"`
	AfterRun      benchkit.Mem `json:"after_run"`
}

// LoadAvgs are the machine's load averages (1, 5, 15 min) at the start
// and at the end of the run.
type LoadAvgs struct {
	Start [3]float64 `json:"start"`
	End   [3]float64 `json:"end"`
}

// Target is what a scenario must meet at TargetListings.
type Target struct {
	Name        string        `json:"name"`
	P99Max      time.Duration `json:"-"`
	P99MaxMs    float64       `json:"p99_max_ms"`
	MinRatioP50 float64       `json:"min_ratio_p50,omitempty"` // baseline p50 / Rummage p50
}

// Variant is one request of a scenario's rotation.
type Variant struct {
	Label        string `json:"label"`
	Hits         int    `json:"hits"`
	BaselineHits int    `json:"baseline_hits,omitempty"`
	// Rummage's latency for this variant in the latency run (wall time).
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// APIPath is the same request as GET /v1/search ("" for later pages).
	APIPath string `json:"api_path,omitempty"`
}

// Measure is one engine's figures for a scenario.
type Measure struct {
	Latency benchkit.Summary `json:"latency"`
	// QPS2 is a throughput run at Config.QPSConcurrency workers.
	QPS2    *benchkit.Summary `json:"qps_run,omitempty"`
	LoadAvg [3]float64        `json:"load_avg"`
}

// ScenarioResult is the outcome of one scenario.
type ScenarioResult struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Variants    []Variant `json:"variants"`
	HitsMin     int       `json:"hits_min"`
	HitsMax     int       `json:"hits_max"`
	Rummage     Measure   `json:"rummage"`
	Baseline    *Measure  `json:"baseline,omitempty"`
	RatioP50    float64   `json:"ratio_p50,omitempty"` // baseline p50 / Rummage p50
	RatioP99    float64   `json:"ratio_p99,omitempty"`
	Target      Target    `json:"target"`
	// Status is PASS or MISS against Target, or "n/a" below
	// TargetListings (the targets are for 1M listings).
	Status string `json:"status"`
	Why    string `json:"why,omitempty"`
}

// Check is one target of the run, besides per-scenario latency: build rate
// and memory.
type Check struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target"`
	Status string `json:"status"`
}

// Status values.
const (
	Pass = "PASS"
	Miss = "MISS"
	NA   = "n/a"
)

func (r *Report) atScale() bool { return r.Dataset.Listings >= TargetListings }

func (r *Report) evaluate() {
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		s.Target.P99MaxMs = float64(s.Target.P99Max) / 1e6
		var why []string
		if s.Rummage.Latency.P99 > s.Target.P99Max {
			why = append(why, fmt.Sprintf("p99 %s > %s", benchkit.FormatDuration(s.Rummage.Latency.P99), benchkit.FormatDuration(s.Target.P99Max)))
		}
		if s.Target.MinRatioP50 > 0 {
			switch {
			case s.Baseline == nil:
				why = append(why, "ratio not measured (--baseline=false)")
			case s.RatioP50 < s.Target.MinRatioP50:
				why = append(why, fmt.Sprintf("p50 ratio %.1fx < %.0fx", s.RatioP50, s.Target.MinRatioP50))
			}
		}
		s.Why = strings.Join(why, "; ")
		s.Status = status(r.atScale(), len(why) == 0)
	}
	r.Checks = nil
	if b := r.Build.Main; b != nil {
		r.Checks = append(r.Checks, Check{Name: "build Rummage index", Value: fmt.Sprintf("%.0f listings/s", b.PerSecond),
			Target: fmt.Sprintf(">= %d listings/s", MinBuildRate), Status: status(r.atScale(), b.PerSecond >= MinBuildRate)})
	}
	if b := r.Build.Baseline; b != nil {
		r.Checks = append(r.Checks, Check{Name: "build baseline index (Bleve with facet fields)", Value: fmt.Sprintf("%.0f listings/s", b.PerSecond),
			Target: "(reference; DESIGN.md: Bleve alone ~5,700/s)", Status: NA})
	}
	m := r.Memory.AfterWarmup
	r.Checks = append(r.Checks, Check{Name: "RSS with the Rummage index open, after warm-up", Value: m.String(),
		Target: "< " + benchkit.FormatBytes(MaxServeRSS), Status: status(r.atScale(), m.RSS < MaxServeRSS)})
}

func status(atScale, ok bool) string {
	switch {
	case !atScale:
		return NA
	case ok:
		return Pass
	}
	return Miss
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return benchkit.WriteJSON(w, r) }

// WriteText writes the report as tables for people.
func (r *Report) WriteText(w io.Writer) error {
	d := r.Dataset
	fmt.Fprintf(w, "rummage bench search: %d listings (%d visible at %s), seed %d, index %s\n",
		d.Listings, d.Visible, d.Now.Format(time.RFC3339), d.Seed, d.IndexDir)
	fmt.Fprintf(w, "machine: %d CPUs, GOMAXPROCS %d, %s; load average at start %s, at end %s\n",
		r.Machine.NumCPU, r.Machine.GOMAXPROCS, r.Machine.GoVersion, loadStr(r.LoadAvg.Start), loadStr(r.LoadAvg.End))
	fmt.Fprintf(w, "facets in every scenario: %s\n", strings.Join(r.Facets, ", "))
	if !r.atScale() {
		fmt.Fprintf(w, "targets are for %d listings: status n/a at this size\n", TargetListings)
	}
	fmt.Fprintln(w)

	conc := 1
	if len(r.Scenarios) > 0 {
		conc = r.Scenarios[0].Rummage.Latency.Concurrency
	}
	fmt.Fprintf(w, "Rummage (latency at concurrency %d):\n", conc)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintf(tw, "scenario\thits\tp50\tp99\tQPS\tQPS@2\tCPU/op\ton-CPU p50\ton-CPU p99\ttarget\tstatus\tload\t\n")
	for _, s := range r.Scenarios {
		rm := s.Rummage
		tgt := "p99<=" + dur(s.Target.P99Max)
		if s.Target.MinRatioP50 > 0 {
			tgt += fmt.Sprintf(", >=%.0fx", s.Target.MinRatioP50)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t\n",
			s.Name, hitsStr(s), dur(rm.Latency.P50), dur(rm.Latency.P99), qps(rm.Latency.QPS), qpsOf(rm.QPS2),
			dur(rm.Latency.CPUPerOp), dur(rm.Latency.OnCPUP50), dur(rm.Latency.OnCPUP99), tgt, s.Status, rm.LoadAvg[0])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Scenarios) > 0 && r.Scenarios[0].Baseline != nil {
		fmt.Fprintf(w, "\nBleve-facets baseline (same documents, same requests) and ratios:\n")
		tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
		fmt.Fprintf(tw, "scenario\thits\tn\tp50\tp99\tQPS\tQPS@2\tCPU/op\tratio p50\tratio p99\tratio CPU/op\tload\t\n")
		for _, s := range r.Scenarios {
			b := s.Baseline
			if b == nil {
				continue
			}
			hits := "same"
			for _, v := range s.Variants {
				if v.BaselineHits != v.Hits {
					hits = "differ"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%.1fx\t%.1fx\t%.1fx\t%.1f\t\n",
				s.Name, hits, b.Latency.N, dur(b.Latency.P50), dur(b.Latency.P99), qps(b.Latency.QPS), qpsOf(b.QPS2),
				dur(b.Latency.CPUPerOp), s.RatioP50, s.RatioP99, ratio(b.Latency.CPUPerOp, s.Rummage.Latency.CPUPerOp), b.LoadAvg[0])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "hits: matching visible listings, min-max over the scenario's variants, of %d visible\n", d.Visible)
	if len(r.Scenarios) > 0 {
		fmt.Fprint(w, `QPS@2: closed loop with 2 workers. CPU/op: process CPU time (all threads, GC included) per search in
the latency run. on-CPU: CPU time of the searching thread per search, i.e. latency without waiting
for a core (the machine is shared: compare with load). Status is on wall-clock p99. load: 1-min load
average after the run. hits "same": the baseline's totals equal Rummage's for every variant.
`)
	}
	for _, s := range r.Scenarios {
		if s.Why == "" || s.Status != Miss {
			continue
		}
		fmt.Fprintf(w, "  MISS %s: %s; per variant (hits p50 p99):", s.Name, s.Why)
		for _, v := range s.Variants {
			fmt.Fprintf(w, " [%s: %d %.1fms %.1fms]", v.Label, v.Hits, v.P50Ms, v.P99Ms)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "build:")
	for _, x := range []struct {
		name string
		b    *Build
	}{{"Rummage index", r.Build.Main}, {"baseline index (Bleve + facet fields)", r.Build.Baseline}} {
		if x.b == nil {
			continue
		}
		reused := ""
		if x.b.Reused {
			reused = fmt.Sprintf(" (reused; measured when built at %s)", x.b.BuiltAt.Format(time.RFC3339))
		}
		perCPU := "-"
		if x.b.PerCPUSecond > 0 {
			perCPU = fmt.Sprintf("%.0f", x.b.PerCPUSecond)
		}
		fmt.Fprintf(w, "  %-38s %d listings in %.1fs: %.0f listings/s (%s per CPU-second), %s on disk, load %.1f%s\n",
			x.name, x.b.Listings, x.b.Seconds, x.b.PerSecond, perCPU, benchkit.FormatBytes(x.b.DiskBytes), x.b.LoadAvg[0], reused)
	}
	fmt.Fprintln(w, "memory (this process):")
	if r.Memory.BuiltHere {
		fmt.Fprintln(w, "  (an index was built in this run: peaks include the build; rerun to reuse it for clean peaks)")
	}
	fmt.Fprintf(w, "  after opening the Rummage index (%.1fs): %s\n", r.Memory.OpenSeconds, r.Memory.AfterOpen)
	fmt.Fprintf(w, "  after a warm-up pass over every scenario and %.1fs of background work: %s\n", r.Memory.SettleSeconds, r.Memory.AfterWarmup)
	fmt.Fprintf(w, "  at the end (baseline index open too, if run): %s\n", r.Memory.AfterRun)
	if sv := r.Serve; sv != nil {
		fmt.Fprintf(w, "memory of rummage serve (pid %d) on %s:\n", sv.PID, r.Dataset.MainIndexDir)
		fmt.Fprintf(w, "  ready after %.1fs: %s\n", sv.ReadySecond, sv.AfterReady)
		fmt.Fprintf(w, "  after %d warm-up searches over the scenarios' requests: %s\n", sv.Requests, sv.AfterWarmup)
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tvalue\ttarget\tstatus")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Value, c.Target, c.Status)
	}
	return tw.Flush()
}

func hitsStr(s ScenarioResult) string {
	if s.HitsMax != s.HitsMin {
		return fmt.Sprintf("%d-%d", s.HitsMin, s.HitsMax)
	}
	return fmt.Sprint(s.HitsMin)
}

func dur(d time.Duration) string { return benchkit.FormatDuration(d) }

func qps(q float64) string {
	if q >= 100 {
		return fmt.Sprintf("%.0f", q)
	}
	return fmt.Sprintf("%.1f", q)
}

func qpsOf(s *benchkit.Summary) string {
	if s == nil {
		return "-"
	}
	return qps(s.QPS)
}

func loadStr(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }
