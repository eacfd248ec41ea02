package shareratebench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/stagecpu"
)

// Targets (issue 9 §5): a share is at the top of its party feed within
// 1 s at p99 (and 200 ms at p50), sustained at the goal rate.
const (
	TargetP99  = time.Second
	TargetP50  = 200 * time.Millisecond
	GoalRate   = 3000.0
	sustainedF = 0.95 // achieved ≥ this share of the offered rate
)

// The CPU columns besides dev's stages (stagecpu's names).
const (
	PGBackends  = "pg-backends"  // the shares' INSERTs and commits (and the trigger's UPDATE)
	PGWalsender = "pg-walsender" // logical decoding for the CDC
	PGOther     = "pg-other"     // walwriter, checkpointer, dev's own connections…
	Bench       = "bench"        // this process: the share clients and the pollers
	Total       = "total"        // every column but the bench's
)

// Columns is the order of the CPU columns.
func Columns() []string {
	return []string{PGBackends, PGWalsender, PGOther, stagecpu.CDC, stagecpu.Kafka, stagecpu.Indexer, stagecpu.Signals,
		stagecpu.API, stagecpu.Events, stagecpu.Other, Total, Bench}
}

// Dist is a latency distribution in milliseconds (-1: beyond the
// window, a share not seen).
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Step is one offered rate in one mode.
type Step struct {
	Trigger bool    `json:"trigger"`
	Offered float64 `json:"offered_per_s"`
	Skipped bool    `json:"skipped,omitempty"` // a lower rate of the mode was not sustained
	// Shares committed, Achieved per second (those committed within the
	// step), Errors failed.
	Shares   int     `json:"shares"`
	Achieved float64 `json:"achieved_per_s"`
	Errors   int     `json:"errors"`
	// Visible: commit → at the top of the party feed, over every share
	// (those never seen count as beyond the window); Seen shares were
	// read so, Displaced ones pushed below the first page first (counted
	// at the read that had moved past them), NotVisible never, within the
	// step and its tail. AtCommit: a read had shown the listing at least
	// as new before the share's commit (counted 0).
	Visible Dist `json:"visible"`
	// SeenOnly is Visible over the seen shares alone: each is exact to a
	// read (the reads before it proved the share not applied yet). A
	// displaced share's figure is exact only if it was applied no later
	// than the ~100 listings' newer shares that pushed it off the page.
	SeenOnly   Dist `json:"seen_only"`
	Seen       int  `json:"seen"`
	Displaced  int  `json:"displaced"`
	NotVisible int  `json:"not_visible"`
	AtCommit   int  `json:"at_commit"`
	// Commit is the INSERT and its commit; Late the wait for a client
	// (open loop: a due share waits for a free connection).
	Commit Dist `json:"commit"`
	Late   Dist `json:"late"`
	// Reads of the first page and their round trip; Cache the reads by
	// Cache-Status.
	Reads      int            `json:"reads"`
	ReadErrors int            `json:"read_errors"`
	Read       Dist           `json:"read"`
	Cache      map[string]int `json:"cache"`
	// Events the indexer consumed in the window (shares, and the
	// trigger's listing updates).
	Events float64 `json:"indexer_events"`
	// CPU over the window (step + tail), in seconds per column, and in µs
	// per committed share; ProfileError says why dev's CPU is not split
	// (in process, or the profile failed: it is then all "other").
	CPU          map[string]float64 `json:"cpu_s"`
	CPUPerShare  map[string]float64 `json:"cpu_us_per_share"`
	ProfileError string             `json:"profile_error,omitempty"`
	WindowS      float64            `json:"window_s"`
	DrainS       float64            `json:"drain_after_s"`
	LoadAvg      [3]float64         `json:"loadavg"`
	Sustained    bool               `json:"sustained"`
}

// Report is the bench's outcome.
type Report struct {
	Listings        int64     `json:"listings"`
	Party           string    `json:"party"`
	Theme           string    `json:"theme"`
	PartyListings   int       `json:"party_listings"`
	Rates           []float64 `json:"rates"`
	StepS           float64   `json:"step_s"`
	TailS           float64   `json:"tail_s"`
	Clients         int       `json:"clients"`
	Zipf            float64   `json:"zipf"`
	Pollers         int       `json:"pollers"`
	PollIntervalMs  float64   `json:"poll_interval_ms"`
	DevArgs         string    `json:"dev_args,omitempty"`
	Cores           int       `json:"cores"`
	InProcess       bool      `json:"in_process,omitempty"`
	PrivatePostgres bool      `json:"private_postgres"`
	Steps           []Step    `json:"steps"`
	// Highest is, per mode, the highest offered rate sustained with p99 ≤
	// 1 s (0: none).
	HighestTrigger   float64    `json:"highest_sustained_trigger"`
	HighestNoTrigger float64    `json:"highest_sustained_no_trigger"`
	Counts           Counts     `json:"share_counts"`
	LoadAvgStart     [3]float64 `json:"loadavg_start"`
	LoadAvgEnd       [3]float64 `json:"loadavg_end"`
}

func dist(ds []time.Duration, missing int) Dist {
	n := len(ds) + missing
	if n == 0 {
		return Dist{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	at := func(p float64) float64 {
		rank := int(math.Ceil(p / 100 * float64(n)))
		rank = min(max(rank, 1), n)
		if rank > len(sorted) {
			return -1
		}
		return float64(sorted[rank-1].Microseconds()) / 1000
	}
	return Dist{N: n, P50: at(50), P99: at(99), Max: at(100)}
}

// measure matches the shares with the reads.
func (st *Step) measure(shares []share, o *observer, step time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	st.Shares = len(shares)
	var vis, seen, commit, late []time.Duration
	var first time.Time
	for _, s := range shares {
		if first.IsZero() || s.committed.Add(-s.commit-s.late).Before(first) {
			first = s.committed.Add(-s.commit - s.late)
		}
	}
	inStep := 0
	for _, s := range shares {
		commit, late = append(commit, s.commit), append(late, s.late)
		if !s.committed.After(first.Add(step)) {
			inStep++
		}
		at, displaced, ok := o.visible(s.listing, s.createdMs, s.committed)
		switch {
		case !ok:
			st.NotVisible++
			continue
		case displaced:
			st.Displaced++
		default:
			st.Seen++
			if at.Equal(s.committed) {
				st.AtCommit++
			}
			seen = append(seen, at.Sub(s.committed))
		}
		vis = append(vis, at.Sub(s.committed))
	}
	st.Achieved = float64(inStep) / step.Seconds()
	st.Visible, st.SeenOnly, st.Commit, st.Late = dist(vis, st.NotVisible), dist(seen, 0), dist(commit, 0), dist(late, 0)
	st.Reads, st.ReadErrors, st.Read, st.Cache = len(o.reads), o.errs, dist(o.pollTime, 0), maps.Clone(o.cache)
	st.Sustained = st.Shares > 0 && st.Errors == 0 && st.Achieved >= sustainedF*st.Offered &&
		st.Visible.P99 >= 0 && st.Visible.P99 <= float64(TargetP99.Milliseconds())
}

// cpu fills the CPU columns: Postgres's processes by class, dev's CPU
// split by the profile's stages, the bench's own.
func (st *Step) cpu(classes map[int]string, pg0, pg1 map[int]time.Duration, svc, bench time.Duration, prof []byte, profErr error) {
	st.CPU = map[string]float64{}
	for pid, c1 := range pg1 {
		class, ok := classes[pid]
		if !ok {
			class = PGOther
		}
		st.CPU[class] += (c1 - pg0[pid]).Seconds() // a process started within the window counts whole
	}
	split := map[string]time.Duration{}
	if profErr == nil && prof != nil {
		split, profErr = stagecpu.Split(prof)
	}
	var sampled time.Duration
	for _, c := range split {
		sampled += c
	}
	switch {
	case profErr != nil:
		st.ProfileError = profErr.Error()
		st.CPU[stagecpu.Other] += svc.Seconds()
	case sampled == 0:
		st.ProfileError = "dev runs in the bench's process: its CPU is not told apart"
	default:
		// The profile's samples give the shares; /proc the total.
		for stage, c := range split {
			st.CPU[stage] += svc.Seconds() * c.Seconds() / sampled.Seconds()
		}
	}
	var total float64
	for _, v := range st.CPU {
		total += v
	}
	st.CPU[Total], st.CPU[Bench] = total, bench.Seconds()
	st.CPUPerShare = map[string]float64{}
	if st.Shares > 0 {
		for k, v := range st.CPU {
			st.CPUPerShare[k] = v * 1e6 / float64(st.Shares)
		}
	}
}

func (r *Report) fill() {
	for _, s := range r.Steps {
		if !s.Sustained || s.Skipped {
			continue
		}
		if s.Trigger {
			r.HighestTrigger = max(r.HighestTrigger, s.Offered)
		} else {
			r.HighestNoTrigger = max(r.HighestNoTrigger, s.Offered)
		}
	}
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return benchkit.WriteJSON(w, r) }

// WriteText prints the report for people: one row per rate and mode.
func (r *Report) WriteText(w io.Writer) error {
	la := func(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }
	where := "dev in a child process"
	if r.InProcess {
		where = "dev in the bench's process (its CPU is not split)"
	}
	fmt.Fprintf(w, "bench sharerate: %d listings, party %s (theme %s, %d listings), %s, %d cores\n", r.Listings, r.Party, r.Theme, r.PartyListings, where, r.Cores)
	if r.DevArgs != "" {
		fmt.Fprintf(w, "dev flags  %s\n", r.DevArgs)
	}
	fmt.Fprintf(w, "shares     open loop, %d connections, one INSERT + commit each, Zipf s=%.2f over the party's listings, %.0f s per rate and mode, then %.0f s more of reads\n",
		r.Clients, r.Zipf, r.StepS, r.TailS)
	fmt.Fprintf(w, "visible    COMMIT → the feed's first page (limit %d, %d pollers every %.0f ms) shows the listing at or after the share's created_at\n",
		pageSize, r.Pollers, r.PollIntervalMs)
	fmt.Fprintf(w, "%-7s %6s %7s %8s %8s %8s %7s %7s %6s %9s %8s %8s\n", "trigger", "offer", "achieved", "vis p50", "vis p99", "vis max", "seen", "displ", "lost", "seen p99", "commit99", "load1")
	for _, s := range r.Steps {
		mode := "off"
		if s.Trigger {
			mode = "on"
		}
		if s.Skipped {
			fmt.Fprintf(w, "%-7s %6.0f  skipped: a lower rate was not sustained\n", mode, s.Offered)
			continue
		}
		mark := ""
		if s.Sustained {
			mark = " ok"
		}
		fmt.Fprintf(w, "%-7s %6.0f %7.0f %8s %8s %8s %7d %7d %6d %9s %8s %8.2f%s\n", mode, s.Offered, s.Achieved, ms(s.Visible.P50), ms(s.Visible.P99), ms(s.Visible.Max),
			s.Seen, s.Displaced, s.NotVisible, ms(s.SeenOnly.P99), ms(s.Commit.P99), s.LoadAvg[0], mark)
	}
	fmt.Fprintf(w, "\nCPU µs per share over the step and its tail (Postgres by process; dev by pprof stage label, scaled to its /proc CPU)\n")
	cols := Columns()
	fmt.Fprintf(w, "%-7s %6s", "trigger", "offer")
	for _, c := range cols {
		fmt.Fprintf(w, " %12s", c)
	}
	fmt.Fprintln(w)
	for _, s := range r.Steps {
		if s.Skipped {
			continue
		}
		mode := "off"
		if s.Trigger {
			mode = "on"
		}
		fmt.Fprintf(w, "%-7s %6.0f", mode, s.Offered)
		for _, c := range cols {
			fmt.Fprintf(w, " %12.0f", s.CPUPerShare[c])
		}
		fmt.Fprintln(w)
	}
	var notes []string
	for _, s := range r.Steps {
		if s.ProfileError != "" {
			notes = append(notes, fmt.Sprintf("%.0f/s: %s", s.Offered, s.ProfileError))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "profile    %s\n", strings.Join(slices.Compact(notes), "; "))
	}
	fmt.Fprintln(w)
	for _, s := range r.Steps {
		if s.Skipped {
			continue
		}
		fmt.Fprintf(w, "step       trigger=%-5v %5.0f/s: %d shares, %d errors, %.0f indexer events; reads %d (%d errors, round trip p50 %s p99 %s) cache %v; %d seen at commit; drained %.1f s after\n",
			s.Trigger, s.Offered, s.Shares, s.Errors, s.Events, s.Reads, s.ReadErrors, ms(s.Read.P50), ms(s.Read.P99), s.Cache, s.AtCommit, s.DrainS)
	}
	best := func(v float64) string {
		if v == 0 {
			return "none"
		}
		return fmt.Sprintf("%.0f/s", v)
	}
	fmt.Fprintf(w, "sustained  highest rate with p99 ≤ %v (achieved ≥ %.0f%% of offered, no errors): trigger %s, no trigger %s (goal %.0f/s, p50 ≤ %v)\n",
		TargetP99, 100*sustainedF, best(r.HighestTrigger), best(r.HighestNoTrigger), GoalRate, TargetP50)
	c := r.Counts
	fmt.Fprintf(w, "counts     every party's share_count (API) = shares with its party_id inside its window (SQL): %v — %d parties, %d differ (after %.1f s)\n",
		c.OK, c.Parties, len(c.Differ), c.WaitedS)
	for _, d := range c.Differ[:min(5, len(c.Differ))] {
		fmt.Fprintf(w, "           %s: API %d, SQL %d\n", d.Party, d.API, d.SQL)
	}
	fmt.Fprintf(w, "loadavg    start %s  end %s\n", la(r.LoadAvgStart), la(r.LoadAvgEnd))
	return nil
}
