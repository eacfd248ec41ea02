package admit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// maxLocalBuckets bounds the buckets Local keeps: past it, full (idle)
// buckets are dropped, which forgets nothing (a new bucket starts full),
// then others if need be (see sweep).
const maxLocalBuckets = 100_000

// Local is a Store in process (golang.org/x/time/rate): limits per replica.
type Local struct {
	now func() time.Time
	mu  sync.Mutex
	b   map[string]*rate.Limiter
}

// NewLocal returns buckets in process; now nil means time.Now (tests pass a
// fake clock).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{now: now, b: map[string]*rate.Limiter{}}
}

// Allow implements Store.
func (l *Local) Allow(_ context.Context, key string, r Rate) (Decision, error) {
	now := l.now()
	l.mu.Lock()
	lim := l.b[key]
	if lim == nil || lim.Burst() != r.Burst || float64(lim.Limit()) != r.PerSecond {
		if lim == nil && len(l.b) >= maxLocalBuckets {
			l.sweep(now)
		}
		lim = rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst)
		l.b[key] = lim
	}
	l.mu.Unlock()

	ok := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	d := Decision{Allowed: ok, Limit: r.Burst, Remaining: max(0, int(math.Floor(tokens)))}
	d.ResetAfter = secondsOf((float64(r.Burst) - tokens) / r.PerSecond)
	if !ok {
		d.RetryAfter = secondsOf((1 - tokens) / r.PerSecond)
	}
	return d, nil
}

// sweep drops the buckets that are full at now, and when that is not
// enough (more clients active than maxLocalBuckets), any others down to
// 9/10 of it: those clients start again with a full burst, memory stays
// bounded. l.mu is held.
func (l *Local) sweep(now time.Time) {
	for k, lim := range l.b {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.b, k)
		}
	}
	for k := range l.b {
		if len(l.b) < maxLocalBuckets*9/10 {
			break
		}
		delete(l.b, k)
	}
}

func secondsOf(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Redis is a Store shared by every replica (go-redis/redis_rate: GCRA in
// one Lua script per check). Keys are prefix + the bucket's name.
type Redis struct {
	lim    *redis_rate.Limiter
	prefix string
}

// NewRedis returns buckets in rdb under prefix ("rummage:rl:").
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{lim: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Allow implements Store. A fractional rate is kept exact by counting per
// minute.
func (s *Redis) Allow(ctx context.Context, key string, r Rate) (Decision, error) {
	l := redis_rate.Limit{Rate: int(r.PerSecond), Burst: r.Burst, Period: time.Second}
	if r.PerSecond != math.Trunc(r.PerSecond) {
		l.Rate, l.Period = int(math.Round(r.PerSecond*60)), time.Minute
	}
	res, err := s.lim.Allow(ctx, s.prefix+key, l)
	if err != nil {
		return Decision{}, fmt.Errorf("admit: rate limit in redis: %w", err)
	}
	d := Decision{Allowed: res.Allowed > 0, Limit: r.Burst, Remaining: res.Remaining, ResetAfter: max(res.ResetAfter, 0)}
	if !d.Allowed {
		d.RetryAfter = max(res.RetryAfter, 0)
	}
	return d, nil
}
