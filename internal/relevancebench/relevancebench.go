package relevancebench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/affinity"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/searchbench"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// maxLatencyQueries bounds the distinct queries of the latency runs.
const maxLatencyQueries = 400

// Defaults of Config.
const (
	DefaultListings = 100_000
	DefaultShoppers = 2000
	DefaultStrength = 50
	DefaultUnits    = 3000
)

// Config configures a run.
type Config struct {
	Listings int
	Seed     uint64
	Now      time.Time // the catalog's base instant (searchbench.DefaultNow)
	Shoppers int
	// Strengths are the personalization strengths scored (default 50).
	Strengths []int
	// Units bounds the held-out search units scored (default 3000).
	Units int
	// Dir holds the built index (reused when it holds this catalog);
	// "" builds into a temporary directory.
	Dir string
	// LatencyIndexDir, when set, is a prebuilt bench index (rummage bench
	// search's main index, for LatencyListings listings of the same seed
	// and instant) on which search latency is measured; otherwise the
	// run's own index is.
	LatencyIndexDir string
	LatencyListings int
	// LatencyRounds is how many times the latency queries are run, each
	// anonymous then personalized.
	LatencyRounds int
	Log           io.Writer
}

func (c *Config) withDefaults() {
	c.Listings = cmp.Or(c.Listings, DefaultListings)
	c.Shoppers = cmp.Or(c.Shoppers, DefaultShoppers)
	c.Units = cmp.Or(c.Units, DefaultUnits)
	c.LatencyRounds = cmp.Or(c.LatencyRounds, 3)
	if c.Now.IsZero() {
		c.Now = searchbench.DefaultNow
	}
	if len(c.Strengths) == 0 {
		c.Strengths = []int{DefaultStrength}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Validate reports a configuration Run cannot run.
func (c *Config) Validate() error {
	if c.Listings < 0 || c.Shoppers < 0 || c.Units < 0 || c.LatencyRounds < 0 {
		return errors.New("relevancebench: sizes must not be negative")
	}
	for _, s := range c.Strengths {
		if s < 0 || s > 100 {
			return fmt.Errorf("relevancebench: strength %d: want 0..100", s)
		}
	}
	if c.LatencyIndexDir != "" && c.LatencyListings <= 0 {
		return errors.New("relevancebench: a latency index needs its listing count")
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	fmt.Fprintf(c.Log, "%s relevancebench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Report is a run's result.
type Report struct {
	Listings      int     `json:"listings"`
	Shoppers      int     `json:"shoppers"`
	TrainEvents   int     `json:"train_events"`
	HeldOutEvents int     `json:"held_out_events"`
	ClicksPerBuy  float64 `json:"clicks_per_order"`
	CartsPerBuy   float64 `json:"carts_per_order"`
	// Replay is the training part through the events topic into profiles.
	ReplaySeconds   float64 `json:"replay_seconds"`
	ReplayPerSecond float64 `json:"replay_events_per_second"`
	// TrainLikes and TrainShares are the training part's likes and shares
	// rows (fixtures.ShopperLog.Social) applied to the signals store as the
	// change stream would; TrendingListings is how many listings they made
	// engaged within trending's horizon (the ones trending considers).
	TrainLikes       int `json:"train_likes"`
	TrainShares      int `json:"train_shares"`
	TrendingListings int `json:"trending_listings"`
	// AnonymousHome is why the anonymous home feed's first page shows each
	// of its listings: how many per reason (trending, fresh).
	AnonymousHome map[string]int `json:"anonymous_home_reasons"`
	// SeenInTraining is the share of held-out judged listings the shopper
	// had interacted with in the training part.
	SeenInTraining float64            `json:"held_out_seen_in_training"`
	Search         map[string]Metrics `json:"search"`
	Home           map[string]Metrics `json:"home"`
	// Lift is the NDCG@10 lift of each personalized ranking over the
	// anonymous one, by part ("search", "home") and ranking name; absent
	// where the anonymous NDCG@10 is 0.
	Lift map[string]map[string]float64 `json:"ndcg_at_10_lift"`
	// LiftCI is each lift's 95 % interval, bootstrapped over the units
	// (paired: both rankings on the same resampled units); absent where
	// the anonymous NDCG@10 of too many resamples is 0.
	LiftCI  map[string]map[string]Interval `json:"ndcg_at_10_lift_ci"`
	Latency *Latency                       `json:"latency,omitempty"`
}

// TargetLift is the NDCG@10 lift issue 11 asks of personalization on the
// held-out part.
const TargetLift = 0.20

// Latency compares search latency anonymous vs personalized.
type Latency struct {
	Listings int                         `json:"listings"`
	Strength int                         `json:"strength"`
	Runs     map[string]benchkit.Summary `json:"runs"`
}

// pseudonymKey is the bench's fixed pseudonymization key.
var pseudonymKey = []byte("relevancebench pseudonym key 0001")

// Run runs the bench.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// 1. The catalog and the shoppers.
	dir, cleanup, err := benchkit.WorkDir(c.Dir, "relevancebench-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	x, err := c.index(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer x.Close()
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: c.Seed, Now: c.Now, Count: c.Listings})
	if err != nil {
		return nil, err
	}
	c.logf("drawing %d shoppers and their interactions", c.Shoppers)
	log, err := g.Shoppers(fixtures.ShopperOptions{Seed: c.Seed, Shoppers: c.Shoppers})
	if err != nil {
		return nil, err
	}
	rep := &Report{Listings: c.Listings, Shoppers: c.Shoppers, TrainEvents: len(log.Train), HeldOutEvents: len(log.HeldOut),
		Search: map[string]Metrics{}, Home: map[string]Metrics{}}
	rep.ClicksPerBuy, rep.CartsPerBuy = log.Ratios()

	// 2. The training part through the event path.
	store, err := memory.Open("")
	if err != nil {
		return nil, err
	}
	defer store.Close()
	pz, err := events.NewPseudonymizer(pseudonymKey)
	if err != nil {
		return nil, err
	}
	took, err := c.replay(ctx, log, pz, store, x)
	if err != nil {
		return nil, err
	}
	rep.ReplaySeconds, rep.ReplayPerSecond = took.Seconds(), float64(len(log.Train))/took.Seconds()
	c.logf("replayed %d training events through the events topic into profiles in %s (%.0f events/s)", len(log.Train), took.Round(time.Millisecond), rep.ReplayPerSecond)
	if rep.TrainLikes, rep.TrainShares, err = applySocial(ctx, log, store, time.Now()); err != nil {
		return nil, err
	}
	if rep.TrendingListings, err = trendingListings(ctx, store, time.Now()); err != nil {
		return nil, err
	}
	c.logf("applied %d likes and %d shares of the training part to the signals store: %d listings trending", rep.TrainLikes, rep.TrainShares, rep.TrendingListings)

	// 3. Score the held-out part.
	if err := c.score(ctx, rep, log, g, x, store, pz); err != nil {
		return nil, err
	}
	// 4. Latency.
	lat, err := c.latency(ctx, log, x, store, pz)
	if err != nil {
		return nil, err
	}
	rep.Latency = lat
	return rep, nil
}

// lifts sets the report's NDCG@10 lifts of part: each personalized
// scorer's over anon, with its bootstrapped interval (none where the
// anonymous NDCG@10 is 0).
func (r *Report) lifts(part string, anon *scorer, pers map[int]*scorer, seed uint64) {
	if r.Lift == nil {
		r.Lift, r.LiftCI = map[string]map[string]float64{}, map[string]map[string]Interval{}
	}
	r.Lift[part], r.LiftCI[part] = map[string]float64{}, map[string]Interval{}
	base := anon.mean().NDCG10
	for st, p := range pers {
		name := fmt.Sprintf("personalized_%d", st)
		if base > 0 {
			r.Lift[part][name] = p.mean().NDCG10/base - 1
		}
		if iv, ok := liftInterval(p, anon, seed+uint64(st)); ok {
			r.LiftCI[part][name] = iv
		}
	}
}

// applySocial applies the likes and shares rows of the training part
// (before the log's split) to store, as the indexer's signals applier
// does with the change stream's rows: signals.Writer.Apply, versioned in
// commit order. They are stamped at, the replay's instant, as the
// training events are (replay): the profiles and trending see the
// training part as one recent stretch, none of it decayed more than the
// rest. The listings' counters in the index are left as the catalog
// generated them (the marketplace's engagement before these shoppers):
// trending and the profiles read the store's rows, not the counters.
func applySocial(ctx context.Context, log *fixtures.ShopperLog, store signals.Writer, at time.Time) (likes, shares int, err error) {
	const batch = 1000
	var b signals.Batch
	version := uint64(0)
	flush := func() error {
		if len(b.Changes) == 0 {
			return nil
		}
		err := store.Apply(ctx, b)
		b.Changes = nil // the store may keep the slice it applied
		return err
	}
	for _, it := range log.Social {
		if !it.At.Before(log.Split) {
			break // time order: the rest is held out
		}
		version++
		user := log.Shoppers[it.Shopper].ID
		switch it.Type {
		case fixtures.InteractionLike:
			b.Changes = append(b.Changes, signals.Change{Version: version, Like: &signals.Like{User: user, Listing: it.Listing, At: at}})
			likes++
		case fixtures.InteractionShare:
			b.Changes = append(b.Changes, signals.Change{Version: version, Share: &signals.Share{ID: int64(version), User: user, Listing: it.Listing, At: at}})
			shares++
		default:
			return 0, 0, fmt.Errorf("relevancebench: social row of type %q", it.Type)
		}
		if len(b.Changes) == batch {
			if err := flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	return likes, shares, flush()
}

// trendingListings is how many listings have a trending score at now (the
// engaged listings trending considers, ranking.TrendingHorizon back).
func trendingListings(ctx context.Context, store *memory.Store, now time.Time) (int, error) {
	top, err := store.TopEngaged(ctx, now.Add(-ranking.TrendingHorizon), now, ranking.TrendingHalfLife, 1<<20)
	return len(top), err
}

// index opens the catalog's index in dir, building it when dir does not
// hold this catalog.
func (c *Config) index(ctx context.Context, dir string) (*embedded.Index, error) {
	marker := fmt.Sprintf("%s/relevancebench-%d-%d-%d", dir, c.Listings, c.Seed, c.Now.Unix())
	idxDir := dir + "/index"
	if _, err := os.Stat(marker); err == nil {
		c.logf("reusing the index in %s", idxDir)
		return embedded.Open(ctx, embedded.Config{Dir: idxDir})
	}
	if err := os.RemoveAll(idxDir); err != nil {
		return nil, err
	}
	c.logf("building an embedded index of %d listings in %s", c.Listings, idxDir)
	x, err := embedded.Open(ctx, embedded.Config{Dir: idxDir})
	if err != nil {
		return nil, err
	}
	next, stop := searchbench.Changes(ctx, fixtures.Options{Seed: c.Seed, Now: c.Now, Count: c.Listings})
	defer stop()
	start := time.Now()
	if _, err := x.Bulk(ctx, next); err != nil {
		x.Close()
		return nil, err
	}
	c.logf("built in %s", time.Since(start).Round(100*time.Millisecond))
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

// replay posts the training part to POST /v1/events of an in-process API
// (batches of 50, an events key speaking for the shoppers) whose producer
// writes to the events topic of an in-process broker, and runs the
// affinity consumer until the profiles hold every accepted event. The
// API accepts "at" only within a day of its clock, and the log spans
// weeks before the catalog's instant: the events are posted without it,
// so the server stamps them now and the profiles decay nothing between
// them (their relative weights are the event types').
func (c *Config) replay(ctx context.Context, log *fixtures.ShopperLog, pz *events.Pseudonymizer, store *memory.Store, x *embedded.Index) (time.Duration, error) {
	const prefix = "relbench"
	topic := events.Topic(prefix)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
	if err != nil {
		return 0, err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: brokers, TopicPrefix: prefix, Partitions: 4, Logger: quiet}, nil)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	ring, _, err := benchKeys(ctx)
	if err != nil {
		return 0, err
	}
	evKey, _, err := ring.Create(ctx, keys.Events, "relevancebench events")
	if err != nil {
		return 0, err
	}
	cfg := api.DefaultConfig()
	cfg.Auth = api.Auth{Keys: ring}
	srv, err := api.New(cfg, x, quiet, api.WithEvents(prod, pz))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	accepted := 0
	const batch = 50
	for i := 0; i < len(log.Train); i += batch {
		var body struct {
			Events []events.Event `json:"events"`
		}
		for _, it := range log.Train[i:min(i+batch, len(log.Train))] {
			body.Events = append(body.Events, events.Event{Type: events.Type(it.Type), User: log.Shoppers[it.Shopper].ID, ListingID: it.Listing, Surface: "search"})
		}
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+evKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var ans struct {
			Accepted int               `json:"accepted"`
			Rejected []json.RawMessage `json:"rejected"`
		}
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &ans) != nil || len(ans.Rejected) > 0 {
			return 0, fmt.Errorf("relevancebench: POST /v1/events: %d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
		}
		accepted += ans.Accepted
	}
	c.logf("posted %d events to /v1/events in %s", accepted, time.Since(start).Round(time.Millisecond))
	src, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: affinity.Group(prefix), Topics: []string{topic},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	cons, err := affinity.New(affinity.Config{}, src, store, x)
	if err != nil {
		return 0, err
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(rctx) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ps, err := store.ProfilePositions(ctx)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, p := range ps {
			n += int(p.Offset + 1)
		}
		if n >= accepted {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("relevancebench: the consumer applied %d of %d events in 5 minutes", n, accepted)
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("relevancebench: consumer stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// server is the API over x and store, personalized at strength, with the
// answer cache in front unless uncached; and a search key's secret.
func server(ctx context.Context, x *embedded.Index, store *memory.Store, pz *events.Pseudonymizer, strength int, uncached bool) (http.Handler, string, error) {
	ring, secret, err := benchKeys(ctx)
	if err != nil {
		return nil, "", err
	}
	cfg := api.DefaultConfig()
	cfg.Signals = store
	cfg.Auth = api.Auth{Keys: ring}
	cfg.Feeds.Personal = feed.PersonalConfig{Profiles: store, Pseudonym: pz.Of, Strength: func(string) int { return strength }}
	var opts []api.Option
	if !uncached {
		ch, err := cache.New(cache.Config{})
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, api.WithMiddleware(ch.Middleware(cache.HTTPConfig{Social: store})))
	}
	srv, err := api.New(cfg, x, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		return nil, "", err
	}
	return srv, secret, nil
}

// benchKeys is the bench's key ring and its search key's secret, one for
// every server of a run.
func benchKeys(ctx context.Context) (*keys.Ring, string, error) {
	keysOnce.Do(func() {
		keysOnce.ring, keysOnce.err = keys.Open(ctx, &keys.MemStore{}, keys.RingConfig{})
		if keysOnce.err == nil {
			keysOnce.secret, _, keysOnce.err = keysOnce.ring.Create(ctx, keys.Search, "relevancebench")
		}
	})
	return keysOnce.ring, keysOnce.secret, keysOnce.err
}

var keysOnce struct {
	sync.Once
	ring   *keys.Ring
	secret string
	err    error
}

// get runs one GET on h and returns the ids of its hits.
func get(h http.Handler, secret, path string, q url.Values) ([]string, error) {
	ids, _, err := getReasons(h, secret, path, q)
	return ids, err
}

// getReasons runs one GET on h and returns the ids of its hits and their
// feed_reason types ("" for none).
func getReasons(h http.Handler, secret, path string, q url.Values) ([]string, []string, error) {
	req := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, nil, fmt.Errorf("relevancebench: %s?%s: %d %s", path, q.Encode(), rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	var a struct {
		Hits []struct {
			ID     string `json:"id"`
			Reason *struct {
				Type string `json:"type"`
			} `json:"feed_reason"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		return nil, nil, err
	}
	ids, reasons := make([]string, len(a.Hits)), make([]string, len(a.Hits))
	for i, h := range a.Hits {
		ids[i] = h.ID
		if h.Reason != nil {
			reasons[i] = h.Reason.Type
		}
	}
	return ids, reasons, nil
}

// searchUnit is one held-out search: a shopper, what they searched, and
// the listings they then clicked (1), carted (2) or bought (3).
type searchUnit struct {
	shopper int
	query   string
	rel     map[string]int
}

var grades = map[string]int{fixtures.InteractionClick: 1, fixtures.InteractionCart: 2, fixtures.InteractionPurchase: 3}

func units(log *fixtures.ShopperLog, limit int) ([]searchUnit, map[int]map[string]int) {
	type key struct {
		s int
		q string
	}
	byKey := map[key]map[string]int{}
	var order []key
	home := map[int]map[string]int{}
	for _, it := range log.HeldOut {
		k := key{it.Shopper, it.Query}
		if byKey[k] == nil {
			byKey[k] = map[string]int{}
			order = append(order, k)
		}
		byKey[k][it.Listing] = max(byKey[k][it.Listing], grades[it.Type])
		if home[it.Shopper] == nil {
			home[it.Shopper] = map[string]int{}
		}
		home[it.Shopper][it.Listing] = max(home[it.Shopper][it.Listing], grades[it.Type])
	}
	var out []searchUnit
	for _, k := range order[:min(limit, len(order))] {
		out = append(out, searchUnit{shopper: k.s, query: k.q, rel: byKey[k]})
	}
	return out, home
}

// score scores the held-out part.
func (c *Config) score(ctx context.Context, rep *Report, log *fixtures.ShopperLog, g *fixtures.Generator, x *embedded.Index,
	store *memory.Store, pz *events.Pseudonymizer) error {
	us, home := units(log, c.Units)
	seen := map[[2]string]bool{}
	for _, it := range log.Train {
		seen[[2]string{log.Shoppers[it.Shopper].ID, it.Listing}] = true
	}
	judged, again := 0, 0
	for s, rel := range home {
		for l := range rel {
			judged++
			if seen[[2]string{log.Shoppers[s].ID, l}] {
				again++
			}
		}
	}
	if judged > 0 {
		rep.SeenInTraining = float64(again) / float64(judged)
	}
	c.logf("scoring %d held-out searches and %d shoppers' home feeds", len(us), len(home))
	now := time.Now()
	var anon, oracle, pop scorer
	pers := map[int]*scorer{}
	servers := map[int]http.Handler{}
	var secret string
	for _, st := range c.Strengths {
		h, s, err := server(ctx, x, store, pz, st, false)
		if err != nil {
			return err
		}
		servers[st], secret, pers[st] = h, s, &scorer{}
	}
	base := servers[c.Strengths[0]]
	for n, u := range us {
		if n > 0 && n%200 == 0 {
			c.logf("%d of %d searches scored", n, len(us))
		}
		q := url.Values{"q": {u.query}}
		ids, err := get(base, secret, "/v1/search", q)
		if err != nil {
			return err
		}
		anon.add(ids, u.rel)
		for _, st := range c.Strengths {
			q := url.Values{"q": {u.query}, "user": {log.Shoppers[u.shopper].ID}}
			ids, err := get(servers[st], secret, "/v1/search", q)
			if err != nil {
				return err
			}
			pers[st].add(ids, u.rel)
		}
		// The oracle and popularity rank the query's first candidates of
		// the shipped blend (query.MaxCandidates) by the true preferences
		// (then the blend), and by likes and shares.
		r := feed.SearchRetrieval(&query.Request{Query: u.query}, now, nil)
		r.Score, r.N = ranking.Blend{NowMs: now.UnixMilli()}, query.MaxCandidates
		cands, err := x.Retrieve(ctx, r)
		if err != nil {
			return err
		}
		sh := &log.Shoppers[u.shopper]
		hits := cands.Hits
		pref := make(map[string]int, len(hits))
		for i := range hits {
			s := &hits[i].Signals
			pref[hits[i].ID] = sh.Prefers(s.Brand, strings.Split(s.Category, "/"), s.Size, s.PriceCents)
		}
		byPref := slices.Clone(hits)
		slices.SortStableFunc(byPref, func(a, b query.Candidate) int { return cmp.Compare(pref[b.ID], pref[a.ID]) })
		oracle.add(candIDs(byPref), u.rel)
		byPop := slices.Clone(hits)
		slices.SortStableFunc(byPop, func(a, b query.Candidate) int { return cmp.Compare(popularity(&b.Signals), popularity(&a.Signals)) })
		pop.add(candIDs(byPop), u.rel)
	}
	rep.Search["anonymous"], rep.Search["oracle"], rep.Search["popularity"] = anon.mean(), oracle.mean(), pop.mean()
	for _, st := range c.Strengths {
		rep.Search[fmt.Sprintf("personalized_%d", st)] = pers[st].mean()
	}
	rep.lifts("search", &anon, pers, c.Seed)

	// The home feed: the shopper's first page, anonymous and personalized;
	// the oracle and popularity over the whole visible catalog.
	facts, err := catalogFacts(g, c.Now)
	if err != nil {
		return err
	}
	anonHome, why, err := getReasons(base, secret, "/v1/feed", url.Values{})
	if err != nil {
		return err
	}
	rep.AnonymousHome = map[string]int{}
	for _, r := range why {
		rep.AnonymousHome[r]++
	}
	byPop := slices.Clone(facts)
	slices.SortStableFunc(byPop, func(a, b fact) int { return cmp.Compare(b.pop, a.pop) })
	popHome := make([]string, 24)
	for i := range popHome {
		popHome[i] = byPop[i].id
	}
	var hAnon, hOracle, hPop scorer
	hPers := map[int]*scorer{}
	for _, st := range c.Strengths {
		hPers[st] = &scorer{}
	}
	shoppers := make([]int, 0, len(home))
	for s := range home {
		shoppers = append(shoppers, s)
	}
	slices.Sort(shoppers)
	shoppers = shoppers[:min(len(shoppers), c.Units)]
	c.logf("scored %d searches; scoring %d home feeds", len(us), len(shoppers))
	for _, s := range shoppers {
		rel := home[s]
		hAnon.add(anonHome, rel)
		hPop.add(popHome, rel)
		for _, st := range c.Strengths {
			ids, err := get(servers[st], secret, "/v1/feed", url.Values{"user": {log.Shoppers[s].ID}})
			if err != nil {
				return err
			}
			hPers[st].add(ids, rel)
		}
		hOracle.add(oracleHome(&log.Shoppers[s], facts, 24), rel)
	}
	rep.Home["anonymous"], rep.Home["oracle"], rep.Home["popularity"] = hAnon.mean(), hOracle.mean(), hPop.mean()
	for _, st := range c.Strengths {
		rep.Home[fmt.Sprintf("personalized_%d", st)] = hPers[st].mean()
	}
	rep.lifts("home", &hAnon, hPers, c.Seed)
	return nil
}

func candIDs(cs []query.Candidate) []string {
	out := make([]string, min(len(cs), 24))
	for i := range out {
		out[i] = cs[i].ID
	}
	return out
}

func popularity(s *query.Signals) int64 { return s.Likes + 2*s.Shares }

// fact is what the home oracle needs of a visible listing.
type fact struct {
	id       string
	brand    string
	category []string
	size     string
	price    int64
	listedMs int64
	pop      int64
}

func catalogFacts(g *fixtures.Generator, now time.Time) ([]fact, error) {
	var out []fact
	for i := range g.Count() {
		l := g.Listing(i)
		if l.Status != "available" || (l.AvailableAt != nil && l.AvailableAt.After(now)) {
			continue
		}
		out = append(out, fact{id: l.ID, brand: l.Brand, category: l.Category, size: l.Size, price: l.PriceCents,
			listedMs: l.ListedAt().UnixMilli(), pop: l.LikeCount + 2*l.ShareCount})
	}
	if len(out) < 24 {
		return nil, errors.New("relevancebench: fewer than 24 visible listings")
	}
	return out, nil
}

// oracleHome ranks the catalog by the shopper's true preferences, the
// newest first among equals.
func oracleHome(sh *fixtures.Shopper, facts []fact, k int) []string {
	type scored struct {
		i, pref int
	}
	top := make([]scored, 0, k+1)
	for i := range facts {
		f := &facts[i]
		p := sh.Prefers(f.brand, f.category, f.size, f.price)
		top = append(top, scored{i, p})
		if len(top) > 4*k {
			slices.SortFunc(top, func(a, b scored) int {
				if c := cmp.Compare(b.pref, a.pref); c != 0 {
					return c
				}
				return cmp.Compare(facts[b.i].listedMs, facts[a.i].listedMs)
			})
			top = top[:k]
		}
	}
	slices.SortFunc(top, func(a, b scored) int {
		if c := cmp.Compare(b.pref, a.pref); c != 0 {
			return c
		}
		return cmp.Compare(facts[b.i].listedMs, facts[a.i].listedMs)
	})
	out := make([]string, 0, k)
	for _, s := range top[:min(k, len(top))] {
		out = append(out, facts[s.i].id)
	}
	return out
}

// latency measures search anonymous vs personalized, the same held-out
// queries in the same run, on the latency index when given (else the
// run's own), with and without the answer cache.
func (c *Config) latency(ctx context.Context, log *fixtures.ShopperLog, own *embedded.Index, store *memory.Store, pz *events.Pseudonymizer) (*Latency, error) {
	x, listings := own, c.Listings
	if c.LatencyIndexDir != "" {
		c.logf("opening the latency index %s (%d listings)", c.LatencyIndexDir, c.LatencyListings)
		big, err := embedded.Open(ctx, embedded.Config{Dir: c.LatencyIndexDir})
		if err != nil {
			return nil, err
		}
		defer big.Close()
		x, listings = big, c.LatencyListings
	}
	us, _ := units(log, min(c.Units, maxLatencyQueries))
	strength := c.Strengths[len(c.Strengths)-1]
	lat := &Latency{Listings: listings, Strength: strength, Runs: map[string]benchkit.Summary{}}
	for _, uncached := range []bool{false, true} {
		h, secret, err := server(ctx, x, store, pz, strength, uncached)
		if err != nil {
			return nil, err
		}
		name := map[bool]string{false: "cached", true: "uncached"}[uncached]
		c.logf("search latency (%s): %d queries × %d rounds, anonymous then personalized", name, len(us), c.LatencyRounds)
		var a, p []time.Duration
		var ta, tp time.Duration
		for round := 0; round <= c.LatencyRounds; round++ { // round 0 warms up
			for _, u := range us {
				for _, personal := range []bool{false, true} {
					q := url.Values{"q": {u.query}}
					if personal {
						q.Set("user", log.Shoppers[u.shopper].ID)
					}
					start := time.Now()
					if _, err := get(h, secret, "/v1/search", q); err != nil {
						return nil, err
					}
					d := time.Since(start)
					if round == 0 {
						continue
					}
					if personal {
						p, tp = append(p, d), tp+d
					} else {
						a, ta = append(a, d), ta+d
					}
				}
			}
		}
		lat.Runs[name+"_anonymous"] = benchkit.Summarize(a, ta, 1)
		lat.Runs[name+"_personalized"] = benchkit.Summarize(p, tp, 1)
	}
	return lat, nil
}
