package spikebench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/loadgen"
)

// Report is the bench's outcome.
type Report struct {
	Listings    int     `json:"listings"`
	PartyShares int     `json:"party_shares"`
	P99LimitMS  float64 `json:"p99_limit_ms"`
	Cores       int     `json:"cores"`
	Pinned      string  `json:"pinned"`
	// Variants: protections on, then off.
	Variants []*Variant `json:"variants"`
}

// Variant is one serving configuration's run.
type Variant struct {
	Name  string `json:"protections"`
	Flags string `json:"serve_flags"`
	// Steps of the capacity search; Capacity the highest rate that passed
	// (admitted p99 within the limit, nothing shed, every answer good).
	// GeneratorBound: a step failed because the load tool lagged.
	Steps          []Step  `json:"capacity_steps"`
	Capacity       float64 `json:"capacity_rps"`
	GeneratorBound bool    `json:"generator_bound,omitempty"`
	// OverloadRate is twice the first variant's (protected) capacity, the
	// same for both; Overload the run at it; GoodputVsCapacity its goodput
	// over that capacity.
	OverloadRate      float64         `json:"overload_rps"`
	Overload          *loadgen.Report `json:"overload"`
	GoodputVsCapacity float64         `json:"goodput_vs_capacity"`
	// CPU seconds used during the overload run by the service (the child
	// process) and by the load tool (this process).
	ServiceCPU float64 `json:"service_cpu_s"`
	LoadCPU    float64 `json:"load_cpu_s"`
	// Server is the service's own account of the overload run.
	Server *ServerSide `json:"server"`
}

// Step is one rate of the capacity search.
type Step struct {
	Rate  float64 `json:"rate"`
	P99MS float64 `json:"admitted_p99_ms"`
	Shed  int     `json:"shed"`
	Good  int     `json:"good"`
	Sent  int     `json:"sent"`
	Lag   float64 `json:"lag"`
	OK    bool    `json:"ok"`
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return benchkit.WriteJSON(w, r) }

// WriteText prints the comparison for people.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "bench spike: %d listings, a live party of %d shared listings; party-start mix; %d cores, %s\n", r.Listings, r.PartyShares, r.Cores, r.Pinned)
	fmt.Fprintf(w, "capacity = highest offered rate with admitted p99 ≤ %.0f ms, nothing shed, every answer 200/304\n\n", r.P99LimitMS)
	for _, v := range r.Variants {
		fmt.Fprintf(w, "protections %s %s\n", v.Name, v.Flags)
		for _, s := range v.Steps {
			mark := "ok"
			if !s.OK {
				mark = "over"
			}
			fmt.Fprintf(w, "  %7.0f/s: admitted p99 %7.2f ms, shed %5d, good %6d/%-6d lag %4.1f %%  %s\n", s.Rate, s.P99MS, s.Shed, s.Good, s.Sent, 100*s.Lag, mark)
		}
		bound := ""
		if v.GeneratorBound {
			bound = " (a step was bound by the load generator)"
		}
		fmt.Fprintf(w, "  capacity %.0f/s%s\n\n", v.Capacity, bound)
	}
	fmt.Fprintf(w, "%-34s", "at 2× the protected capacity")
	for _, v := range r.Variants {
		fmt.Fprintf(w, " %-28s", "protections "+v.Name)
	}
	fmt.Fprintln(w)
	row := func(name string, f func(v *Variant) string) {
		fmt.Fprintf(w, "%-34s", name)
		for _, v := range r.Variants {
			fmt.Fprintf(w, " %-28s", f(v))
		}
		fmt.Fprintln(w)
	}
	row("offered", func(v *Variant) string { return fmt.Sprintf("%.0f/s", v.OverloadRate) })
	row("status", func(v *Variant) string { return statusMix(v.Overload.Status) })
	row("admitted p50 / p99", func(v *Variant) string {
		return fmt.Sprintf("%.1f / %.1f ms", v.Overload.Admitted.P50, v.Overload.Admitted.P99)
	})
	row("goodput (vs capacity)", func(v *Variant) string {
		return fmt.Sprintf("%.0f/s (%.0f %%)", v.Overload.Goodput, 100*v.GoodputVsCapacity)
	})
	row("shed / degraded", func(v *Variant) string {
		return fmt.Sprintf("%.1f %% / %d", 100*v.Overload.ShedRatio, v.Overload.Degraded)
	})
	row("cache hit", func(v *Variant) string { return fmt.Sprintf("%.1f %%", 100*v.Overload.CacheHitRatio) })
	row("/healthz p99 (10/s prober)", func(v *Variant) string {
		if v.Overload.Probe == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f ms (max %.1f)", v.Overload.Probe.Latency.P99, v.Overload.Probe.Latency.Max)
	})
	row("server: admitted p99 (handler)", func(v *Variant) string { return fmt.Sprintf("%.1f ms", v.Server.AdmittedP99MS) })
	row("server: /healthz p99 (handler)", func(v *Variant) string { return fmt.Sprintf("%.2f ms", v.Server.HealthzP99MS) })
	row("server: scheduler wait p99", func(v *Variant) string { return fmt.Sprintf("%.1f ms", v.Server.SchedP99MS) })
	row("server: shed (503)", func(v *Variant) string { return fmt.Sprintf("%.0f", v.Server.Shed) })
	row("generator lag", func(v *Variant) string { return fmt.Sprintf("%.1f %%", 100*v.Overload.Lag) })
	row("CPU service / load", func(v *Variant) string { return fmt.Sprintf("%.1f s / %.1f s", v.ServiceCPU, v.LoadCPU) })
	row("service CPU per good answer", func(v *Variant) string {
		if v.Overload.Good == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f µs", 1e6*v.ServiceCPU/float64(v.Overload.Good))
	})
	return nil
}

func statusMix(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
