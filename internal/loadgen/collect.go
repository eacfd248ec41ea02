package loadgen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/progress"
)

// The cache states of an answer (Cache-Status).
const (
	cacheNone uint8 = iota
	cacheHit
	cacheStale
	cacheMiss
)

// sample is one request's outcome.
type sample struct {
	issued, lat time.Duration // issued: since the run began
	code        uint16
	cache       uint8
	degraded    bool
	shed        bool // 503 with Retry-After: the admission shed it
	failed      bool // no answer (timeout, connection error)
	kind        string
}

// collector gathers the samples of a run.
type collector struct {
	du    time.Duration
	plan  *plan
	kinds sync.Map // URL → kind

	mu      sync.Mutex
	samples []sample
	learned int
	vis     Visibility
}

// Visibility is what the drop scenario's newest-first pages showed of the
// drop (listings available at T0, within a second): before T0 none may
// show; from T0 + 1 s every page should.
type Visibility struct {
	// Before: pages answered before T0, and those showing a listing not
	// yet available when the page was asked (a leak).
	Before, Early int
	// After: pages asked from T0 + 1 s, and those showing the drop.
	After, Shown int
}

func newCollector(du time.Duration, p *plan) *collector {
	return &collector{du: du, plan: p}
}

// add records r and returns the count so far.
func (col *collector) add(r *vegeta.Result, start time.Time, kind string) int64 {
	s := sample{issued: r.Timestamp.Sub(start), lat: r.Latency, code: r.Code, kind: kind}
	if s.kind == "" {
		if k, ok := col.kinds.Load(r.URL); ok {
			s.kind = k.(string)
		}
	}
	if r.Code == 0 {
		s.failed = true
	}
	h := http.Header(r.Headers)
	switch h.Get("Cache-Status") {
	case "":
	case "rummage; hit":
		s.cache = cacheHit
	case "rummage; hit; detail=stale":
		s.cache = cacheStale
	default:
		s.cache = cacheMiss
	}
	s.degraded = h.Get("Rummage-Degraded") != ""
	s.shed = r.Code == http.StatusServiceUnavailable && h.Get("Retry-After") != ""
	col.mu.Lock()
	col.samples = append(col.samples, s)
	n := len(col.samples)
	learn := col.plan.drop != nil && s.kind == KindNewest && s.issued >= col.plan.t0 && r.Code == http.StatusOK && col.learned < 200
	if learn {
		col.learned++
	}
	col.mu.Unlock()
	if learn {
		col.plan.drop.Learn(r.Body)
	}
	if col.plan.drop != nil && s.kind == KindNewest && r.Code == http.StatusOK {
		col.visibility(r.Body, start, s)
	}
	r.Body = nil
	return int64(n)
}

func (col *collector) count() int64 {
	col.mu.Lock()
	defer col.mu.Unlock()
	return int64(len(col.samples))
}

// visibility checks one newest-first page of the drop scenario.
func (col *collector) visibility(body []byte, start time.Time, s sample) {
	var page struct {
		Hits []struct {
			AvailableAt *time.Time `json:"available_at"`
		} `json:"hits"`
	}
	if json.Unmarshal(body, &page) != nil {
		return
	}
	asked := start.Add(s.issued)
	t0 := start.Add(col.plan.t0)
	early, shown := false, false
	for _, h := range page.Hits {
		if h.AvailableAt == nil {
			continue
		}
		if h.AvailableAt.After(asked) {
			early = true
		}
		if d := h.AvailableAt.Sub(t0); d > -time.Second && d < time.Second {
			shown = true
		}
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	switch {
	case s.issued < col.plan.t0:
		col.vis.Before++
		if early {
			col.vis.Early++
		}
	case s.issued >= col.plan.t0+time.Second:
		col.vis.After++
		if shown {
			col.vis.Shown++
		}
	}
}

// progress logs a line every progress interval until done: answers so far,
// the offered rate now, the achieved rate, errors and p99 of the last
// interval.
func (col *collector) progress(prog *progress.Reporter, shape Shape, start time.Time, done <-chan struct{}) {
	tk := time.NewTicker(progress.DefaultInterval)
	defer tk.Stop()
	last := 0
	for {
		select {
		case <-done:
			return
		case <-tk.C:
		}
		col.mu.Lock()
		recent := slices.Clone(col.samples[last:])
		last = len(col.samples)
		col.mu.Unlock()
		lat := make([]time.Duration, 0, len(recent))
		bad := 0
		for _, s := range recent {
			lat = append(lat, s.lat)
			if s.failed || s.code >= 500 {
				bad++
			}
		}
		slices.Sort(lat)
		prog.Report(int64(last), "offered_rps", int(shape.Rate(time.Since(start))),
			"achieved_rps", int(float64(len(recent))/progress.DefaultInterval.Seconds()),
			"errors_5xx", bad, "p99", benchkit.FormatDuration(benchkit.Percentile(lat, 99)))
	}
}

// Latency is a set of percentiles, in milliseconds.
type Latency struct {
	N     int     `json:"n"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Total float64 `json:"-"`
}

func latencyOf(lat []time.Duration) Latency {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	l := Latency{N: len(lat)}
	if len(lat) == 0 {
		return l
	}
	l.P50, l.P99, l.P999 = ms(benchkit.Percentile(lat, 50)), ms(benchkit.Percentile(lat, 99)), ms(benchkit.Percentile(lat, 99.9))
	l.Max = ms(lat[len(lat)-1])
	return l
}

// report summarizes the samples against the offered schedule.
func (col *collector) report(cfg Config, offered *Schedule, elapsed time.Duration) *Report {
	col.mu.Lock()
	defer col.mu.Unlock()
	secs := int((col.du + time.Second - 1) / time.Second)
	rep := &Report{Scenario: cfg.Scenario, Target: cfg.Target, Duration: col.du.Seconds(), Elapsed: elapsed.Seconds(),
		Status: map[string]int{}, Kinds: map[string]*KindReport{}, LagLimit: cfg.LagLimit}
	rep.Seconds = make([]Second, secs)
	for i := range rep.Seconds {
		rep.Seconds[i] = Second{T: i, Offered: offered.Hits(time.Duration(i+1)*time.Second) - offered.Hits(time.Duration(i)*time.Second)}
	}
	var all, admitted []time.Duration
	kindLat := map[string][]time.Duration{}
	var cacheable, hits, stale int
	for _, s := range col.samples {
		rep.Sent++
		if i := int(s.issued / time.Second); i >= 0 && i < secs {
			rep.Seconds[i].Sent++
		}
		if i := int((s.issued + s.lat) / time.Second); i >= 0 && i < secs && !s.failed {
			rep.Seconds[i].Achieved++
		}
		code := "error"
		if !s.failed {
			code = strconv.Itoa(int(s.code))
		}
		rep.Status[code]++
		all = append(all, s.lat)
		ok := s.code == http.StatusOK || s.code == http.StatusNotModified
		if ok {
			admitted = append(admitted, s.lat)
			rep.Good++
		}
		if s.shed {
			rep.Shed++
		}
		if s.code == http.StatusTooManyRequests {
			rep.RateLimited++
		}
		if s.degraded {
			rep.Degraded++
		}
		if s.cache != cacheNone {
			cacheable++
			switch s.cache {
			case cacheHit:
				hits++
			case cacheStale:
				hits++
				stale++
			}
		}
		k := rep.Kinds[s.kind]
		if k == nil {
			k = &KindReport{}
			rep.Kinds[s.kind] = k
		}
		k.Requests++
		if ok {
			kindLat[s.kind] = append(kindLat[s.kind], s.lat)
		}
		if s.cache == cacheHit || s.cache == cacheStale {
			k.CacheHits++
		}
	}
	for kind, lat := range kindLat {
		rep.Kinds[kind].Admitted = latencyOf(lat)
	}
	rep.Offered = float64(offered.Arrivals())
	rep.Latency, rep.Admitted = latencyOf(all), latencyOf(admitted)
	if cacheable > 0 {
		rep.CacheHitRatio = float64(hits) / float64(cacheable)
		rep.StaleRatio = float64(stale) / float64(cacheable)
	}
	rep.Cacheable = cacheable
	if rep.Sent > 0 {
		rep.ShedRatio = float64(rep.Shed) / float64(rep.Sent)
	}
	rep.Goodput = float64(rep.Good) / col.du.Seconds()
	if col.plan.drop != nil {
		v := col.vis
		rep.Visibility = &v
		if v.Early > 0 {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%d pages before T0 showed a listing not yet available", v.Early))
		}
	}
	rep.Lag = lagOf(rep.Seconds)
	if rep.Lag > cfg.LagLimit {
		rep.Failures = append(rep.Failures, "the generator lagged: raise --max-workers, lower the rate, or give the load tool its own core")
	}
	rep.Pass = len(rep.Failures) == 0
	return rep
}

// minLagBase is the cumulative offered count below which a second's
// deficit is not judged (rounding of the first arrivals).
const minLagBase = 50

// lagOf is the generator's worst lag: the largest shortfall of the
// requests issued by the end of a second against those offered by then,
// as a fraction of the latter.
func lagOf(secs []Second) float64 {
	var off, sent, worst float64
	for _, s := range secs {
		off += s.Offered
		sent += float64(s.Sent)
		if off >= minLagBase {
			worst = max(worst, (off-sent)/off)
		}
	}
	return worst
}
