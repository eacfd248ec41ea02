package spikebench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/loadgen"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// Config configures the bench.
type Config struct {
	// Exe is the rummage binary to serve with (os.Executable).
	Exe string
	// Dir holds the index and the signals store (a temporary directory
	// when empty, removed afterwards).
	Dir string
	// Listings in the seeded catalog (50,000), Seed its seed (1).
	Listings int
	Seed     uint64
	// PartyShares is how many listings are shared into the live party
	// (2,000).
	PartyShares int
	// Step is the length of one capacity step (4 s), Overload of the run
	// at twice the capacity (15 s).
	Step, Overload time.Duration
	// StartRate is the first capacity step (100/s); each doubles until a
	// step fails, then two bisections refine. MaxRate caps it (20,000).
	StartRate, MaxRate float64
	// P99Limit is the admitted p99 a capacity step may reach (50 ms).
	P99Limit time.Duration
	// MaxWorkers of the load generator (1,024).
	MaxWorkers int
	// Pin runs the service on core 0 and the load on core 1 with taskset
	// when there are at least two cores and taskset is installed.
	Pin bool
	// Only runs one variant (on or off); empty runs both.
	Only string
	// MaxInFlight is the "on" variant's --max-in-flight (128; negative:
	// none, the cache and admission only).
	MaxInFlight int
	// SchedLatency is the "on" variant's --shed-sched-latency (5 ms;
	// negative: none).
	SchedLatency time.Duration
	// Log gets progress (nil: none).
	Log *slog.Logger
}

func (c *Config) withDefaults() {
	if c.Listings == 0 {
		c.Listings = 50000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.PartyShares == 0 {
		c.PartyShares = 2000
	}
	if c.Step == 0 {
		c.Step = 4 * time.Second
	}
	if c.Overload == 0 {
		c.Overload = 15 * time.Second
	}
	if c.StartRate == 0 {
		c.StartRate = 100
	}
	if c.MaxRate == 0 {
		c.MaxRate = 20000
	}
	if c.P99Limit == 0 {
		c.P99Limit = 50 * time.Millisecond
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = 1024
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 128
	}
	if c.SchedLatency == 0 {
		c.SchedLatency = 5 * time.Millisecond
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Exe == "":
		return errors.New("spikebench: no binary to serve with")
	case c.Listings < 0, c.PartyShares < 0, c.Step < 0, c.Overload < 0, c.StartRate < 0, c.MaxRate < 0, c.P99Limit < 0, c.MaxWorkers < 0:
		return errors.New("spikebench: negative setting")
	case c.Only != "" && c.Only != VariantOn && c.Only != VariantOff:
		return fmt.Errorf("spikebench: unknown variant %q; use on or off", c.Only)
	}
	return nil
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		c.Log.Info(fmt.Sprintf(format, a...))
	}
}

// The variants.
const (
	VariantOn  = "on"
	VariantOff = "off"
)

// variantFlags are serve's flags for each: the cache and admission are on
// by default, the in-flight cap and the scheduling shed are added (rate
// limits stay off: one client address).
func variantFlags(cfg *Config, name string) []string {
	if name == VariantOff {
		return []string{"--cache=false", "--admission=false"}
	}
	var flags []string
	if cfg.MaxInFlight > 0 {
		flags = append(flags, "--max-in-flight", strconv.Itoa(cfg.MaxInFlight))
	}
	if cfg.SchedLatency > 0 {
		flags = append(flags, "--shed-sched-latency", cfg.SchedLatency.String())
	}
	return flags
}

// PartyID is the bench's live party.
const PartyID = "spike-party"

// Run runs the bench.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, cleanup, err := benchkit.WorkDir(cfg.Dir, "rummage-spike-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rep := &Report{Listings: cfg.Listings, PartyShares: cfg.PartyShares, P99LimitMS: float64(cfg.P99Limit.Milliseconds()), Cores: runtime.NumCPU()}
	sigDir := filepath.Join(dir, "signals")
	if err := writeSignals(ctx, &cfg, sigDir); err != nil {
		return nil, err
	}
	pin := ""
	if cfg.Pin {
		pin = benchkit.Taskset(runtime.NumCPU())
	}
	if pin != "" {
		// The load (this process, every thread) on core 1.
		if out, err := exec.Command(pin, "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("spikebench: taskset: %v: %s", err, out)
		}
		rep.Pinned = "service on core 0, load on core 1 (taskset)"
	} else {
		rep.Pinned = "not pinned (taskset missing, one core, or --pin=false)"
	}
	variants := []string{VariantOn, VariantOff}
	if cfg.Only != "" {
		variants = []string{cfg.Only}
	}
	var overloadRate float64
	for _, name := range variants {
		v, err := runVariant(ctx, &cfg, name, dir, sigDir, pin, &overloadRate)
		if err != nil {
			return nil, fmt.Errorf("spikebench: protections %s: %w", name, err)
		}
		rep.Variants = append(rep.Variants, v)
	}
	return rep, nil
}

// writeSignals writes the party store: one party, live for the whole run,
// themed on the catalog's most common category root, with PartyShares of
// its listings shared into it over the last hour.
func writeSignals(ctx context.Context, cfg *Config, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: cfg.Seed, Count: cfg.Listings})
	if err != nil {
		return err
	}
	roots := map[string][]string{}
	best := ""
	for i := range cfg.Listings {
		l := g.Listing(i)
		if len(l.Category) == 0 || l.Status != "available" || l.AvailableAt != nil {
			continue
		}
		r := l.Category[0]
		roots[r] = append(roots[r], l.ID)
		if len(roots[r]) > len(roots[best]) {
			best = r
		}
	}
	ids := roots[best]
	if len(ids) > cfg.PartyShares {
		ids = ids[:cfg.PartyShares]
	}
	st, err := memory.Open(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	changes := []signals.Change{{Party: &signals.Party{ID: PartyID, Name: "Spike Party (" + best + ")",
		Theme: signals.Theme{Filters: query.Filters{Category: []string{best}}}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(24 * time.Hour)}}}
	for k, id := range ids {
		at := now.Add(-time.Hour + time.Duration(k+1)*time.Hour/time.Duration(len(ids)+1))
		changes = append(changes, signals.Change{Share: &signals.Share{ID: int64(k + 1), User: fmt.Sprintf("u%d", k%500), Listing: id, Party: PartyID, At: at}})
	}
	for i := range changes {
		changes[i].Version = uint64(i + 1)
	}
	if err := st.Apply(ctx, signals.Batch{Changes: changes, Positions: []signals.Position{{Topic: "spikebench", Offset: int64(len(changes))}}}); err != nil {
		return fmt.Errorf("spikebench: signals: %w", err)
	}
	cfg.logf("signals: party %s on %s with %d shared listings", PartyID, best, len(ids))
	return nil
}

func startServe(ctx context.Context, cfg *Config, name, dir, sigDir, pin string) (*child, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", addr, "--index-dir", filepath.Join(dir, "index"), "--seed-count", strconv.Itoa(cfg.Listings),
		"--seed", strconv.FormatUint(cfg.Seed, 10), "--signals", "memory", "--signals-dir", sigDir, "--public-reads", "--log-level", "warn"}
	args = append(args, variantFlags(cfg, name)...)
	c, err := benchkit.StartChild(ctx, benchkit.ChildConfig{Exe: cfg.Exe, Args: args, Pin: pin, Core: 0, ReadyURL: "http://" + addr + "/readyz",
		Line: func(l string) { cfg.logf("serve (%s): %s", name, l) }})
	if err != nil {
		return nil, err
	}
	return &child{Child: c, base: "http://" + addr}, nil
}

// child is a running "rummage serve".
type child struct {
	*benchkit.Child
	base string
}

// runVariant serves with the variant's flags, searches its capacity, then
// offers twice the protected capacity (overloadRate, set by the first
// variant).
func runVariant(ctx context.Context, cfg *Config, name, dir, sigDir, pin string, overloadRate *float64) (*Variant, error) {
	cfg.logf("protections %s: starting serve", name)
	c, err := startServe(ctx, cfg, name, dir, sigDir, pin)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	cat, err := loadgen.Discover(ctx, http.DefaultClient, c.base, "", PartyID)
	if err != nil {
		return nil, err
	}
	v := &Variant{Name: name, Flags: strings.Join(variantFlags(cfg, name), " ")}
	run := func(rate float64, du time.Duration, probe string) (*loadgen.Report, error) {
		return loadgen.Run(ctx, loadgen.Config{Target: c.base, Scenario: loadgen.PartyStart, Duration: du, Rate: rate,
			Shape: loadgen.Constant(rate), Catalog: cat, MaxWorkers: cfg.MaxWorkers, ProbePath: probe, Timeout: 10 * time.Second})
	}
	// Warm-up: the first answers open the index's caches.
	if _, err := run(cfg.StartRate, max(2*time.Second, cfg.Step), ""); err != nil {
		return nil, err
	}
	ok := func(r *loadgen.Report) bool {
		return r.Pass && r.Shed == 0 && r.RateLimited == 0 && r.Good == r.Sent && r.Admitted.P99 <= float64(cfg.P99Limit.Microseconds())/1000
	}
	step := func(rate float64) (bool, error) {
		r, err := run(rate, cfg.Step, "")
		if err != nil {
			return false, err
		}
		s := Step{Rate: rate, P99MS: r.Admitted.P99, Shed: r.Shed, Good: r.Good, Sent: r.Sent, Lag: r.Lag, OK: ok(r)}
		v.Steps = append(v.Steps, s)
		cfg.logf("protections %s: %.0f/s → p99 %.1f ms, %d shed, %d/%d good, lag %.1f %%: %v", name, rate, s.P99MS, s.Shed, s.Good, s.Sent, 100*s.Lag, s.OK)
		if !r.Pass {
			v.GeneratorBound = true
		}
		return s.OK, nil
	}
	lo, hi := 0.0, 0.0
	for rate := cfg.StartRate; rate <= cfg.MaxRate; rate *= 2 {
		good, err := step(rate)
		if err != nil {
			return nil, err
		}
		if !good {
			hi = rate
			break
		}
		lo = rate
	}
	for range 2 {
		if hi == 0 || lo == 0 {
			break
		}
		mid := (lo + hi) / 2
		good, err := step(mid)
		if err != nil {
			return nil, err
		}
		if good {
			lo = mid
		} else {
			hi = mid
		}
	}
	v.Capacity = lo
	if *overloadRate == 0 {
		*overloadRate = 2 * lo
	}
	if *overloadRate == 0 {
		return v, errors.New("no capacity: the first step failed; lower --start-rate")
	}
	v.OverloadRate = *overloadRate
	cfg.logf("protections %s: capacity %.0f/s; offering %.0f/s for %v", name, lo, v.OverloadRate, cfg.Overload)
	before, err := scrape(ctx, c.base)
	if err != nil {
		return nil, err
	}
	svc0, load0 := c.CPU(), benchkit.ProcessCPU()
	r, err := run(v.OverloadRate, cfg.Overload, "/healthz")
	if err != nil {
		return nil, err
	}
	v.ServiceCPU, v.LoadCPU = (c.CPU() - svc0).Seconds(), (benchkit.ProcessCPU() - load0).Seconds()
	after, err := scrape(ctx, c.base)
	if err != nil {
		return nil, err
	}
	v.Server = serverSide(before, after)
	v.Overload = r
	v.GoodputVsCapacity = r.Goodput / (*overloadRate / 2)
	return v, nil
}

// Defaults is the configuration's defaults (for flags).
func Defaults() Config {
	var c Config
	c.withDefaults()
	return c
}
