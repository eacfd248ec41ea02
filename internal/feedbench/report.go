package feedbench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rummage/rummage/internal/benchkit"
)

// Report is a run's figures.
type Report struct {
	Config dataset `json:"config"`
	// Targets: the catalog is at the targets' size, so PASS/MISS apply.
	Targets      bool             `json:"targets_apply"`
	Data         DataSet          `json:"data"`
	Postgres     *PostgresLoad    `json:"postgres"`
	Index        *IndexBuild      `json:"index"`
	Memory       *Memory          `json:"signals_memory"`
	Scenarios    []ScenarioResult `json:"scenarios"`
	Checks       []Check          `json:"checks"`
	LoadAvgStart [3]float64       `json:"load_avg_start"`
	LoadAvgEnd   [3]float64       `json:"load_avg_end"`
}

// ScenarioResult is one scenario measured on both sides.
type ScenarioResult struct {
	Name        string           `json:"name"`
	What        string           `json:"what"`
	Variants    []string         `json:"variants"`
	TargetP99Ms float64          `json:"target_p99_ms,omitempty"`
	Rummage     benchkit.Summary `json:"rummage"`
	Baseline    benchkit.Summary `json:"baseline"`
	// RatioP50 and RatioP99 are the baseline's latency over Rummage's.
	RatioP50 float64 `json:"ratio_p50"`
	RatioP99 float64 `json:"ratio_p99"`
	Status   string  `json:"status"` // PASS, MISS, or n/a below the targets' size
}

// Check compares one request's first page from the feed and from SQL.
type Check struct {
	Scenario     string   `json:"scenario"`
	Request      string   `json:"request"`
	Agree        bool     `json:"agree"`
	IDsAgree     bool     `json:"ids_agree"`
	Common       int      `json:"common_ids"`
	TotalAgrees  bool     `json:"total_agrees"`
	FeedTotal    int      `json:"feed_total"`
	SQLTotal     int      `json:"sql_total"` // -1: not computed (home)
	FacetsDiffer []string `json:"facets_differ,omitempty"`
	FeedIDs      []string `json:"feed_ids"`
	SQLIDs       []string `json:"sql_ids"`
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return benchkit.WriteJSON(w, r) }

// WriteText writes the report as tables.
func (r *Report) WriteText(w io.Writer) error {
	d := r.Data
	fmt.Fprintf(w, "rummage bench feeds: %d listings, %d closets, %d users, %d follows, %d likes, %d shares, %d blocks, %d parties (seed %d, now %s)\n",
		d.Listings, d.Closets, d.Users, d.Follows, d.Likes, d.Shares, d.Blocks, d.Parties, r.Config.Seed, r.Config.Now.Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(w, "parties: live %s %q (%s) %d shared listings, %d shares; small %s %q (%s) %d shared listings, %d shares\n",
		d.LiveParty.ID, d.LiveParty.Name, d.LiveParty.Status, d.LiveParty.SharedListings, d.LiveParty.Shares,
		d.SmallParty.ID, d.SmallParty.Name, d.SmallParty.Status, d.SmallParty.SharedListings, d.SmallParty.Shares)
	fmt.Fprintf(w, "load average: %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end (2 cores, shared)\n\n",
		r.LoadAvgStart[0], r.LoadAvgStart[1], r.LoadAvgStart[2], r.LoadAvgEnd[0], r.LoadAvgEnd[1], r.LoadAvgEnd[2])

	if p := r.Postgres; p != nil {
		fmt.Fprintf(w, "Postgres load (COPY)%s: %d rows in %.1f s, %.0f rows/s; baselines' indexes + ANALYZE %.1f s\n", reused(p.Reused), p.TotalRows, p.Seconds, p.RowsPerSec, p.IndexSeconds)
	}
	if x := r.Index; x != nil {
		fmt.Fprintf(w, "embedded index%s: %d listings in %.1f s, %.0f listings/s\n", reused(x.Reused), x.Listings, x.Seconds, x.PerSecond)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "signals store (embedded): loaded in %.1f s (%.0f changes/s); heap %s in all: follows stage %s (%.1f B/follow), shares %s (%.1f B/share), likes %s (%.1f B/like)\n",
			m.LoadSeconds, m.ChangesPerSec, benchkit.FormatBytes(m.TotalBytes), benchkit.FormatBytes(m.FollowsBytes), m.BytesPerFollow,
			benchkit.FormatBytes(m.SharesBytes), m.BytesPerShare, benchkit.FormatBytes(m.LikesBytes), m.BytesPerLike)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tn\tp50\tp99\tQPS\tCPU/req\ton-CPU p99\tSQL n\tSQL p50\tSQL p99\tSQL QPS\tratio p50\tratio p99\ttarget p99\tstatus")
	for _, s := range r.Scenarios {
		target := "-"
		if s.TargetP99Ms > 0 {
			target = fmt.Sprintf("%g ms", s.TargetP99Ms)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%.1f\t%.1f×\t%.1f×\t%s\t%s\n", s.Name,
			s.Rummage.N, benchkit.FormatDuration(s.Rummage.P50), benchkit.FormatDuration(s.Rummage.P99), s.Rummage.QPS,
			benchkit.FormatDuration(s.Rummage.CPUPerOp), benchkit.FormatDuration(s.Rummage.OnCPUP99),
			s.Baseline.N, benchkit.FormatDuration(s.Baseline.P50), benchkit.FormatDuration(s.Baseline.P99), s.Baseline.QPS,
			s.RatioP50, s.RatioP99, target, s.Status)
	}
	tw.Flush()
	fmt.Fprintln(w, "(CPU/req: the process's CPU per feed request, GC included; on-CPU p99: the worker thread's own CPU time, what p99 would be on an idle machine)")
	fmt.Fprintln(w)
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "  %-14s %s: %s\n", s.Name, s.What, strings.Join(s.Variants, "; "))
	}
	fmt.Fprintln(w, "\ncross-check, feed vs SQL, first page:")
	for _, c := range r.Checks {
		verdict := "agree"
		if !c.Agree {
			verdict = "DIFFER"
		}
		total := fmt.Sprintf("total %d vs %d", c.FeedTotal, c.SQLTotal)
		if c.SQLTotal < 0 {
			total = "total not computed in SQL"
		}
		facets := ""
		if len(c.FacetsDiffer) > 0 {
			facets = "; facets differ: " + strings.Join(c.FacetsDiffer, ",")
		}
		fmt.Fprintf(w, "  %-14s %-40s %s: %d of %d ids in common (same order: %v), %s%s\n",
			c.Scenario, c.Request, verdict, c.Common, len(c.FeedIDs), c.IDsAgree, total, facets)
	}
	return nil
}

func reused(b bool) string {
	if b {
		return " (reused; figures from its load)"
	}
	return ""
}
