package loadgen

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/feed/feedtest"
	"github.com/rummage/rummage/signals/memory"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestWaveShape: the push wave steps to Base×Mult at At and decays to
// Base with time constant Tau; its schedule integrates to the closed form.
func TestWaveShape(t *testing.T) {
	w := Wave{Base: 100, At: 10 * time.Second, Mult: 2, Tau: 5 * time.Second}
	if r := w.Rate(w.At - time.Millisecond); r != 100 {
		t.Errorf("before the wave: %v", r)
	}
	if r := w.Rate(w.At); r != w.Peak() || r != 200 {
		t.Errorf("at the step: %v, peak %v", r, w.Peak())
	}
	if r := w.Rate(w.At + w.Tau); !near(r, 100*(1+1/math.E), 1e-9) {
		t.Errorf("one time constant later: %v", r)
	}
	for d := time.Duration(0); d < 60*time.Second; d += time.Second {
		if w.Rate(w.At+d+time.Second) > w.Rate(w.At+d) {
			t.Fatalf("the wave rises at +%v", d)
		}
	}
	du := 40 * time.Second
	want := 100*du.Seconds() + 100*(2-1)*w.Tau.Seconds()*(1-math.Exp(-float64(du-w.At)/float64(w.Tau)))
	if got := NewSchedule(w, du).Total(); !near(got, want, 0.5) {
		t.Errorf("offered over %v: %.2f, want %.2f", du, got, want)
	}
	// Shares: the same wave ×4.
	s := Wave{Base: 20, At: w.At, Mult: 4, Tau: w.Tau}
	if s.Peak()/s.Base != 4 {
		t.Errorf("share wave %v", s)
	}
}

// TestDropShape: shoppers arrive linearly over the ramp, refresh every
// Think until T0, then open pages every AfterThink while they leave; the
// shopper count is the peak rate × think time.
func TestDropShape(t *testing.T) {
	peak, after := 500.0, 2*time.Second
	d := Drop{Shoppers: ShoppersFor(peak, after), T0: 30 * time.Second, Ramp: 20 * time.Second, Think: 10 * time.Second, AfterThink: after, Leave: 10 * time.Second}
	if d.Shoppers != 1000 {
		t.Fatalf("shoppers %v, want 1000", d.Shoppers)
	}
	if d.Rate(5*time.Second) != 0 || d.Present(10*time.Second) != 0 {
		t.Errorf("before the ramp: rate %v", d.Rate(5*time.Second))
	}
	if p := d.Present(20 * time.Second); !near(p, 500, 1e-9) || !near(d.Rate(20*time.Second), 50, 1e-9) {
		t.Errorf("mid-ramp: %v shoppers, %v/s", p, d.Rate(20*time.Second))
	}
	if r := d.Rate(d.T0 - time.Nanosecond); !near(r, 100, 0.01) {
		t.Errorf("just before T0: %v/s, want 100 (1000 shoppers / 10 s)", r)
	}
	if r := d.Rate(d.T0); r != peak {
		t.Errorf("at T0: %v/s, want %v", r, peak)
	}
	if r := d.Rate(d.T0 + d.Leave); !near(r, peak/math.E, 1e-9) {
		t.Errorf("after a leave constant: %v", r)
	}
}

// TestSchedulePace drives the pacer as vegeta does, on a simulated clock:
// every arrival is issued once, when due, and no earlier.
func TestSchedulePace(t *testing.T) {
	shape := Wave{Base: 50, At: 2 * time.Second, Mult: 3, Tau: time.Second}
	du := 6 * time.Second
	s := NewSchedule(shape, du)
	var elapsed time.Duration
	var hits uint64
	for {
		wait, stop := s.Pace(elapsed, hits)
		if stop {
			break
		}
		elapsed += wait
		if elapsed > du {
			break
		}
		if s.Hits(elapsed+step) < float64(hits)+0.5 {
			t.Fatalf("arrival %d issued at %v, before it is due (%.2f offered by then)", hits, elapsed, s.Hits(elapsed))
		}
		hits++
	}
	if want := uint64(s.Total() + 0.5); hits != want || s.Arrivals() != want {
		t.Errorf("%d arrivals issued, want %d", hits, want)
	}
	// Split over three pacers, the same arrivals.
	var split uint64
	for i := range 3 {
		p := s.Split(i, 3)
		var el time.Duration
		var n uint64
		for {
			wait, stop := p.Pace(el, n)
			if stop {
				break
			}
			el += wait
			n++
		}
		split += n
	}
	if split != s.Arrivals() {
		t.Errorf("split pacers issue %d, want %d", split, s.Arrivals())
	}
	if d := s.Hits(3*time.Second) - s.Hits(2*time.Second); d < 2*50 {
		t.Errorf("the wave's first second offers %.0f, want over %d", d, 2*50)
	}
}

func TestLag(t *testing.T) {
	even := []Second{{Offered: 100, Sent: 100}, {Offered: 100, Sent: 99}}
	if l := lagOf(even); l > 0.01 {
		t.Errorf("on schedule: lag %v", l)
	}
	behind := []Second{{Offered: 100, Sent: 100}, {Offered: 100, Sent: 50}, {Offered: 100, Sent: 150}}
	if l := lagOf(behind); !near(l, 0.25, 1e-9) {
		t.Errorf("half a second behind: lag %v, want 0.25", l)
	}
}

var testCatalog = &Catalog{IDs: []string{"a", "b"}, Brands: []string{"Nike"}, Sizes: []string{"M"}, Categories: []string{"Women"}, Words: []string{"jacket"}}

// TestRunCounts: every request the server answered is in the report, by
// status, with its cache state and sheds, spread over the loopback source
// addresses.
func TestRunCounts(t *testing.T) {
	var n, hits, shed atomic.Int64
	var mu sync.Mutex
	addrs := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		addrs[host] = true
		mu.Unlock()
		switch {
		case i%5 == 0:
			shed.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case i%2 == 0:
			hits.Add(1)
			w.Header().Set("Cache-Status", "rummage; hit")
			fmt.Fprint(w, `{"hits":[]}`)
		default:
			w.Header().Set("Cache-Status", "rummage; fwd=miss")
			fmt.Fprint(w, `{"hits":[]}`)
		}
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Config{Target: srv.URL, Scenario: SearchMix, Duration: 2 * time.Second, Rate: 200, Catalog: testCatalog})
	if err != nil {
		t.Fatal(err)
	}
	if int64(rep.Sent) != n.Load() || rep.Sent != int(rep.Offered+0.5) {
		t.Fatalf("sent %d, server saw %d, offered %.1f", rep.Sent, n.Load(), rep.Offered)
	}
	if rep.Status["503"] != int(shed.Load()) || rep.Shed != int(shed.Load()) || rep.Status["200"] != rep.Sent-int(shed.Load()) {
		t.Errorf("status %v, shed %d; server shed %d", rep.Status, rep.Shed, shed.Load())
	}
	if rep.Cacheable != rep.Status["200"] || !near(rep.CacheHitRatio, float64(hits.Load())/float64(rep.Cacheable), 1e-9) {
		t.Errorf("cache: %d cacheable, hit ratio %v; server hits %d", rep.Cacheable, rep.CacheHitRatio, hits.Load())
	}
	if rep.Kinds[KindSearch] == nil || rep.Kinds[KindSearch].Requests != rep.Sent {
		t.Errorf("kinds %v", rep.Kinds)
	}
	if !rep.Pass || len(rep.Seconds) != 2 {
		t.Errorf("pass %v, lag %v, %d seconds", rep.Pass, rep.Lag, len(rep.Seconds))
	}
	if len(addrs) != rep.Sources || rep.Sources != 4 {
		t.Errorf("source addresses %v, report says %d", addrs, rep.Sources)
	}
}

// TestRunDetectsLag: a server slower than the capped workers can keep up
// with makes the generator fall behind, and the run fails.
func TestRunDetectsLag(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
	}))
	defer srv.Close()
	// 4 workers of 100 ms: at most 40 a second, of 200 offered.
	rep, err := Run(context.Background(), Config{Target: srv.URL, Scenario: SearchMix, Duration: time.Second, Rate: 200, MaxWorkers: 4, Catalog: testCatalog})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || rep.Lag < 0.5 || len(rep.Failures) == 0 {
		t.Errorf("pass %v with lag %v (sent %d of %.0f)", rep.Pass, rep.Lag, rep.Sent, rep.Offered)
	}
}

// TestPartyStartAgainstAPI runs party-start against the API over the feed
// suite's catalog: discovery finds the live party and its listings, and
// every request of the mix is answered 200 (none is malformed).
func TestPartyStartAgainstAPI(t *testing.T) {
	st, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	feedtest.Social(t, st)
	cur, err := feed.NewCursors(feed.CursorConfig{Key: feed.RandomCursorKey(), Clock: func() time.Time { return feedtest.Now }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Config{Cursors: cur, Signals: st, Auth: api.Auth{AnonymousReads: true}}, feedtest.Catalog(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	rep, err := Run(context.Background(), Config{Target: srv.URL, Scenario: PartyStart, Duration: 2 * time.Second, Rate: 40, WaveAt: time.Second, ProbePath: "/healthz"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status["200"] != rep.Sent || rep.Sent == 0 {
		t.Errorf("status %v of %d", rep.Status, rep.Sent)
	}
	for _, k := range []string{KindPartyFeed, KindMySize} {
		if rep.Kinds[k] == nil || rep.Kinds[k].Requests == 0 {
			t.Errorf("no %s requests: %v", k, rep.Kinds)
		}
	}
	if rep.Probe == nil || rep.Probe.Status["200"] != rep.Probe.Requests || rep.Probe.Requests < 15 {
		t.Errorf("probe %+v", rep.Probe)
	}
}

// TestDropVisibility: a stub API whose newest-first pages show the drop's
// listing (available at T0) from T0 on, and, when leaky, before it too:
// the report counts the pages on each side, and a leak fails the run.
func TestDropVisibility(t *testing.T) {
	for _, leaky := range []bool{false, true} {
		t.Run(fmt.Sprint("leaky=", leaky), func(t *testing.T) {
			var t0 time.Time
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				at := t0
				mu.Unlock()
				if r.URL.Path == "/v1/search" && (leaky || !time.Now().Before(at)) {
					fmt.Fprintf(w, `{"hits":[{"id":"d1","available_at":%q},{"id":"a"}]}`, at.Format(time.RFC3339Nano))
					return
				}
				fmt.Fprint(w, `{"hits":[{"id":"a"}]}`)
			}))
			defer srv.Close()
			cat := *testCatalog
			mu.Lock()
			t0 = time.Now().Add(time.Second)
			cat.NextDrop = t0
			mu.Unlock()
			rep, err := Run(context.Background(), Config{Target: srv.URL, Scenario: DropScene, Duration: 2500 * time.Millisecond, Rate: 200, Catalog: &cat})
			if err != nil {
				t.Fatal(err)
			}
			v := rep.Visibility
			if v == nil || v.Before == 0 || v.After == 0 || v.Shown != v.After {
				t.Fatalf("visibility %+v", v)
			}
			if leaky != (v.Early > 0) || leaky == rep.Pass {
				t.Fatalf("leaky %v: %d early of %d, pass %v", leaky, v.Early, v.Before, rep.Pass)
			}
		})
	}
}
