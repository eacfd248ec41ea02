package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/internal/searchbench"
	"github.com/rummage/rummage/query"
)

// benchCommands are the benchmarks of "rummage bench <name>": add one line
// per benchmark; its run gets the arguments after the name.
var benchCommands = []command{
	{"search", "search latency and throughput against the Bleve-facets baseline, build rate, memory", runBenchSearch},
	{"pipeline", "commit → searchable latency at a steady change rate, and snapshot rate, through the dev pipeline", runBenchPipeline},
}

func runBench(ctx context.Context, args []string) error {
	return benchMain(ctx, args, os.Stderr)
}

func benchUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: rummage bench <benchmark> [flags]\n\nBenchmarks:\n")
	for _, c := range benchCommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"rummage bench <benchmark> --help\" for its flags.\n")
}

func benchMain(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		benchUsage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range benchCommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	fmt.Fprintf(stderr, "rummage bench: unknown benchmark %q\n\n", args[0])
	benchUsage(stderr)
	return errUsage
}

const benchSearchHelp = `Builds (or reuses) an embedded index of --listings generated listings and
runs a fixed mix of searches, each asking for five facets (brand, category,
size, condition, price): 2-word text queries; text with brand, size and price
filters; a ~10k-hit and a ~200k-hit category browse; match-all; and each sort
on the ~200k browse. Each scenario rotates over a few variants (queries,
categories or pages). For every scenario it reports p50, p99 and QPS for
Rummage and, in the same run on the same documents, for Bleve's own facet
builder (the baseline), with the ratio, and PASS/MISS against the targets
(set for 1,000,000 listings). It also reports the build rate of both indexes
and the memory of the process with the Rummage index open.

--index-dir holds two indexes: main/ (lean, what "rummage serve --index-dir
DIR/main" serves) and baseline/ (the same documents with Bleve facet fields,
built only with --baseline). An index built for the same --listings, --seed
and --now is reused; --rebuild deletes and rebuilds both.

Progress goes to stderr; the report (tables, or one JSON object with
--json) to stdout.`

func runBenchSearch(ctx context.Context, args []string) error {
	return benchSearchMain(ctx, args, os.Stdout, os.Stderr)
}

func benchSearchMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench search", "[flags]", benchSearchHelp)
	fs.SetOutput(stderr)
	listings := fs.Int("listings", searchbench.TargetListings, "generated listings in the index")
	dir := fs.String("index-dir", "", "directory of the bench indexes (default ./data/bench-<listings>)")
	seed := fs.Uint64("seed", 1, "seed of the generated catalog")
	now := fs.String("now", searchbench.DefaultNow.Format(time.RFC3339), "base instant of the catalog and of every query, RFC 3339")
	rebuild := fs.Bool("rebuild", false, "delete the indexes in --index-dir and build them again")
	duration := fs.Duration("duration", 5*time.Second, "measured time per scenario and engine")
	iterations := fs.Int("iterations", 0, "searches per scenario and engine instead of --duration")
	concurrency := fs.Int("concurrency", 1, "concurrent searches during the latency run")
	qpsConc := fs.Int("qps-concurrency", 2, "workers of the extra throughput run (0: none)")
	warmup := fs.Int("warmup", 0, "unmeasured searches before each scenario (every variant is run once regardless)")
	baseline := fs.Bool("baseline", true, "also run every scenario through Bleve's facet builder (builds the baseline index when missing)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	only := fs.String("scenarios", "", "comma list of scenarios to run (default all): "+strings.Join(searchbench.ScenarioNames, ","))
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured searches (not the build) to `file`")
	memProfile := fs.String("memprofile", "", "write a heap profile (live objects and allocations) taken after the measured searches to `file`")
	serveRSS := fs.Bool("serve-rss", false, "afterwards, start \"rummage serve\" on the main index, warm it up with the scenarios' requests and report its resident memory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "rummage bench search: "+format+"\n", a...)
		return errUsage
	}
	if *listings < 1 {
		return usageErr("--listings must be at least 1")
	}
	if *concurrency < 1 {
		return usageErr("--concurrency must be at least 1")
	}
	if *iterations < 0 || *duration < 0 || *qpsConc < 0 || *warmup < 0 {
		return usageErr("--iterations, --duration, --qps-concurrency and --warmup must not be negative")
	}
	if *iterations == 0 && *duration == 0 {
		return usageErr("set --duration or --iterations")
	}
	at, err := time.Parse(time.RFC3339, *now)
	if err != nil {
		return usageErr("--now: %v", err)
	}
	if *dir == "" {
		*dir = fmt.Sprintf("./data/bench-%d", *listings)
	}
	plan := benchkit.Plan{Iterations: *iterations, Concurrency: *concurrency, Warmup: *warmup}
	if *iterations == 0 {
		plan.Duration = *duration
	}
	aliases, err := query.LoadAliases("", fixtures.BrandAliases())
	if err != nil {
		return err
	}
	cfg := searchbench.Config{
		Listings: *listings, Seed: *seed, Now: at, Dir: *dir, Rebuild: *rebuild, Aliases: aliases,
		Baseline: *baseline, Plan: plan, QPSConcurrency: *qpsConc, Log: stderr,
	}
	if *quiet {
		cfg.Log = nil
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if *cpuProfile != "" || *memProfile != "" {
		cfg.Profile = func() (func() error, error) {
			return startProfiles(*cpuProfile, *memProfile)
		}
	}
	rep, err := searchbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *serveRSS {
		sm, err := measureServe(ctx, searchbench.MainIndexDir(*dir), rep.APIPaths(), cfg.Log)
		if err != nil {
			return fmt.Errorf("--serve-rss: %w", err)
		}
		rep.AddServe(*sm)
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

// measureServe runs this binary's serve on indexDir, waits until it is
// ready, sends each path warmupRounds times and reads the server's memory
// from /proc. The index must not be open in this process (Bleve locks it).
func measureServe(ctx context.Context, indexDir string, paths []string, log io.Writer) (*searchbench.ServeMemory, error) {
	const warmupRounds = 10
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for serve
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, self, "serve", "--index-dir", indexDir, "--addr", addr, "--log-level", "warn")
	if log != nil {
		cmd.Stderr = log
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: time.Minute}
	get := func(path string) (int, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	sm := &searchbench.ServeMemory{PID: cmd.Process.Pid}
	for {
		if code, err := get("/readyz"); err == nil && code == http.StatusOK {
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("serve exited before it was ready: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Minute {
			return nil, errors.New("serve not ready after 10 minutes")
		}
	}
	sm.ReadySecond = time.Since(start).Seconds()
	if sm.AfterReady, err = benchkit.ProcMem(sm.PID); err != nil {
		return nil, err
	}
	for range warmupRounds {
		for _, p := range paths {
			code, err := get(p)
			if err != nil {
				return nil, err
			}
			if code != http.StatusOK {
				return nil, fmt.Errorf("GET %s: HTTP %d", p, code)
			}
			sm.Requests++
		}
	}
	if sm.AfterWarmup, err = benchkit.ProcMem(sm.PID); err != nil {
		return nil, err
	}
	return sm, nil
}

// startProfiles starts a CPU profile into cpuFile (when set) and returns
// the function that stops it and writes a heap profile into memFile (when
// set).
func startProfiles(cpuFile, memFile string) (func() error, error) {
	var cpu *os.File
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		cpu = f
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return err
			}
		}
		if memFile == "" {
			return nil
		}
		f, err := os.Create(memFile)
		if err != nil {
			return err
		}
		runtime.GC() // the profile's live objects are those of the last completed cycle
		if err := pprof.WriteHeapProfile(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}
