package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rummage/rummage/internal/progress"
)

// Config configures a run. The zero values of the optional fields are the
// defaults of withDefaults.
type Config struct {
	// Target is the base URL of the API (http://127.0.0.1:8080); Key an
	// API key sent as a bearer token (empty: none).
	Target, Key string
	// Scenario is party-start, drop or search-mix.
	Scenario string
	// Duration of the run (60 s).
	Duration time.Duration
	// Rate: the baseline requests a second (party-start, search-mix), the
	// peak at T0 (drop). 100.
	Rate float64

	// party-start: the wave starts at WaveAt (Duration/4) and decays with
	// WaveTau (10 s); requests ×WaveMult (2), shares ×ShareMult (4) over
	// ShareRate shares a second (20), written when DatabaseURL is set.
	// Party names the party (default: the first live or upcoming one).
	WaveAt, WaveTau     time.Duration
	WaveMult, ShareMult float64
	ShareRate           float64
	Party               string

	// drop: T0 is when the drop lands, from the run's start (0: the
	// target's next drop if it falls inside the run, else Duration/3).
	// Shoppers arrive over Ramp (T0) and refresh every Think (10 s); after
	// T0 they open a page every AfterThink (2 s) and leave with Leave
	// (Duration/3). Sales listings are sold at T0 when DatabaseURL is set.
	T0, Ramp, Think, AfterThink, Leave time.Duration
	Sales                              int

	// DatabaseURL is the target's Postgres, for the scenario's writes.
	DatabaseURL string

	// Sources is how many loopback source addresses (127.0.0.1, .2, …)
	// the load comes from when the target is on loopback (4); MaxWorkers
	// caps the workers over all of them (512); Timeout bounds a request
	// (10 s).
	Sources, MaxWorkers int
	Timeout             time.Duration
	// LagLimit is how far the generator may fall behind the offered
	// arrivals before the run fails (0.02).
	LagLimit float64
	// ProbePath, when set, is probed at ProbeRate (10/s) by a separate
	// generator, reported apart (the /healthz prober).
	ProbePath string
	ProbeRate float64
	// Seed of the request mix (1).
	Seed uint64

	// Shape and Mix override the scenario's (bench spike).
	Shape Shape
	Mix   Mix
	// Catalog skips discovery.
	Catalog *Catalog

	// Log gets the progress line (nil: none).
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Duration = cmp.Or(c.Duration, 60*time.Second)
	c.Rate = cmp.Or(c.Rate, 100)
	c.WaveAt = cmp.Or(c.WaveAt, c.Duration/4)
	c.WaveTau = cmp.Or(c.WaveTau, 10*time.Second)
	c.WaveMult = cmp.Or(c.WaveMult, 2)
	c.ShareMult = cmp.Or(c.ShareMult, 4)
	c.ShareRate = cmp.Or(c.ShareRate, 20)
	c.Think = cmp.Or(c.Think, 10*time.Second)
	c.AfterThink = cmp.Or(c.AfterThink, 2*time.Second)
	c.Leave = cmp.Or(c.Leave, c.Duration/3)
	c.Sales = cmp.Or(c.Sales, 10)
	c.Sources = cmp.Or(c.Sources, 4)
	c.MaxWorkers = cmp.Or(c.MaxWorkers, 512)
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	c.LagLimit = cmp.Or(c.LagLimit, 0.02)
	c.ProbeRate = cmp.Or(c.ProbeRate, 10)
	c.Seed = cmp.Or(c.Seed, 1)
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	u, err := url.Parse(c.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadgen: target %q: want an http(s) URL", c.Target)
	}
	if c.Mix == nil {
		switch c.Scenario {
		case PartyStart, DropScene, SearchMix:
		default:
			return fmt.Errorf("loadgen: unknown scenario %q; use %s", c.Scenario, strings.Join(Scenarios, ", "))
		}
	}
	switch {
	case c.Duration < 0, c.Rate < 0, c.WaveTau < 0, c.Think < 0, c.AfterThink < 0, c.Leave < 0, c.Timeout < 0:
		return errors.New("loadgen: negative duration or rate")
	case c.Sources < 0 || c.Sources > 250:
		return errors.New("loadgen: sources must be 1..250")
	case c.MaxWorkers < 0, c.Sales < 0:
		return errors.New("loadgen: negative workers or sales")
	case c.LagLimit < 0 || c.LagLimit >= 1:
		return errors.New("loadgen: lag limit must be in [0, 1)")
	case c.WaveMult != 0 && c.WaveMult < 1, c.ShareMult != 0 && c.ShareMult < 1:
		return errors.New("loadgen: wave multipliers must be at least 1")
	}
	return nil
}

// plan is a configured scenario: its shape, mix and T0.
type plan struct {
	shape Shape
	mix   Mix
	t0    time.Duration // drop
	drop  *dropMix
}

// planFor builds the scenario's shape and mix over the catalog.
func planFor(cfg Config, c *Catalog, start time.Time) (*plan, error) {
	p := &plan{}
	switch cfg.Scenario {
	case PartyStart:
		if c.Party == "" && cfg.Mix == nil {
			return nil, errors.New("loadgen: party-start needs a party: the target lists none live or upcoming (--party)")
		}
		p.shape, p.mix = Wave{Base: cfg.Rate, At: cfg.WaveAt, Mult: cfg.WaveMult, Tau: cfg.WaveTau}, partyMix{c}
	case DropScene:
		p.t0 = cfg.T0
		if p.t0 == 0 {
			p.t0 = cfg.Duration / 3
			if d := c.NextDrop.Sub(start); !c.NextDrop.IsZero() && d > 0 && d < cfg.Duration {
				p.t0 = d
			}
		}
		ramp := cfg.Ramp
		if ramp == 0 || ramp > p.t0 {
			ramp = p.t0
		}
		p.shape = Drop{Shoppers: ShoppersFor(cfg.Rate, cfg.AfterThink), T0: p.t0, Ramp: ramp, Think: cfg.Think, AfterThink: cfg.AfterThink, Leave: cfg.Leave}
		p.drop = &dropMix{c: c, t0: p.t0}
		p.mix = p.drop
	default:
		p.shape, p.mix = Constant(cfg.Rate), searchMix{c}
	}
	if cfg.Shape != nil {
		p.shape = cfg.Shape
	}
	if cfg.Mix != nil {
		p.mix = cfg.Mix
	}
	return p, nil
}

// sources are the local addresses to send from: 127.0.0.1..n when the
// target is on loopback, else the default.
func sources(target string, n int) []net.IPAddr {
	u, _ := url.Parse(target)
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback() || ip.To4() == nil) {
		return []net.IPAddr{vegeta.DefaultLocalAddr}
	}
	out := make([]net.IPAddr, n)
	for i := range out {
		out[i] = net.IPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))}
	}
	return out
}

// Run runs the scenario against the target and reports. It returns an
// error only when the run could not be made; a run whose generator lagged
// reports Pass false.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	base := strings.TrimSuffix(cfg.Target, "/")
	cat := cfg.Catalog
	if cat == nil {
		var err error
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cat, err = Discover(dctx, &http.Client{Timeout: cfg.Timeout}, base, cfg.Key, cfg.Party)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	var w *writer
	if cfg.DatabaseURL != "" {
		var err error
		if w, err = openWriter(ctx, cfg.DatabaseURL); err != nil {
			return nil, err
		}
		defer w.close()
	}
	start := time.Now()
	p, err := planFor(cfg, cat, start)
	if err != nil {
		return nil, err
	}

	offered := NewSchedule(p.shape, cfg.Duration)
	srcs := sources(cfg.Target, cfg.Sources)
	col := newCollector(cfg.Duration, p)
	hdr := http.Header{}
	if cfg.Key != "" {
		hdr.Set("Authorization", "Bearer "+cfg.Key)
	}
	workers := max(1, cfg.MaxWorkers/len(srcs))
	var attackers []*vegeta.Attacker
	var chans []<-chan *vegeta.Result
	for i, src := range srcs {
		a := vegeta.NewAttacker(vegeta.LocalAddr(src), vegeta.Workers(uint64(min(workers, 16))), vegeta.MaxWorkers(uint64(workers)),
			vegeta.Timeout(cfg.Timeout), vegeta.KeepAlive(true), vegeta.Connections(workers), vegeta.Redirects(vegeta.NoFollow))
		attackers = append(attackers, a)
		sched := offered.Split(i, len(srcs))
		chans = append(chans, a.Attack(col.targeter(base, hdr, p.mix, start, cfg.Seed, uint64(i)), sched, cfg.Duration+time.Second, fmt.Sprintf("src%d", i)))
	}
	var probe *collector
	var wg sync.WaitGroup
	if cfg.ProbePath != "" {
		probe = newCollector(cfg.Duration, &plan{})
		a := vegeta.NewAttacker(vegeta.Workers(2), vegeta.MaxWorkers(16), vegeta.Timeout(cfg.Timeout), vegeta.KeepAlive(true))
		attackers = append(attackers, a)
		tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: base + cfg.ProbePath})
		ch := a.Attack(tr, NewSchedule(Constant(cfg.ProbeRate), cfg.Duration), cfg.Duration+time.Second, "probe")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range ch {
				probe.add(r, start, "probe")
			}
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		for _, a := range attackers {
			a.Stop()
		}
	})
	defer stop()
	if w != nil {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, cfg, p, cat, start) }()
	}
	prog := progress.New(cfg.Log, "loadtest", int64(offered.Arrivals()))
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range ch {
				col.add(r, start, "")
			}
		}()
	}
	done := make(chan struct{})
	go col.progress(prog, p.shape, start, done)
	wg.Wait()
	close(done)
	elapsed := time.Since(start)
	prog.Done(col.count())
	rep := col.report(cfg, offered, elapsed)
	rep.Sources = len(srcs)
	rep.Workers = workers * len(srcs)
	if p.drop != nil {
		rep.T0 = p.t0.Seconds()
		rep.Shoppers = ShoppersFor(cfg.Rate, cfg.AfterThink)
	}
	if probe != nil {
		pr := probe.report(cfg, NewSchedule(Constant(cfg.ProbeRate), cfg.Duration), elapsed)
		rep.Probe = &ProbeReport{Path: cfg.ProbePath, Requests: pr.Sent, Status: pr.Status, Latency: pr.Latency}
	}
	if w != nil {
		rep.Writes = w.stats()
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

// rngs is a mutex-guarded random source for concurrent targeters.
type lockedRand struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// targeter issues the mix's requests, remembering each URL's kind.
func (col *collector) targeter(base string, hdr http.Header, mix Mix, start time.Time, seed, stream uint64) vegeta.Targeter {
	lr := &lockedRand{rng: rand.New(rand.NewPCG(seed, stream))}
	return func(t *vegeta.Target) error {
		el := time.Since(start)
		lr.mu.Lock()
		req := mix.Pick(el, lr.rng)
		lr.mu.Unlock()
		t.Method, t.URL, t.Header = http.MethodGet, base+req.Path, hdr
		col.kinds.Store(t.URL, req.Kind)
		return nil
	}
}
