// Package benchkit is the measuring plumbing of the rummage bench commands:
// a closed-loop load runner that records the latency of every operation,
// the schedule of an open-loop rate sweep (Offer),
// percentiles and throughput, readings of the process's memory and the
// machine's load average from /proc, a bench's working directory, and a
// served child process (Child).
//
// It knows nothing of search or indexing; it imports only the standard
// library.
package benchkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Plan says how long to run an operation and how many callers run it at
// once. Exactly one of Duration and Iterations bounds the run; when both
// are set the run stops at whichever comes first.
type Plan struct {
	// Duration of the measured run.
	Duration time.Duration
	// Iterations of the operation, over all workers.
	Iterations int
	// Concurrency is the number of workers, each calling the operation in
	// a closed loop (the next call starts when the previous returns).
	// Default 1.
	Concurrency int
	// Warmup iterations, not recorded, run by one worker before the
	// measured run.
	Warmup int
	// MinIterations, when Duration bounds the run, keeps it going until at
	// least this many operations completed (slow operations still get a
	// usable p50). Default 1.
	MinIterations int
}

// Validate checks the plan.
func (p Plan) Validate() error {
	switch {
	case p.Duration <= 0 && p.Iterations <= 0:
		return errors.New("benchkit: Plan needs a Duration or Iterations")
	case p.Duration < 0 || p.Iterations < 0 || p.Concurrency < 0 || p.Warmup < 0 || p.MinIterations < 0:
		return errors.New("benchkit: Plan fields must be >= 0")
	}
	return nil
}

// Summary describes a run. Latencies are per operation, as seen by the
// caller; QPS is completed operations per second of wall time over all
// workers. Its JSON form gives durations in milliseconds.
type Summary struct {
	N           int
	Concurrency int
	Elapsed     time.Duration
	QPS         float64
	Mean        time.Duration
	P50         time.Duration
	P90         time.Duration
	P99         time.Duration
	Max         time.Duration
	// CPUPerOp is the process's CPU time (all threads, GC included) during
	// the run divided by N: what one operation costs whatever else runs
	// on the machine. Zero when not measured.
	CPUPerOp time.Duration
	// OnCPUP50 and OnCPUP99 are percentiles of the CPU time of the worker's
	// own thread during each operation (Linux): the operation's latency
	// minus the time it waited for a CPU or for I/O, and minus work other
	// threads did for it (parallel GC marking). On a machine shared with
	// other load, they show what the latency percentiles would be on an
	// idle one. Zero when not measured.
	OnCPUP50, OnCPUP99 time.Duration
}

// String is a one-line rendering of s.
func (s Summary) String() string {
	return fmt.Sprintf("n=%d c=%d p50=%s p99=%s max=%s qps=%.1f", s.N, s.Concurrency,
		FormatDuration(s.P50), FormatDuration(s.P99), FormatDuration(s.Max), s.QPS)
}

// Summarize computes the summary of latencies (in any order) measured over
// elapsed wall time by concurrency workers. Percentiles are nearest-rank:
// p99 of 100 samples is the 99th smallest.
func Summarize(lat []time.Duration, elapsed time.Duration, concurrency int) Summary {
	s := Summary{N: len(lat), Concurrency: concurrency, Elapsed: elapsed}
	if len(lat) == 0 {
		return s
	}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	s.Mean = sum / time.Duration(len(sorted))
	s.P50 = Percentile(sorted, 50)
	s.P90 = Percentile(sorted, 90)
	s.P99 = Percentile(sorted, 99)
	s.Max = sorted[len(sorted)-1]
	if elapsed > 0 {
		s.QPS = float64(len(sorted)) / elapsed.Seconds()
	}
	return s
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order and not empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Op is one operation of a run. i counts the operations started so far
// (over all workers, from 0), so an operation can pick its variant as
// variants[i%len(variants)].
type Op func(ctx context.Context, i int) error

// Run runs op according to plan and summarizes the latencies. The first
// error of op stops the run and is returned.
func Run(ctx context.Context, plan Plan, op Op) (Summary, error) {
	if err := plan.Validate(); err != nil {
		return Summary{}, err
	}
	conc := max(plan.Concurrency, 1)
	for i := range plan.Warmup {
		if err := op(ctx, i); err != nil {
			return Summary{}, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64 // operations started
		done     atomic.Int64 // operations completed
		stop     atomic.Bool
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, conc)
		oncpu    = make([][]time.Duration, conc)
	)
	minIter := int64(max(plan.MinIterations, 1))
	start, cpu0 := time.Now(), ProcessCPU()
	var deadline time.Time
	if plan.Duration > 0 {
		deadline = start.Add(plan.Duration)
	}
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // for threadCPU
			defer runtime.UnlockOSThread()
			for !stop.Load() {
				i := next.Add(1) - 1
				if plan.Iterations > 0 && i >= int64(plan.Iterations) {
					return
				}
				c0, t0 := threadCPU(), time.Now()
				err := op(ctx, int(i)+plan.Warmup)
				t1, c1 := time.Now(), threadCPU()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					cancel()
					return
				}
				lats[w] = append(lats[w], t1.Sub(t0))
				if c0 > 0 {
					oncpu[w] = append(oncpu[w], c1-c0)
				}
				n := done.Add(1)
				if !deadline.IsZero() && !t1.Before(deadline) && n >= minIter {
					stop.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), ProcessCPU()-cpu0
	if firstErr != nil {
		return Summary{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	var all, on []time.Duration
	for w := range lats {
		all = append(all, lats[w]...)
		on = append(on, oncpu[w]...)
	}
	s := Summarize(all, elapsed, conc)
	if cpu0 > 0 && s.N > 0 {
		s.CPUPerOp = cpu / time.Duration(s.N)
	}
	if len(on) == s.N && s.N > 0 {
		slices.Sort(on)
		s.OnCPUP50, s.OnCPUP99 = Percentile(on, 50), Percentile(on, 99)
	}
	return s, nil
}

// FormatDuration renders d with three significant digits in a fitting
// unit: 850µs, 12.3ms, 1.25s.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// MarshalJSON renders durations as milliseconds (floats), the unit people
// read latency in.
func (s Summary) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return json.Marshal(struct {
		N           int     `json:"n"`
		Concurrency int     `json:"concurrency"`
		ElapsedS    float64 `json:"elapsed_s"`
		QPS         float64 `json:"qps"`
		MeanMs      float64 `json:"mean_ms"`
		P50Ms       float64 `json:"p50_ms"`
		P90Ms       float64 `json:"p90_ms"`
		P99Ms       float64 `json:"p99_ms"`
		MaxMs       float64 `json:"max_ms"`
		CPUPerOpMs  float64 `json:"cpu_per_op_ms"`
		OnCPUP50Ms  float64 `json:"on_cpu_p50_ms"`
		OnCPUP99Ms  float64 `json:"on_cpu_p99_ms"`
	}{s.N, s.Concurrency, s.Elapsed.Seconds(), math.Round(s.QPS*10) / 10, ms(s.Mean), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max),
		ms(s.CPUPerOp), ms(s.OnCPUP50), ms(s.OnCPUP99)})
}

// WaitIdle waits until this process has been nearly idle (under 5% of one
// CPU) for a whole second, so that background work (an index building
// caches after it opened) does not run during a measurement. It gives up
// after limit and returns how long it waited.
func WaitIdle(ctx context.Context, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		c0 := ProcessCPU()
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-time.After(time.Second):
		}
		if ProcessCPU()-c0 < 50*time.Millisecond {
			break
		}
	}
	return time.Since(start)
}

// WriteJSON writes a report as one indented JSON object.
func WriteJSON(w io.Writer, report any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

// WorkDir is a bench's working directory: dir when given (cleanup does
// nothing), else a new temporary one named after pattern (as
// os.MkdirTemp's) that cleanup removes.
func WorkDir(dir, pattern string) (_ string, cleanup func(), _ error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
