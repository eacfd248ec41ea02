package purgebench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/devbench"
)

// scripted answers a page from a script of (Cache-Status, shows the
// listing) pairs, the last one repeated.
type scripted struct {
	mu   sync.Mutex
	n    int
	seq  []answer
	auth string
}

type answer struct {
	cache string
	shows bool
}

const (
	hitS   = "rummage; hit"
	staleS = "rummage; hit; detail=stale"
	missS  = "rummage; fwd=miss"
)

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.seq[min(s.n, len(s.seq)-1)]
	s.n++
	s.auth = r.Header.Get("Authorization")
	s.mu.Unlock()
	w.Header().Set("Cache-Status", a.cache)
	if a.shows {
		_, _ = w.Write([]byte(`{"hits":[{"id":"l1"},{"id":"l2"}]}`))
		return
	}
	_, _ = w.Write([]byte(`{"hits":[{"id":"l2"}]}`))
}

func pollScript(t *testing.T, seq []answer) (PageResult, *scripted) {
	t.Helper()
	s := &scripted{seq: seq}
	srv := httptest.NewServer(s)
	defer srv.Close()
	b := &bench{cfg: &Config{Settle: time.Millisecond, Timeout: 10 * time.Second}, api: &devbench.Client{Base: srv.URL, Key: "k", HTTP: srv.Client()},
		sem: make(chan struct{}, 1)}
	r := b.poll(context.Background(), page{KindBrand, "/v1/search?brand=x"}, []byte(`"id":"l1"`), time.Now(), false)
	return r, s
}

// TestPollCountsOnlyCachedAnswers: a page stops showing the listing at the
// first read after the last cache hit (fresh or stale) that contained it;
// a computed answer that still contains it counts for the strict figure
// only.
func TestPollCountsOnlyCachedAnswers(t *testing.T) {
	// A stale hit, then a miss that still has it, then clean.
	r, s := pollScript(t, []answer{{hitS, true}, {staleS, true}, {missS, true}, {missS, false}, {hitS, false}})
	if r.TimedOut || r.StaleHits != 1 || r.Polls < 5 || s.auth != "Bearer k" {
		t.Fatalf("%+v (auth %q)", r, s.auth)
	}
	if !(r.Latency < r.Strict) {
		t.Errorf("latency %v, strict %v: the miss that still had the listing counts only for strict", r.Latency, r.Strict)
	}
	// A hit after a miss had it: both figures end at the same read.
	r, _ = pollScript(t, []answer{{hitS, true}, {missS, true}, {hitS, true}, {hitS, false}})
	if r.TimedOut || r.Latency != r.Strict || r.StaleHits != 0 {
		t.Errorf("%+v: both figures end at the fourth read", r)
	}
}

// TestPollTimesOut: a page that keeps showing the listing is reported at
// the timeout.
func TestPollTimesOut(t *testing.T) {
	s := &scripted{seq: []answer{{hitS, true}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	b := &bench{cfg: &Config{Settle: time.Millisecond, Timeout: 50 * time.Millisecond, PollInterval: 5 * time.Millisecond},
		api: &devbench.Client{Base: srv.URL, HTTP: srv.Client()}, sem: make(chan struct{}, 1)}
	r := b.poll(context.Background(), page{KindBrand, "/p"}, []byte(`"id":"l1"`), time.Now(), false)
	if !r.TimedOut || r.Latency != b.cfg.Timeout || r.Strict != b.cfg.Timeout {
		t.Errorf("%+v", r)
	}
}
