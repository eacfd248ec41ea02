package pipeline

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/query"
)

// Recorder measures commit → searchable latency. It wraps the index the
// pipeline applies to: when Apply returns nil the batch is durable and
// visible to searches, and that instant is when each change in it became
// searchable. A writer marks each change with a unique number in
// price_cents (Committed, after its transaction committed); a change that
// the indexer coalesced away (a newer one of the same listing in the same
// batch won) became searchable with its successor.
type Recorder struct {
	next indexer.Applier

	mu        sync.Mutex
	pending   map[string][]*mark // listing id → marks not yet seen applied, by marker order
	byMarker  map[int64]*mark
	latencies []time.Duration
	commits   []time.Time      // commit time of each latency
	seen      int              // marks resolved
	last      map[string]int64 // listing id → the marker it was last applied with
}

type mark struct {
	id      string
	marker  int64
	commit  time.Time // zero until Committed
	applied time.Time // zero until applied
}

// NewRecorder wraps next.
func NewRecorder(next indexer.Applier) *Recorder {
	return &Recorder{next: next, pending: map[string][]*mark{}, byMarker: map[int64]*mark{}, last: map[string]int64{}}
}

// Expect registers a change before its transaction commits: listing id will
// carry marker in price_cents. Markers must be unique, and grow in commit
// order per listing: one writer at a time per listing (Load gives each
// worker its own listings).
func (r *Recorder) Expect(id string, marker int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &mark{id: id, marker: marker}
	r.byMarker[marker] = m
	r.pending[id] = append(r.pending[id], m)
}

// Committed records the commit time of the changes of markers.
func (r *Recorder) Committed(at time.Time, markers ...int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.registered(markers) {
		m.commit = at
		if !m.applied.IsZero() { // applied before the writer saw the commit
			r.resolve(m)
		}
	}
}

// Forget drops the marks of a transaction that failed.
func (r *Recorder) Forget(markers ...int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.registered(markers) {
		delete(r.byMarker, m.marker)
		r.pending[m.id] = slices.DeleteFunc(r.pending[m.id], func(x *mark) bool { return x == m })
	}
}

// registered yields the marks of those markers that Expect registered and
// that are not resolved or forgotten yet. r.mu must be held.
func (r *Recorder) registered(markers []int64) iter.Seq[*mark] {
	return func(yield func(*mark) bool) {
		for _, k := range markers {
			if m := r.byMarker[k]; m != nil && !yield(m) {
				return
			}
		}
	}
}

// Apply applies the batch, then stamps the marks it makes searchable.
func (r *Recorder) Apply(ctx context.Context, batch []query.Change) (query.ApplyStats, error) {
	st, err := r.next.Apply(ctx, batch)
	if err != nil {
		return st, err
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range batch {
		c := &batch[i]
		if c.Doc == nil {
			continue
		}
		r.applied(c.ID, c.Doc.PriceCents, now)
	}
	return st, nil
}

// applied handles listing id seen searchable with marker k at now: that
// change and every earlier one of the same listing (a smaller marker; the
// indexer may have coalesced them away) became searchable then.
func (r *Recorder) applied(id string, k int64, now time.Time) {
	r.last[id] = k
	marks := r.pending[id]
	n := 0
	for _, m := range marks {
		if m.marker > k {
			break
		}
		n++
		if m.applied.IsZero() {
			m.applied = now
		}
		if !m.commit.IsZero() { // else Committed resolves it
			r.resolve(m)
		}
	}
	if n == len(marks) {
		delete(r.pending, id)
	} else if n > 0 {
		r.pending[id] = marks[n:]
	}
}

func (r *Recorder) resolve(m *mark) {
	if _, ok := r.byMarker[m.marker]; !ok {
		return
	}
	delete(r.byMarker, m.marker)
	r.latencies = append(r.latencies, max(0, m.applied.Sub(m.commit)))
	r.commits = append(r.commits, m.commit)
	r.seen++
}

// Outstanding is the number of expected changes not yet seen searchable.
func (r *Recorder) Outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byMarker)
}

// Missing describes up to n changes never seen searchable, for diagnosis:
// the listing, its marker, whether the commit was seen, and the marker the
// index last applied for that listing.
func (r *Recorder) Missing(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.byMarker {
		if len(out) == n {
			break
		}
		out = append(out, fmt.Sprintf("%s marker %d committed %v applied %v last applied marker %d",
			m.id, m.marker, !m.commit.IsZero(), !m.applied.IsZero(), r.last[m.id]))
	}
	return out
}

// LatencySummary describes the recorded latencies.
type LatencySummary struct {
	Count       int     `json:"count"`
	Outstanding int     `json:"outstanding"` // expected, never seen searchable
	P50Ms       float64 `json:"p50_ms"`
	P95Ms       float64 `json:"p95_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	MeanMs      float64 `json:"mean_ms"`
	// Windows splits the changes by commit time into windows of
	// SummaryWindow from the first commit: is a slow tail a transient
	// (the first seconds after a snapshot) or steady?
	Windows []LatencyWindow `json:"windows,omitempty"`
}

// SummaryWindow is the width of LatencySummary.Windows.
const SummaryWindow = 10 * time.Second

// LatencyWindow summarizes the changes committed in one window.
type LatencyWindow struct {
	StartS float64 `json:"start_s"` // seconds after the first commit
	Count  int     `json:"count"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summary computes the percentiles so far.
func (r *Recorder) Summary() LatencySummary {
	r.mu.Lock()
	l := slices.Clone(r.latencies)
	commits := slices.Clone(r.commits)
	s := LatencySummary{Count: len(l), Outstanding: len(r.byMarker)}
	r.mu.Unlock()
	if len(l) == 0 {
		return s
	}
	s.Windows = windows(commits, l)
	slices.Sort(l)
	q := func(p float64) float64 { return quantileMs(l, p) }
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	s.P50Ms, s.P95Ms, s.P99Ms, s.MaxMs = q(0.50), q(0.95), q(0.99), q(1)
	s.MeanMs = toMs(sum / time.Duration(len(l)))
	return s
}

func windows(commits []time.Time, lat []time.Duration) []LatencyWindow {
	first := slices.MinFunc(commits, func(a, b time.Time) int { return a.Compare(b) })
	var by [][]time.Duration
	for i, c := range commits {
		w := int(c.Sub(first) / SummaryWindow)
		for len(by) <= w {
			by = append(by, nil)
		}
		by[w] = append(by[w], lat[i])
	}
	out := make([]LatencyWindow, 0, len(by))
	for w, l := range by {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		out = append(out, LatencyWindow{StartS: (time.Duration(w) * SummaryWindow).Seconds(), Count: len(l),
			P50Ms: quantileMs(l, 0.5), P99Ms: quantileMs(l, 0.99), MaxMs: quantileMs(l, 1)})
	}
	return out
}

// quantileMs is the p quantile of sorted latencies, in milliseconds.
func quantileMs(sorted []time.Duration, p float64) float64 {
	return toMs(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))])
}

func toMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
