package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rummage/rummage/internal/tick"
)

// Defaults of Config (DESIGN.md "Freshness").
const (
	DefaultMaxBytes    = 256 << 20
	DefaultTTL         = 60 * time.Second
	DefaultStale       = 400 * time.Millisecond
	DefaultCoalesce    = 250 * time.Millisecond
	DefaultCounterLag  = 4 * time.Second
	DefaultLoadTimeout = 5 * time.Second
	DefaultSMaxAge     = 2 * time.Second
	DefaultSWR         = 2 * time.Second
	DefaultPrewarmLead = 3 * time.Second
	DefaultPrewarmMax  = 1000
)

// All is the dependency that purges every entry (a seller suspended, a
// replica that lost its place in the invalidation stream).
const All = "*"

// Config configures a Cache. The zero value of each field means its
// default.
type Config struct {
	// MaxBytes bounds the bytes of the entries (keys, bodies, dependencies).
	MaxBytes uint64
	// TTL is the backstop lifetime of an entry (60 s), whatever the
	// invalidations say.
	TTL time.Duration
	// Stale is how long after a change an entry it invalidated may still be
	// served while one refresh runs (400 ms: the freshness budget, the
	// coalescing delay included).
	Stale time.Duration
	// Coalesce is the least time between two applications of the
	// invalidations of one dependency (250 ms): a hot tag is recomputed at
	// most that often, however many changes hit it.
	Coalesce time.Duration
	// CounterLag is how often the gathered counter-only changes
	// (CounterDep) are applied (4 s: counters may lag 5 s, and a refresh
	// takes the rest).
	CounterLag time.Duration
	// LoadTimeout bounds a fill, detached from the callers waiting on it.
	LoadTimeout time.Duration
	// SMaxAge and SWR are the CDN lifetimes of an anonymous answer
	// (s-maxage, stale-while-revalidate), clamped to the entry's.
	SMaxAge, SWR time.Duration
	// Boundaries gives the drop instants and party boundaries entries must
	// not cross; nil: only TTL bounds them.
	Boundaries *Boundaries
	// Purger hears of every applied invalidation (the CDN's purge hook);
	// nil: none.
	Purger Purger
	// Now is the clock (time.Now); tests pass a fake one.
	Now func() time.Time
	// Metrics; nil: unregistered ones.
	Metrics *Metrics
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// PrewarmLead is how long before a drop instant or party boundary the
	// entries it ends are computed as of that instant, to be switched in
	// atomically when it comes (Prewarm; 3 s; negative: never). It must be
	// shorter than the generation window (LoadTimeout + Coalesce + 1 s).
	PrewarmLead time.Duration
	// PrewarmMax bounds how many entries one instant pre-computes (1,000).
	PrewarmMax int
}

func (c Config) withDefaults() Config {
	c.MaxBytes = cmp.Or(c.MaxBytes, DefaultMaxBytes)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.Stale = cmp.Or(c.Stale, DefaultStale)
	c.Coalesce = cmp.Or(c.Coalesce, DefaultCoalesce)
	c.CounterLag = cmp.Or(c.CounterLag, DefaultCounterLag)
	c.LoadTimeout = cmp.Or(c.LoadTimeout, DefaultLoadTimeout)
	c.SMaxAge = cmp.Or(c.SMaxAge, DefaultSMaxAge)
	c.SWR = cmp.Or(c.SWR, DefaultSWR)
	c.PrewarmLead = cmp.Or(c.PrewarmLead, DefaultPrewarmLead)
	c.PrewarmMax = cmp.Or(c.PrewarmMax, DefaultPrewarmMax)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration the cache cannot honour.
func (c Config) Validate() error {
	switch {
	case c.TTL < 0 || c.Stale < 0 || c.Coalesce < 0 || c.CounterLag < 0 || c.LoadTimeout < 0 || c.SMaxAge < 0 || c.SWR < 0:
		return errors.New("cache: durations must not be negative")
	case c.Coalesce > 0 && c.Stale > 0 && c.Coalesce >= c.Stale:
		return fmt.Errorf("cache: coalesce %v must be below the stale bound %v, or invalidated entries would outlive it", c.Coalesce, c.Stale)
	case c.PrewarmMax < 0:
		return errors.New("cache: negative PrewarmMax")
	}
	d := c.withDefaults()
	if window := d.LoadTimeout + d.Coalesce + time.Second; d.PrewarmLead >= window {
		return fmt.Errorf("cache: prewarm lead %v must be below %v (load timeout + coalesce + 1 s): invalidations older than that are forgotten", d.PrewarmLead, window)
	}
	return nil
}

// Entry is one cached answer.
type Entry struct {
	// Body is the answer's bytes, without its per-request fields.
	Body        []byte
	ContentType string
	// Status is 200 for a stored entry; a fill that answered otherwise is
	// passed to its callers and not stored.
	Status int
	// ETag is the content version (weak: equal answers that differ only in
	// their cursor's instant share it).
	ETag string
	// Deps are the dependencies: "l:<listing id>" and tags ("brand:nike",
	// "cat:women", "party:p1", "seller:s1", "user:u1", "all", ...).
	Deps []string
	// Private marks a per-user answer (never stored by a shared cache).
	Private bool
	// Expires is the hard end of the entry: the fill's start plus TTL,
	// clamped to the next drop instant or party boundary that changes it.
	Expires time.Time
	// Surrogate is the Surrogate-Key header (the deps, encoded).
	Surrogate string
	// Degraded is what a fill admitted degraded gave up (its
	// query.HeaderDegraded header): such an entry is passed to its
	// callers, never stored.
	Degraded string
	// drops marks /v1/drops: server_time is spliced in per request.
	drops bool
	// list is a listing list's total and ids: its query id is spliced in
	// per request, and its impression recorded (package events).
	list *listing
	// refill computes the entry again (Prewarm runs it as of an instant).
	refill Fill

	content    uint64 // hash of the answer without per-walk fields
	ttl        time.Duration
	staleUntil atomic.Int64 // 0: fresh; else unix ns until which it may be served
	refreshing atomic.Bool
	purged     atomic.Bool // invalidated: its replacement is compared (over-purge)
}

// listing is what an impression needs of a cached listing list.
type listing struct {
	total int
	ids   []string
}

func (e *Entry) weight(keyLen int) int {
	n := keyLen + len(e.Body) + len(e.ETag) + len(e.Surrogate) + 160
	if e.list != nil {
		n += 24 * len(e.list.ids)
	}
	for _, d := range e.Deps {
		n += len(d) + 16
	}
	return n
}

// Fill computes an entry. ctx is the fill's own (detached from the
// callers, bounded by Config.LoadTimeout). A nil error with a nil entry
// is not possible; an entry with cacheable false is answered once and not
// stored.
type Fill func(ctx context.Context) (e *Entry, cacheable bool, err error)

// State is what a lookup found.
type State int

// Lookup states.
const (
	Miss  State = iota
	Hit         // fresh
	Stale       // invalidated, within Config.Stale of the change: serve it while one refresh runs
)

type applied struct {
	gen uint64
	at  time.Time
	// counters: only counter-only changes (CounterDep) were applied in the
	// window from at: they open no coalescing window for the listing's
	// own changes.
	counters bool
}

// Cache is the response cache: entries, their dependencies, invalidation
// and coalesced fills. Safe for concurrent use.
type Cache struct {
	cfg   Config
	store Store
	m     *Metrics
	log   *slog.Logger
	sf    singleflight.Group

	inflight atomic.Int64 // fills running: while none, a dependency no entry has need not be remembered

	mu        sync.Mutex
	gen       uint64                       // bumped by every application of invalidations
	prunedGen uint64                       // fills started at or below it are discarded
	byDep     map[string]map[string]*Entry // dep → key → entry
	applied   map[string]applied           // dep → its last application
	pending   map[string]time.Time         // dep → arrival of its earliest change not applied yet
	lastPrune time.Time
	// counters are the counter-only changes gathered (CounterDep) since
	// countersSince, the arrival of the oldest: applied together
	// Config.CounterLag after it, so an entry is purged for counters at
	// most once per CounterLag, and no counter lags longer.
	counters      map[string]bool
	countersSince time.Time
	staged        map[string]*staged // key → its answer as of a coming instant (Prewarm)
	nStaged       atomic.Int64       // len(staged), read without mu on a miss

	evMu    sync.Mutex
	evicted []evictedEntry // from the store's callback, unindexed under mu later
}

type evictedEntry struct {
	key string
	e   *Entry
}

// New returns a cache over its own otter store.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Cache{cfg: cfg, m: cfg.Metrics, log: cfg.Logger,
		byDep: map[string]map[string]*Entry{}, applied: map[string]applied{}, pending: map[string]time.Time{}, staged: map[string]*staged{}, counters: map[string]bool{}}
	st, err := NewOtterStore(cfg.MaxBytes, c.removed)
	if err != nil {
		return nil, fmt.Errorf("cache: store: %w", err)
	}
	c.store = st
	c.m.bytes = st.Bytes
	return c, nil
}

// removed hears of evictions and expiries (possibly inside a store call
// made under mu: it only queues).
func (c *Cache) removed(key string, e *Entry) {
	c.evMu.Lock()
	c.evicted = append(c.evicted, evictedEntry{key, e})
	c.evMu.Unlock()
}

// drainEvicted unindexes evicted entries; mu held.
func (c *Cache) drainEvicted() {
	c.evMu.Lock()
	ev := c.evicted
	c.evicted = nil
	c.evMu.Unlock()
	for _, x := range ev {
		c.unindex(x.key, x.e)
	}
}

func (c *Cache) unindex(key string, e *Entry) {
	for _, d := range e.Deps {
		if m := c.byDep[d]; m != nil && m[key] == e {
			delete(m, key)
			if len(m) == 0 {
				delete(c.byDep, d)
			}
		}
	}
}

// Lookup returns the entry under key and what it is at now.
func (c *Cache) Lookup(key string, now time.Time) (*Entry, State) {
	e, ok := c.store.Get(key)
	if !ok || !now.Before(e.Expires) {
		if e := c.promote(key, now); e != nil {
			return e, Hit
		}
		return nil, Miss
	}
	su := e.staleUntil.Load()
	switch {
	case su == 0:
		return e, Hit
	case now.UnixNano() < su:
		return e, Stale
	}
	return nil, Miss
}

// Load computes key's entry once for every concurrent caller: the first
// one's fill runs under its own timeout, detached from ctx (values kept),
// and each caller waits on its own ctx. The entry is stored unless an
// invalidation of one of its dependencies was applied after the fill
// began (the generation check) or it expires before it is stored.
func (c *Cache) Load(ctx context.Context, key string, fill Fill) (*Entry, error) {
	ch := c.sf.DoChan(key, func() (any, error) {
		// A flight that ended between the caller's lookup and this one
		// stored its entry: use it.
		if e, st := c.Lookup(key, c.cfg.Now()); st == Hit {
			return e, nil
		}
		return c.fill(context.WithoutCancel(ctx), key, fill)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		if r.Shared {
			c.m.Coalesced.Inc()
		}
		return r.Val.(*Entry), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Refresh starts one background fill of e's key (the stale path); it does
// nothing while one runs.
func (c *Cache) Refresh(ctx context.Context, key string, e *Entry, fill Fill) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer e.refreshing.Store(false)
		if _, err := c.Load(context.WithoutCancel(ctx), key, fill); err != nil {
			c.log.Debug("cache: refresh", "key", key, "err", err)
		}
	}()
}

func (c *Cache) fill(ctx context.Context, key string, fill Fill) (*Entry, error) {
	c.mu.Lock()
	c.inflight.Add(1)
	start, startGen := c.cfg.Now(), c.gen
	c.mu.Unlock()
	defer c.inflight.Add(-1)
	lctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	c.m.Fills.Inc()
	e, cacheable, err := fill(lctx)
	if err != nil {
		return nil, err
	}
	if cacheable {
		c.store1(key, e, start, startGen)
	}
	return e, nil
}

// store1 stores a filled entry unless it lost the race with an
// invalidation, and reports whether it did.
func (c *Cache) store1(key string, e *Entry, start time.Time, startGen uint64) bool {
	if e.Expires.IsZero() || e.Expires.After(start.Add(c.cfg.TTL)) {
		e.Expires = start.Add(c.cfg.TTL)
	}
	e.content = contentHash(e.Body)
	if e.ETag == "" {
		e.ETag = etag(e.content)
	}
	if e.Surrogate == "" {
		e.Surrogate = surrogateKeys(e.Deps)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drainEvicted()
	now := c.cfg.Now()
	if startGen < c.prunedGen {
		c.m.Discarded.Inc()
		return false
	}
	for _, d := range e.Deps {
		if a, ok := c.applied[d]; ok && a.gen > startGen {
			c.m.Discarded.Inc()
			return false
		}
	}
	ttl := e.Expires.Sub(now)
	if ttl <= 0 {
		return false // the fill crossed its own boundary
	}
	if old, ok := c.store.Get(key); ok {
		c.unindex(key, old)
		if old.purged.Load() {
			c.m.Purged.WithLabelValues(fmt.Sprint(old.content != e.content)).Inc()
		}
	}
	for _, d := range e.Deps {
		m := c.byDep[d]
		if m == nil {
			m = map[string]*Entry{}
			c.byDep[d] = m
		}
		m[key] = e
	}
	c.store.Set(key, e, ttl)
	return true
}

// Invalidate purges the entries that depend on the listings ids or on
// tags, as a change's old and new rows say (ListingDeps, RowDeps). A
// dependency applied less than Config.Coalesce ago waits for the end of
// that window (Flush); its entries are then served for at most
// Config.Stale after this call while one refresh runs. The tag All purges
// everything at once.
func (c *Cache) Invalidate(ids, tags []string) {
	deps := make([]string, 0, len(ids)+len(tags))
	for _, id := range ids {
		deps = append(deps, ListingDep(id))
	}
	c.InvalidateDeps(append(deps, tags...))
}

// InvalidateDeps is Invalidate with listing ids already as dependencies
// (ListingDep).
func (c *Cache) InvalidateDeps(deps []string) {
	if len(deps) == 0 {
		return
	}
	now := c.cfg.Now()
	c.mu.Lock()
	if c.cfg.Boundaries != nil {
		for _, d := range deps {
			if d == All || d == TagDrops || d == TagParties {
				c.cfg.Boundaries.Invalidate()
				break
			}
		}
	}
	var due []string
	for _, d := range deps {
		if d == All {
			c.clearLocked()
			c.mu.Unlock()
			c.m.Invalidations.Inc()
			c.purge([]string{All})
			return
		}
		if _, ok := counterTarget(d); ok {
			if len(c.counters) == 0 {
				c.countersSince = now
			}
			c.counters[d] = true
			continue
		}
		if a, ok := c.applied[d]; ok && !a.counters && now.Sub(a.at) < c.cfg.Coalesce {
			if p, ok := c.pending[d]; !ok || now.Before(p) {
				c.pending[d] = now
			}
			continue
		}
		due = append(due, d)
	}
	c.applyLocked(due, now, func(string) time.Time { return now })
	c.mu.Unlock()
	c.purge(due)
}

// Flush applies the coalesced invalidations whose window has passed and
// forgets old applications; the cache's ticker (Run) calls it.
func (c *Cache) Flush() {
	now := c.cfg.Now()
	c.mu.Lock()
	c.drainEvicted()
	var due []string
	for d := range c.pending {
		if a := c.applied[d]; now.Sub(a.at) >= c.cfg.Coalesce {
			due = append(due, d)
		}
	}
	arrivals := make(map[string]time.Time, len(due))
	for _, d := range due {
		arrivals[d] = c.pending[d]
		delete(c.pending, d)
	}
	if len(c.counters) > 0 && now.Sub(c.countersSince) >= c.cfg.CounterLag {
		// Served stale for Config.Stale from now: they were allowed to lag.
		for d := range c.counters {
			arrivals[d] = now
			due = append(due, d)
		}
		c.counters = map[string]bool{}
	}
	c.applyLocked(due, now, func(d string) time.Time { return arrivals[d] })
	if now.Sub(c.lastPrune) >= time.Second {
		c.pruneLocked(now)
	}
	c.mu.Unlock()
	c.purge(due)
}

// applyLocked marks the entries of deps stale, each until its change's
// arrival plus Config.Stale, and records the application for the
// generation check; mu held.
func (c *Cache) applyLocked(deps []string, now time.Time, arrival func(string) time.Time) {
	if len(deps) == 0 {
		return
	}
	c.gen++
	idle := c.inflight.Load() == 0 && len(c.staged) == 0
	for _, d := range deps {
		target, counters := counterTarget(d)
		if idle && len(c.byDep[target]) == 0 {
			// No entry to mark and no fill to check: remembering it would
			// only cost memory (a snapshot touches every listing).
			continue
		}
		// Recorded under the listing dependency: a fill that read the old
		// counters is discarded like one that read the old row. Counters
		// do not delay the listing's next own change (a sale right after
		// the counters were applied is applied at once, not coalesced):
		// they keep the window of an earlier own change, if any.
		a := applied{gen: c.gen, at: now}
		if prev, ok := c.applied[target]; counters && ok && !prev.counters {
			a.at = prev.at
		} else {
			a.counters = counters
		}
		c.applied[target] = a
		until := arrival(d).Add(c.cfg.Stale).UnixNano()
		for _, e := range c.byDep[target] {
			if su := e.staleUntil.Load(); su == 0 || until < su {
				e.staleUntil.Store(until)
			}
			if !e.purged.Swap(true) {
				c.m.Stale.Inc()
			}
		}
	}
	c.m.Invalidations.Add(float64(len(deps)))
}

// pruneLocked forgets applications older than any fill still allowed to
// store; fills that started before them are discarded instead.
func (c *Cache) pruneLocked(now time.Time) {
	c.lastPrune = now
	horizon := c.cfg.LoadTimeout + c.cfg.Coalesce + time.Second
	for d, a := range c.applied {
		if _, waiting := c.pending[d]; !waiting && now.Sub(a.at) > horizon {
			c.prunedGen = max(c.prunedGen, a.gen)
			delete(c.applied, d)
		}
	}
}

// Clear drops every entry and discards every fill under way: what a
// replica does when it lost its place in the invalidation stream.
func (c *Cache) Clear() {
	c.mu.Lock()
	c.clearLocked()
	c.mu.Unlock()
}

func (c *Cache) clearLocked() {
	c.gen++
	c.prunedGen = c.gen
	c.byDep = map[string]map[string]*Entry{}
	c.applied = map[string]applied{}
	c.pending = map[string]time.Time{}
	c.counters = map[string]bool{}
	c.staged = map[string]*staged{}
	c.nStaged.Store(0)
	c.store.Clear()
	c.drainEvicted()
	c.m.Cleared.Inc()
}

func (c *Cache) purge(deps []string) {
	if c.cfg.Purger == nil || len(deps) == 0 {
		return
	}
	keys := make([]string, len(deps))
	for i, d := range deps {
		keys[i] = surrogateKey(d)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.cfg.Purger.Purge(ctx, keys); err != nil {
			c.m.PurgeErrors.Inc()
			c.log.Warn("cache: purge hook", "keys", len(keys), "err", err)
		}
	}()
}

// Run applies coalesced invalidations every Coalesce/5 until ctx is done.
func (c *Cache) Run(ctx context.Context) {
	tick.Every(ctx, max(c.cfg.Coalesce/5, time.Millisecond), nil, c.Flush)
}

// Len is the number of dependencies indexed and entries pending, for tests
// and the debug log.
func (c *Cache) Len() (deps, pending int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byDep), len(c.pending)
}

// Config returns the configuration in force (defaults applied).
func (c *Cache) Config() Config { return c.cfg }

// surrogateKey encodes a dependency as one Surrogate-Key token (space
// separated: spaces and percent signs are escaped).
func surrogateKey(d string) string {
	d, _ = counterTarget(d) // pages carry their listings' keys
	if !strings.ContainsAny(d, " %") {
		return d
	}
	return strings.NewReplacer("%", "%25", " ", "%20").Replace(d)
}

func surrogateKeys(deps []string) string {
	var b strings.Builder
	for i, d := range deps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(surrogateKey(d))
	}
	return b.String()
}

// Forget removes every entry of a user (UserTag) at once, with no stale
// window, and keeps fills that began before from storing theirs (rummage
// users forget); it returns how many entries went.
func (c *Cache) Forget(user string) int {
	dep := UserTag(user)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.applied[dep] = applied{gen: c.gen, at: c.cfg.Now()}
	n := 0
	for key, e := range c.byDep[dep] {
		c.unindex(key, e)
		c.store.Delete(key)
		n++
	}
	c.drainEvicted()
	return n
}
