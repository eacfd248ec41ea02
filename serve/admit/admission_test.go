package admit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/serve/admit"
)

// scripted is a Limiter whose limit the test sets (as latencies would move
// an adaptive one) and which counts permits like a semaphore.
type scripted struct {
	mu       sync.Mutex
	limit    int
	inflight int
	recorded int
	dropped  int
}

func (s *scripted) TryAcquirePermit() (adaptivelimiter.Permit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight >= s.limit {
		return nil, false
	}
	s.inflight++
	return permit{s}, true
}

func (s *scripted) Limit() int     { s.mu.Lock(); defer s.mu.Unlock(); return s.limit }
func (s *scripted) Inflight() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.inflight }
func (s *scripted) setLimit(n int) { s.mu.Lock(); s.limit = n; s.mu.Unlock() }

type permit struct{ s *scripted }

func (p permit) Record() { p.s.mu.Lock(); p.s.inflight--; p.s.recorded++; p.s.mu.Unlock() }
func (p permit) Drop()   { p.s.mu.Lock(); p.s.inflight--; p.s.dropped++; p.s.mu.Unlock() }

// holder keeps requests in flight inside the backend until released.
type holder struct {
	entered chan struct{}
	release chan struct{}
}

func newHolder() *holder {
	return &holder{entered: make(chan struct{}, 64), release: make(chan struct{})}
}

func (h *holder) hold(ctx context.Context, r *query.Retrieval) error {
	h.entered <- struct{}{}
	<-h.release
	return nil
}

type answer struct {
	Status   int
	Code     string
	Degraded []string
	Header   http.Header
}

func TestAdmissionDegradesThenShedsLaterPagesThenFirstPages(t *testing.T) {
	lim := &scripted{limit: 4}
	a, err := admit.New(admit.Config{Floor: 1, Ceiling: 8, LaterShare: 0.75, Steps: admit.Steps{Personalization: 0.5, Limit: 0.5, Facets: 0.5}}, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{}
	s, client := server(t, b, a.Middleware)

	get := func(target string) answer {
		t.Helper()
		r := client.Get(t, target)
		var body struct {
			Degraded []string `json:"degraded"`
			Error    struct{ Code string }
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s: %v: %s", target, err, r.Body)
		}
		return answer{r.Status, body.Error.Code, body.Degraded, r.Header}
	}
	const first = "/v1/search?q=dress&facets=brand&limit=50"
	const later = "/v1/search?q=dress&cursor=abc"

	// Idle: a first page is answered whole.
	if got := get(first); got.Status != 200 || got.Degraded != nil || got.Header.Get(api.HeaderDegraded) != "" {
		t.Fatalf("idle: %+v", got)
	}

	// Keep n requests in flight, then send one more.
	h := newHolder()
	var wg sync.WaitGroup
	inflight := 0
	occupy := func(n int) {
		for ; inflight < n; inflight++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, "/v1/search?q=hold", nil)
				req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
				s.ServeHTTP(discard{}, req)
			}()
			<-h.entered
		}
	}
	// Requests sent between stay and leave stay in flight; probes do not.
	stay := func() { b.mu.Lock(); b.hold = h.hold; b.mu.Unlock() }
	leave := func() { b.mu.Lock(); b.hold = nil; b.mu.Unlock() }

	steps := []struct {
		inflight int
		target   string
		want     answer
	}{
		// 1 in flight, 2 with the probe: at the steps' 0.5×4, still whole.
		{1, first, answer{Status: 200}},
		// 3 with the probe: past them: N capped, facets dropped.
		{2, first, answer{Status: 200, Degraded: []string{query.DegradedLimit, query.DegradedFacets}}},
		// A later page is still admitted below LaterShare (3 of 4): its
		// cursor is bogus, so a 400 — but not shed.
		{2, later, answer{Status: 400, Code: "invalid_cursor"}},
		// 3 in flight: later pages are shed, first pages still admitted.
		{3, later, answer{Status: 503, Code: admit.CodeOverloaded}},
		{3, first, answer{Status: 200, Degraded: []string{query.DegradedLimit, query.DegradedFacets}}},
		// A degraded request that asked for nothing to give up is whole.
		{3, "/v1/search?q=dress", answer{Status: 200}},
		// 4 in flight: everything is shed.
		{4, first, answer{Status: 503, Code: admit.CodeOverloaded}},
	}
	for _, st := range steps {
		stay()
		occupy(st.inflight)
		leave()
		got := get(st.target)
		if got.Status != st.want.Status || got.Code != st.want.Code || !slices.Equal(got.Degraded, st.want.Degraded) {
			t.Errorf("%d in flight, %s: got %d %q degraded %v, want %d %q degraded %v",
				st.inflight, st.target, got.Status, got.Code, got.Degraded, st.want.Status, st.want.Code, st.want.Degraded)
		}
		if st.want.Degraded != nil && (!admit.IsDegraded(got.Header) || got.Header.Get("Cache-Control") != "no-store") {
			t.Errorf("%d in flight: degraded answer headers %v", st.inflight, got.Header)
		}
		if got.Status == 503 && got.Header.Get("Retry-After") != "1" {
			t.Errorf("shed without Retry-After 1: %v", got.Header)
		}
	}

	// The limit moves up (latencies improved): the same load is admitted.
	lim.setLimit(8)
	if got := get(later); got.Status == 503 {
		t.Errorf("limit 8, 4 in flight: later page shed")
	}
	// Probes bypass admission even when it is full.
	lim.setLimit(4)
	for _, p := range []string{"/healthz", "/metrics"} {
		if got := client.Get(t, p); got.Status != 200 {
			t.Errorf("%s at full admission: %d", p, got.Status)
		}
	}
	close(h.release)
	wg.Wait()
	if lim.Inflight() != 0 {
		t.Errorf("permits leaked: %d in flight", lim.Inflight())
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

func TestAdmissionBudgetFailsFastAndDropsThePermit(t *testing.T) {
	lim := &scripted{limit: 4}
	a, err := admit.New(admit.Config{Budgets: map[string]time.Duration{"/v1/search": time.Nanosecond}}, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{hold: func(ctx context.Context, _ *query.Retrieval) error {
		<-ctx.Done() // a backend honouring its deadline
		return ctx.Err()
	}}
	_, client := server(t, b, a.Middleware)
	r := client.Get(t, "/v1/search?q=dress")
	if r.Status != http.StatusServiceUnavailable || !json.Valid(r.Body) || r.Header.Get("Retry-After") == "" {
		t.Fatalf("1ns budget: %d %s %v", r.Status, r.Body, r.Header)
	}
	if lim.dropped != 1 || lim.recorded != 0 {
		t.Errorf("timed-out request: recorded %d, dropped %d; want the permit dropped", lim.recorded, lim.dropped)
	}
}

// With failsafe-go's own limiter pinned between floor = ceiling = 2, the
// third concurrent request is shed.
func TestFailsafeLimiterShedsPastItsLimit(t *testing.T) {
	cfg := admit.Config{Floor: 2, Ceiling: 2}
	lim := admit.NewLimiter(cfg)
	p1, ok1 := lim.TryAcquirePermit()
	p2, ok2 := lim.TryAcquirePermit()
	_, ok3 := lim.TryAcquirePermit()
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("limit 2: acquired %v %v %v", ok1, ok2, ok3)
	}
	p1.Record()
	p2.Drop()
	if lim.Inflight() != 0 || lim.Limit() != 2 {
		t.Fatalf("after release: inflight %d limit %d", lim.Inflight(), lim.Limit())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []admit.Config{
		{Floor: 5, Ceiling: 2},
		{Floor: 2, Ceiling: 4, Initial: 8},
		{LaterShare: 1.5},
		{Steps: admit.Steps{Facets: -1}},
		{Steps: admit.Steps{Limit: 1.5}},
		{Steps: admit.Steps{Personalization: 0.5, MaxLimit: 500}},
		{Budgets: map[string]time.Duration{"/v1/search": -time.Second}},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v: valid", c)
		}
	}
	if err := (admit.Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// A panic below admission (answered 500 by the server's recovery, outside
// it) gives its permit back.
func TestAdmissionReleasesThePermitOfAPanic(t *testing.T) {
	lim := &scripted{limit: 1}
	a, err := admit.New(admit.Config{}, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{hold: func(context.Context, *query.Retrieval) error { panic("boom") }}
	_, client := server(t, b, a.Middleware)
	for range 2 { // the second would be shed if the first kept its permit
		if r := client.Get(t, "/v1/search?q=dress"); r.Status != http.StatusInternalServerError {
			t.Fatalf("panicking backend: %d %s", r.Status, r.Body)
		}
	}
	if lim.Inflight() != 0 || lim.dropped != 2 {
		t.Errorf("after panics: %d in flight, %d dropped", lim.Inflight(), lim.dropped)
	}
}

func TestParseSteps(t *testing.T) {
	for _, c := range []struct {
		in   string
		want admit.Steps
	}{
		{"", admit.DefaultSteps},
		{"0.7", admit.Steps{Personalization: 0.7, Limit: 0.7, Facets: 0.7, MaxLimit: admit.DefaultSteps.MaxLimit}},
		{"facets=1, limit=0.6", admit.Steps{Personalization: admit.DefaultSteps.Personalization, Limit: 0.6, Facets: 1, MaxLimit: admit.DefaultSteps.MaxLimit}},
	} {
		got, err := admit.ParseSteps(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"1.5", "-0.1", "facets", "stale=0.5", "limit=x", "NaN"} {
		if _, err := admit.ParseSteps(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
