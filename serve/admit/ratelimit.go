package admit

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/keys"
)

// Rate is a token bucket: PerSecond tokens a second, up to Burst. The zero
// Rate is no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Unlimited reports the zero Rate.
func (r Rate) Unlimited() bool { return r.PerSecond <= 0 }

func (r Rate) String() string { return fmt.Sprintf("%g/s burst %d", r.PerSecond, r.Burst) }

// ParseRate reads "RATE" or "RATE:BURST" (requests a second, burst; the
// burst defaults to the rate rounded up, at least 1); "0" is no limit.
func ParseRate(s string) (Rate, error) {
	ps, bs, hasBurst := strings.Cut(strings.TrimSpace(s), ":")
	v, err := strconv.ParseFloat(ps, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return Rate{}, fmt.Errorf("admit: rate %q: want requests a second, optionally :burst", s)
	}
	r := Rate{PerSecond: v, Burst: max(1, int(math.Ceil(v)))}
	if hasBurst {
		b, err := strconv.Atoi(bs)
		if err != nil || b < 1 {
			return Rate{}, fmt.Errorf("admit: rate %q: the burst must be a positive integer", s)
		}
		r.Burst = b
	}
	if v == 0 {
		return Rate{}, nil
	}
	return r, nil
}

// ParseKindRates reads "KIND=RATE[:BURST],..." (kinds of package keys).
func ParseKindRates(s string) (map[keys.Kind]Rate, error) {
	out := map[keys.Kind]Rate{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		ks, rs, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("admit: rate %q: want kind=rate[:burst]", part)
		}
		k, err := keys.ParseKind(strings.TrimSpace(ks))
		if err != nil {
			return nil, fmt.Errorf("admit: rate %q: %w", part, err)
		}
		r, err := ParseRate(rs)
		if err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, nil
}

// ParsePrefixes reads a comma-separated list of CIDRs or addresses.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("admit: trusted proxy %q: %w", part, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("admit: trusted proxy %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Decision is a bucket's answer to one request.
type Decision struct {
	Allowed bool
	// Limit is the bucket's burst, Remaining what is left of it.
	Limit, Remaining int
	// RetryAfter, when refused, is when one request will be allowed;
	// ResetAfter is when the bucket is full again.
	RetryAfter, ResetAfter time.Duration
}

// Store keeps the buckets. Allow takes one token from the bucket named key
// with rate r, or says when one will be there. Implementations are safe for
// concurrent use: Local in process, Redis shared by replicas.
type Store interface {
	Allow(ctx context.Context, key string, r Rate) (Decision, error)
}

// RateConfig configures RateLimit.
type RateConfig struct {
	// Kinds are the rates per API key, by the key's kind; a kind without
	// one is not limited per key.
	Kinds map[keys.Kind]Rate
	// Address is the rate per client address (anonymous or not); zero is
	// none.
	Address Rate
	// TrustedProxies are the peers whose X-Forwarded-For is believed: the
	// client is the right-most address in it that is not a trusted proxy.
	// From any other peer, the client is the peer.
	TrustedProxies []netip.Prefix
}

// CodeRateLimited is the error code of a 429.
const CodeRateLimited = "rate_limited"

// RateLimit is the per-key and per-address rate limit, as Echo middleware.
type RateLimit struct {
	cfg      RateConfig
	store    Store
	fallback *Local // when store fails (Redis down): limits stay per replica
	limited  *prometheus.CounterVec
	errs     prometheus.Counter
}

// NewRateLimit returns the rate limit over store (NewLocal(nil) in process,
// the default when store is nil; NewRedis shared). When store fails, the check falls back to buckets in
// process and counts rummage_ratelimit_store_errors_total. reg, when not
// nil, also gets rummage_ratelimit_refused_total{by} (key or address).
func NewRateLimit(cfg RateConfig, store Store, reg prometheus.Registerer) (*RateLimit, error) {
	for k, r := range cfg.Kinds {
		if r.PerSecond < 0 || (!r.Unlimited() && r.Burst < 1) {
			return nil, fmt.Errorf("admit: rate of %s keys: %v", k, r)
		}
	}
	if r := cfg.Address; r.PerSecond < 0 || (!r.Unlimited() && r.Burst < 1) {
		return nil, fmt.Errorf("admit: rate per address: %v", r)
	}
	if store == nil {
		store = NewLocal(nil)
	}
	rl := &RateLimit{cfg: cfg, store: store, fallback: NewLocal(nil),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rummage_ratelimit_refused_total",
			Help: "Requests refused with 429, by the limit they hit: key or address.",
		}, []string{"by"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rummage_ratelimit_store_errors_total",
			Help: "Rate limit checks the shared store (Redis) failed; they were decided in process.",
		}),
	}
	if err := register(reg, rl.limited, rl.errs); err != nil {
		return nil, err
	}
	return rl, nil
}

// Middleware is RateLimit as Echo middleware (api.WithMiddleware). It runs
// after authorization, which tells it the key; only /v1 routes are limited.
func (rl *RateLimit) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !strings.HasPrefix(c.Path(), "/v1/") {
			return next(c)
		}
		req := c.Request()
		ctx := req.Context()
		var tightest *Decision
		check := func(by, key string, r Rate) bool {
			if r.Unlimited() {
				return true
			}
			d, err := rl.store.Allow(ctx, key, r)
			if err != nil {
				rl.errs.Inc()
				d, _ = rl.fallback.Allow(ctx, key, r)
			}
			if tightest == nil || !d.Allowed || (tightest.Allowed && d.Remaining < tightest.Remaining) {
				tightest = &d
			}
			if !d.Allowed {
				rl.limited.WithLabelValues(by).Inc()
			}
			return d.Allowed
		}
		ok := true
		if caller, _ := api.CallerFrom(ctx); caller.Key != nil {
			ok = check("key", "k:"+caller.Key.ID, rl.cfg.Kinds[caller.Key.Kind])
		}
		if ok {
			ok = check("address", "a:"+ClientAddr(req, rl.cfg.TrustedProxies).String(), rl.cfg.Address)
		}
		if tightest != nil {
			h := c.Response().Header()
			h.Set("RateLimit-Limit", strconv.Itoa(tightest.Limit))
			h.Set("RateLimit-Remaining", strconv.Itoa(tightest.Remaining))
			h.Set("RateLimit-Reset", ceilSeconds(tightest.ResetAfter))
			if !ok {
				h.Set("Retry-After", retryAfterSeconds(tightest.RetryAfter))
				return errRateLimited
			}
		}
		return next(c)
	}
}

var errRateLimited = &api.Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
	Message: "too many requests; retry after the time Retry-After says"}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((max(d, 0)+time.Second-1)/time.Second), 10)
}

// ClientAddr is the client's address: the peer's, or when the peer is a
// trusted proxy, the right-most address of X-Forwarded-For that is not a
// trusted proxy (the left-most when all are). An entry that does not parse
// stops the walk: what is left of it was written by the client.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !isTrusted(peer, trusted) {
		return peer
	}
	client := peer
	vals := r.Header.Values("X-Forwarded-For")
	for i := len(vals) - 1; i >= 0; i-- {
		parts := strings.Split(vals[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !isTrusted(client, trusted) {
				return client
			}
		}
	}
	return client
}

func parseAddr(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
