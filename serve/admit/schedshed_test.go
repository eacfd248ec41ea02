package admit_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/serve/admit"
)

const ms = int64(time.Millisecond)

// TestSchedShedLevel scripts the scheduler's p99 per interval: late
// intervals raise the level by the step up to its bound, an interval
// between half the target and the target holds it, a quick one lowers it
// by a fifth of the step.
func TestSchedShedLevel(t *testing.T) {
	s, err := admit.NewSchedShed(admit.SchedShedConfig{Target: 5 * time.Millisecond, Step: 0.25, MaxLevel: 0.6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		p99  int64
		want float64
	}{
		{1 * ms, 0},     // quick: nothing to release
		{5 * ms, 0},     // at the target: not above it
		{6 * ms, 0.25},  // late
		{20 * ms, 0.5},  // late
		{20 * ms, 0.6},  // bounded
		{3 * ms, 0.6},   // between half the target and the target: held
		{2 * ms, 0.55},  // quick: a fifth of the step
		{0, 0.5},        // an idle interval
		{100 * ms, 0.6}, // late again
		{2 * ms, 0.55},  // released slowly
		{2 * ms, 0.5},   //
		{2 * ms, 0.45},  //
		{2 * ms, 0.4},   //
		{2 * ms, 0.35},  //
		{2 * ms, 0.3},   //
		{2 * ms, 0.25},  //
		{2 * ms, 0.2},   //
		{2 * ms, 0.15},  //
		{2 * ms, 0.1},   //
		{2 * ms, 0.05},  //
		{2 * ms, 0},     //
		{2 * ms, 0},     // not below 0
	}
	for i, st := range steps {
		s.Observe(st.p99, 25)
		if got := s.Level(); math.Abs(got-st.want) > 1e-9 {
			t.Fatalf("step %d (p99 %v): level %.3f, want %.3f", i, time.Duration(st.p99), got, st.want)
		}
	}
	// Late with few reads (a background job's CPU): held.
	s.Observe(50*ms, 24)
	if s.Level() != 0 {
		t.Fatalf("late with 24 reads (the minimum is 25): level %.3f", s.Level())
	}
	if _, err := admit.NewSchedShed(admit.SchedShedConfig{}, nil); err == nil {
		t.Fatal("a zero target was accepted")
	}
	if _, err := admit.NewSchedShed(admit.SchedShedConfig{Target: time.Millisecond, Step: 2}, nil); err == nil {
		t.Fatal("a step above 1 was accepted")
	}
}

// TestSchedShedOrder: later pages go first. Up to level 0.5 only later
// pages are shed (all of them at 0.5), past it first pages too; at 0
// nothing is.
func TestSchedShedOrder(t *testing.T) {
	for _, c := range []struct {
		level, u    float64
		later, shed bool
	}{
		{0, 0, true, false},
		{0, 0, false, false},
		{0.25, 0.49, true, true},
		{0.25, 0.5, true, false},
		{0.25, 0, false, false},
		{0.5, 0.999, true, true},
		{0.5, 0, false, false},
		{0.75, 0.49, false, true},
		{0.75, 0.5, false, false},
		{0.95, 0.89, false, true},
		{0.95, 0.9, false, false},
	} {
		if got := admit.Sheds(c.level, c.u, c.later); got != c.shed {
			t.Errorf("level %.2f draw %.3f later %v: shed %v, want %v", c.level, c.u, c.later, got, c.shed)
		}
	}
}

// TestSchedShedMiddleware: at level 0.5 every later page is shed with 503
// overloaded and Retry-After (checked against the OpenAPI document), every
// first page, probe and write passes; released, a later page gets through
// (to its handler, which refuses the made-up cursor).
func TestSchedShedMiddleware(t *testing.T) {
	s, err := admit.NewSchedShed(admit.SchedShedConfig{Target: 5 * time.Millisecond, Step: 0.5, MaxLevel: 0.5, RetryAfter: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, c := server(t, &backend{}, s.Middleware)
	s.Observe(50*ms, 25)
	for range 20 {
		r := c.Get(t, "/v1/search?q=dress&cursor=abc")
		var body struct {
			Error struct{ Code, Message, Field string }
		}
		r.Decode(t, &body)
		if r.Status != http.StatusServiceUnavailable || body.Error.Code != admit.CodeOverloaded || r.Header.Get("Retry-After") != "2" {
			t.Fatalf("a later page at level 0.5: %d %q Retry-After %q", r.Status, body.Error.Code, r.Header.Get("Retry-After"))
		}
		if r := c.Get(t, "/v1/search?q=dress"); r.Status != http.StatusOK {
			t.Fatalf("a first page at level 0.5: %d", r.Status)
		}
	}
	if r := c.Get(t, "/healthz"); r.Status != http.StatusOK {
		t.Fatalf("/healthz while shedding: %d", r.Status)
	}
	for s.Level() > 0 {
		s.Observe(0, 0)
	}
	if r := c.Get(t, "/v1/search?q=dress&cursor=abc"); r.Status != http.StatusBadRequest {
		t.Fatalf("a later page with a made-up cursor, released: %d, want 400 from the handler", r.Status)
	}
}

// TestDeltaQuantile reads quantiles of the observations between two reads
// of a cumulative histogram.
func TestDeltaQuantile(t *testing.T) {
	buckets := []float64{0, 0.001, 0.002, 0.004, math.Inf(1)}
	prev := []uint64{10, 10, 10, 10}
	counts := []uint64{10 + 90, 10 + 8, 10 + 1, 10 + 1} // 100 new: 90 under 1 ms, 8 under 2, 1 under 4, 1 above
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, time.Millisecond}, {0.9, time.Millisecond}, {0.95, 2 * time.Millisecond}, {0.99, 4 * time.Millisecond}, {1, 4 * time.Millisecond}} {
		got, ok := admit.DeltaQuantile(buckets, counts, prev, c.q)
		if !ok || got != c.want {
			t.Errorf("q %.2f: %v %v, want %v", c.q, got, ok, c.want)
		}
	}
	if _, ok := admit.DeltaQuantile(buckets, prev, prev, 0.99); ok {
		t.Error("no new observation gave a quantile")
	}
}

// TestSchedShedReadsTheRuntime: this Go runtime has the metric, and a read
// after goroutines ran gives a p99 of their waits.
func TestSchedShedReadsTheRuntime(t *testing.T) {
	s, err := admit.NewSchedShed(admit.SchedShedConfig{Target: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ReadSchedLatency() // the baseline
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() { defer wg.Done() }()
	}
	wg.Wait()
	if p99, ok := s.ReadSchedLatency(); !ok || p99 < 0 {
		t.Fatalf("after 100 goroutines ran: p99 %v, %v", time.Duration(p99), ok)
	}
}

// BenchmarkSchedShed is the server CPU of one request shed by the
// scheduling shed, the whole way through the API (routing, the 503 JSON
// body): a later page at level 0.5.
func BenchmarkSchedShed(b *testing.B) {
	s, err := admit.NewSchedShed(admit.SchedShedConfig{Target: time.Millisecond, Step: 0.5, MaxLevel: 0.5}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s.Observe(50*ms, 25)
	srv, _ := server(b, &backend{}, s.Middleware)
	req := authorized("/v1/search?q=dress&facets=brand&cursor=abc")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusServiceUnavailable {
			b.Fatal(w.Code)
		}
	}
}

// TestSchedShedCountsArrivals: every /v1 read counts toward the
// interval's arrivals, shed or let in; probes do not.
func TestSchedShedCountsArrivals(t *testing.T) {
	s, err := admit.NewSchedShed(admit.SchedShedConfig{Target: 5 * time.Millisecond, Step: 0.5, MaxLevel: 0.5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, c := server(t, &backend{}, s.Middleware)
	c.Get(t, "/v1/search?q=dress")
	s.Observe(50*ms, 25)
	c.Get(t, "/v1/search?q=dress&cursor=abc") // shed
	c.Get(t, "/v1/search?q=dress")
	c.Get(t, "/healthz")
	if n := s.Arrivals(); n != 3 {
		t.Fatalf("arrivals %d, want 3", n)
	}
}
