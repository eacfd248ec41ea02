package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/serve/admit"
)

// admitFlags are the rate limit and admission flags of serve and dev.
type admitFlags struct {
	kindRates, addrRate, trusted, redisURL, redisPrefix string
	admission                                           bool
	floor, ceiling, maxInFlight                         int
	laterShare                                          float64
	degradeAt, budgets                                  string
	schedLatency                                        time.Duration
}

func addAdmitFlags(fs *flag.FlagSet) *admitFlags {
	f := &admitFlags{}
	fs.StringVar(&f.kindRates, "rate-limit", "", "requests a second (`kind=rate[:burst],...`) per API key, by key kind (search, public, events, admin); none or 0 is no limit")
	fs.StringVar(&f.addrRate, "rate-limit-address", "0", "requests a second (`rate[:burst]`) per client address; 0 is no limit (behind a CDN or proxy, set --trusted-proxies too)")
	fs.StringVar(&f.trusted, "trusted-proxies", "", "`CIDRs` (comma-separated) of the proxies whose X-Forwarded-For names the client")
	fs.StringVar(&f.redisURL, "rate-limit-redis-url", "", "Redis `URL` that shares the rate limits across replicas (none: per process)")
	fs.StringVar(&f.redisPrefix, "rate-limit-redis-prefix", "rummage:", "key `prefix` of the shared rate limits")
	fs.BoolVar(&f.admission, "admission", true, "adaptive concurrency limit in front of computation: degrade, then shed with 503")
	fs.IntVar(&f.floor, "admission-floor", admit.DefaultFloor, "lowest `n` the adaptive concurrency limit may fall to")
	fs.IntVar(&f.ceiling, "admission-ceiling", admit.DefaultCeiling, "highest `n` the adaptive concurrency limit may rise to")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 0, "shed /v1 reads past `n` in flight through the whole chain, cache hits included (503 at once; 0: no cap). Admission guards computation only: this caps a spike of cached answers that alone saturates the CPU")
	fs.DurationVar(&f.schedLatency, "shed-sched-latency", 0, "shed /v1 reads, later pages first, while the Go scheduler's p99 latency (runnable to running) is above `d`, e.g. 5ms (0: off). A saturated CPU queues requests before any counter sees them; the scheduler's latency is that queue, and /healthz waits in it too")
	fs.StringVar(&f.degradeAt, "degrade-at", admit.DefaultSteps.String(), "`steps`: the fraction of the concurrency limit past which each degradation step switches on, as step=fraction pairs (personalization: skip a personalized search's re-ranking; limit: cap the page at 24; facets: drop them), or one fraction for all (1: never)")
	fs.Float64Var(&f.laterShare, "later-page-share", admit.DefaultLaterShare, "`fraction` of the concurrency limit later pages (with a cursor) may fill")
	fs.StringVar(&f.budgets, "time-budget", "", "time budgets per route (`route=duration,...`, e.g. /v1/search=2s), inside --request-timeout")
	return f
}

// admitChain is the rate limit and the admission the flags configure.
type admitChain struct {
	rate, admission echo.MiddlewareFunc   // admission nil with --admission=false
	skipPersonal    func() bool           // admission's personalization step (nil without admission)
	front           []echo.MiddlewareFunc // the scheduling shed and the in-flight cap, when set
}

// options is the chain as API options: the scheduling shed and the
// in-flight cap outermost, the rate limit, then inner (the response cache
// and the coalescing of misses, when there are any), then admission in
// front of computation.
func (c admitChain) options(inner ...echo.MiddlewareFunc) []api.Option {
	mw := append(slices.Clone(c.front), c.rate)
	mw = append(mw, inner...)
	if c.admission != nil {
		mw = append(mw, c.admission)
	}
	opts := []api.Option{api.WithMiddleware(mw...)}
	if c.skipPersonal != nil {
		opts = append(opts, api.WithPersonalizationSkip(c.skipPersonal))
	}
	return opts
}

// admitConfig is what the flags say.
type admitConfig struct {
	rate      admit.RateConfig
	admission admit.Config
}

// config reads and checks the flags.
func (f *admitFlags) config() (admitConfig, error) {
	kinds, err := admit.ParseKindRates(f.kindRates)
	if err != nil {
		return admitConfig{}, fmt.Errorf("--rate-limit: %w", err)
	}
	addr, err := admit.ParseRate(f.addrRate)
	if err != nil {
		return admitConfig{}, fmt.Errorf("--rate-limit-address: %w", err)
	}
	trusted, err := admit.ParsePrefixes(f.trusted)
	if err != nil {
		return admitConfig{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	steps, err := admit.ParseSteps(f.degradeAt)
	if err != nil {
		return admitConfig{}, fmt.Errorf("--degrade-at: %w", err)
	}
	budgets := map[string]time.Duration{}
	for part := range strings.SplitSeq(f.budgets, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		route, ds, ok := strings.Cut(part, "=")
		d, derr := time.ParseDuration(ds)
		if !ok || derr != nil {
			return admitConfig{}, fmt.Errorf("--time-budget %q: want route=duration", part)
		}
		budgets[route] = d
	}
	cfg := admitConfig{rate: admit.RateConfig{Kinds: kinds, Address: addr, TrustedProxies: trusted},
		admission: admit.Config{Floor: f.floor, Ceiling: f.ceiling, Steps: steps, LaterShare: f.laterShare, Budgets: budgets}}
	if !f.admission && len(budgets) > 0 {
		return admitConfig{}, fmt.Errorf("--time-budget needs --admission")
	}
	if err := cfg.admission.Validate(); err != nil {
		return admitConfig{}, err
	}
	return cfg, nil
}

// chain builds the rate limit and the admission of the flags; stop closes
// the Redis client of shared rate limits and stops the scheduling shed.
func (f *admitFlags) chain(ctx context.Context, reg prometheus.Registerer, log *slog.Logger) (c admitChain, stop func(), err error) {
	cfg, err := f.config()
	if err != nil {
		return admitChain{}, nil, err
	}
	stop = func() {}
	var store admit.Store = admit.NewLocal(nil)
	if f.redisURL != "" {
		opt, err := redis.ParseURL(f.redisURL)
		if err != nil {
			return admitChain{}, nil, fmt.Errorf("--rate-limit-redis-url: %w", err)
		}
		rdb := redis.NewClient(opt)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return admitChain{}, nil, fmt.Errorf("--rate-limit-redis-url: %w", err)
		}
		store, stop = admit.NewRedis(rdb, f.redisPrefix), func() { rdb.Close() }
		log.Info("rate limits shared in redis", "addr", opt.Addr)
	}
	rl, err := admit.NewRateLimit(cfg.rate, store, reg)
	if err != nil {
		stop()
		return admitChain{}, nil, err
	}
	c.rate = rl.Middleware
	if f.maxInFlight < 0 {
		stop()
		return admitChain{}, nil, fmt.Errorf("--max-in-flight must not be negative")
	}
	if f.maxInFlight > 0 {
		fd, err := admit.NewFrontDoor(f.maxInFlight, cfg.admission.RetryAfter, reg)
		if err != nil {
			stop()
			return admitChain{}, nil, err
		}
		c.front = append(c.front, fd.Middleware)
	}
	if f.schedLatency < 0 {
		stop()
		return admitChain{}, nil, fmt.Errorf("--shed-sched-latency must not be negative")
	}
	if f.schedLatency > 0 {
		ss, err := admit.NewSchedShed(admit.SchedShedConfig{Target: f.schedLatency, RetryAfter: cfg.admission.RetryAfter}, reg)
		if err != nil {
			stop()
			return admitChain{}, nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		go ss.Run(sctx)
		prev := stop
		stop = func() { cancel(); prev() }
		c.front = append([]echo.MiddlewareFunc{ss.Middleware}, c.front...)
	}
	if f.admission {
		a, err := admit.New(cfg.admission, admit.NewLimiter(cfg.admission), reg)
		if err != nil {
			stop()
			return admitChain{}, nil, err
		}
		c.admission, c.skipPersonal = a.Middleware, a.SkipPersonalization
	}
	return c, stop, nil
}
