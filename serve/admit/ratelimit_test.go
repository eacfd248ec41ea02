package admit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/serve/admit"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

// storeCases run against every Store: a burst is allowed, the next request
// is refused with when to retry.
func storeCases(t *testing.T, s admit.Store, key string) {
	ctx := context.Background()
	r := admit.Rate{PerSecond: 0.5, Burst: 3}
	for i := range 3 {
		d, err := s.Allow(ctx, key, r)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Limit != 3 || d.Remaining != 2-i {
			t.Fatalf("request %d of the burst: %+v", i+1, d)
		}
	}
	d, err := s.Allow(ctx, key, r)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 2*time.Second || d.ResetAfter < 5*time.Second {
		t.Fatalf("past the burst: %+v", d)
	}
	if d, _ := s.Allow(ctx, key+"-other", r); !d.Allowed {
		t.Fatalf("another bucket is refused: %+v", d)
	}
}

func TestLocalStore(t *testing.T) {
	c := newClock()
	s := admit.NewLocal(c.now)
	storeCases(t, s, "k")
	// Two seconds later at 0.5/s: one token.
	c.advance(2 * time.Second)
	r := admit.Rate{PerSecond: 0.5, Burst: 3}
	if d, _ := s.Allow(context.Background(), "k", r); !d.Allowed {
		t.Fatalf("after refill: %+v", d)
	}
	if d, _ := s.Allow(context.Background(), "k", r); d.Allowed {
		t.Fatalf("refill gave more than one token: %+v", d)
	}
}

// testRedis is a client of the shared Redis and a random key prefix whose
// keys are deleted at the end (never a FLUSH).
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(testredis.URL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", opt.Addr, time.Second)
	if err != nil {
		testpg.Unavailable(t, "no Redis at %s: %v", opt.Addr, err)
		return nil, ""
	}
	conn.Close()
	c := redis.NewClient(opt)
	prefix := "admit-test-" + strings.ToLower(rand.Text()[:12]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "rate:"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

func TestRedisStore(t *testing.T) {
	c, prefix := testRedis(t)
	storeCases(t, admit.NewRedis(c, prefix), "k")
}

func TestRateLimitPerKeyKind(t *testing.T) {
	c := newClock()
	rl, err := admit.NewRateLimit(admit.RateConfig{
		Kinds: map[keys.Kind]admit.Rate{keys.Search: {PerSecond: 1, Burst: 2}},
	}, admit.NewLocal(c.now), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, client := server(t, &backend{}, rl.Middleware)
	for i, want := range []string{"1", "0"} {
		r := client.Get(t, "/v1/search?q=dress")
		if r.Status != 200 || r.Header.Get("RateLimit-Limit") != "2" || r.Header.Get("RateLimit-Remaining") != want {
			t.Fatalf("request %d: %d %v", i+1, r.Status, r.Header)
		}
	}
	r := client.Get(t, "/v1/search?q=dress")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" ||
		r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Reset") != "2" ||
		!strings.Contains(string(r.Body), `"code":"rate_limited"`) {
		t.Fatalf("past the burst: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Admin keys have no rate here; probes are never limited.
	admin := apitest.NewClient(t, s, apitest.Shared().Admin)
	if r := admin.Get(t, "/v1/search?q=dress"); r.Status != 200 || r.Header.Get("RateLimit-Limit") != "" {
		t.Errorf("admin key: %d %v", r.Status, r.Header)
	}
	if r := client.Get(t, "/healthz"); r.Status != 200 {
		t.Errorf("/healthz limited: %d", r.Status)
	}
	c.advance(time.Second)
	if r := client.Get(t, "/v1/search?q=dress"); r.Status != 200 {
		t.Errorf("a second later: %d", r.Status)
	}
}

func TestRateLimitPerAddressBehindTrustedProxies(t *testing.T) {
	trusted, err := admit.ParsePrefixes("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := admit.NewRateLimit(admit.RateConfig{Address: admit.Rate{PerSecond: 1, Burst: 1}, TrustedProxies: trusted},
		admit.NewLocal(newClock().now), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := server(t, &backend{}, rl.Middleware)
	send := func(peer, xff string) int {
		req := httptest.NewRequest(http.MethodGet, "/v1/search?q=x", nil)
		req.RemoteAddr = peer
		req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w.Code
	}
	steps := []struct {
		peer, xff string
		want      int
	}{
		{"10.0.0.1:5000", "203.0.113.7, 10.0.0.2", 200},
		{"10.0.0.9:5000", "203.0.113.7", 429},      // the same client through another proxy
		{"10.0.0.1:5000", "203.0.113.8", 200},      // another client
		{"198.51.100.1:5000", "203.0.113.9", 200},  // an untrusted peer: its own address counts
		{"198.51.100.1:5000", "203.0.113.10", 429}, // and its X-Forwarded-For is ignored
	}
	for i, st := range steps {
		if got := send(st.peer, st.xff); got != st.want {
			t.Errorf("step %d (%s, XFF %q): %d, want %d", i+1, st.peer, st.xff, got, st.want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted, _ := admit.ParsePrefixes("10.0.0.0/8,::1")
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.1:1", "", "203.0.113.1"},
		{"203.0.113.1:1", "1.2.3.4", "203.0.113.1"},
		{"10.1.1.1:1", "", "10.1.1.1"},
		{"10.1.1.1:1", "1.2.3.4, 5.6.7.8, 10.2.2.2", "5.6.7.8"},
		{"10.1.1.1:1", "10.3.3.3, 10.2.2.2", "10.3.3.3"},
		{"10.1.1.1:1", "1.2.3.4, bogus, 10.2.2.2", "10.2.2.2"},
		{"[::1]:1", "::ffff:5.6.7.8", "5.6.7.8"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.peer
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := admit.ClientAddr(req, trusted); got != netip.MustParseAddr(c.want) {
			t.Errorf("peer %s XFF %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func TestParseRates(t *testing.T) {
	got, err := admit.ParseKindRates("search=50:100, public=2.5,admin=0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[keys.Kind]admit.Rate{keys.Search: {50, 100}, keys.Public: {2.5, 3}, keys.Admin: {}}
	for k, r := range want {
		if got[k] != r {
			t.Errorf("%s: %v, want %v", k, got[k], r)
		}
	}
	for _, bad := range []string{"search", "nosuch=1", "search=-1", "search=1:0", "search=x"} {
		if _, err := admit.ParseKindRates(bad); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
	if _, err := admit.ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR parsed")
	}
}

// failing is a shared store that is down.
type failing struct{}

func (failing) Allow(context.Context, string, admit.Rate) (admit.Decision, error) {
	return admit.Decision{}, errors.New("redis: connection refused")
}

// When the shared store fails, the limits still hold, per process.
func TestRateLimitFallsBackInProcess(t *testing.T) {
	reg := prometheus.NewRegistry()
	rl, err := admit.NewRateLimit(admit.RateConfig{Kinds: map[keys.Kind]admit.Rate{keys.Search: {PerSecond: 1, Burst: 1}}}, failing{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	_, client := server(t, &backend{}, rl.Middleware)
	if r := client.Get(t, "/v1/search?q=x"); r.Status != 200 {
		t.Fatalf("first: %d", r.Status)
	}
	if r := client.Get(t, "/v1/search?q=x"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("second, past the burst, store down: %d", r.Status)
	}
	want := `# HELP rummage_ratelimit_store_errors_total Rate limit checks the shared store (Redis) failed; they were decided in process.
# TYPE rummage_ratelimit_store_errors_total counter
rummage_ratelimit_store_errors_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rummage_ratelimit_store_errors_total"); err != nil {
		t.Error(err)
	}
}
