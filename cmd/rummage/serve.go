package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/bootstrap"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/web"
)

const serveHelp = `Serves the v1 search API (GET /v1/search, /v1/listings/{id}, /healthz,
/readyz, /metrics) on the index of --backend.

The HTTP server starts at once: /healthz answers 200 immediately, while
/readyz and the /v1 routes answer 503 until the index is loaded.

What is served:
  - no --data: on first run, the default seed catalog (--seed-count
    generated listings, deterministic by --seed) is built into --index-dir
    (default ./data/serve, apart from rummage dev's ./data/dev); later runs
    reopen that index without reindexing.
  - --data FILE.jsonl: that file (one listing object per line) is indexed
    instead, on first run; later runs with the same, unchanged file reopen
    the index. When a listing id appears on several lines, the last wins.
  - an index built from another source is not replaced silently: serve stops
    with an error; pass --rebuild to delete and rebuild it.
  - an index that serve did not build (say, by "rummage indexer") is served
    as it is, when no --data is given.
  - an interrupted first build resumes on the next start.
Progress is logged every few seconds while a large catalog is indexed.

With --backend elasticsearch, serve serves the cluster's index as it is
(written by "rummage indexer") and never builds the seed catalog into it:
--seed-count, --seed and --rebuild are refused. With --data FILE.jsonl the
file is loaded into the cluster on every start (idempotent: the version of a
listing is its line number, so reloading rewrites the same documents, and a
document the indexer wrote since, at a commit LSN, is newer and stays).

Bad lines in --data: each is reported (line number, field and reason; the
first 100 in full) and skipped, and a summary with the count of bad lines is
logged at the end. With --strict, the first bad line stops serve with an
error instead. A file with no valid line at all is an error.

Parties, feeds and drops answer from the signals store: --signals redis
(--redis-url) is the one "rummage indexer --signals redis" writes, shared by
every replica; --signals memory opens the embedded store in --signals-dir
(written by "rummage indexer" or "rummage dev" when they are not running:
it belongs to one process at a time, like the embedded index). The default,
--signals none, serves search alone: those routes answer 404
not_configured.

API keys (docs/keys.md) come from --keys-file, or from Postgres with
--database-url; "rummage keys create" makes them. Reads without a key are
answered only while --addr is a loopback address, or with --public-reads.

SIGINT or SIGTERM shuts down gracefully: /readyz turns 503, in-flight
requests finish (up to --shutdown-timeout), then the index is closed.`

type serveOptions struct {
	backend *backendFlags
	signals *signalsFlags
	load    serveLoad
	boot    bootstrap.Config
	rebuild bool
	api     api.Config
	addr    string
	keys    *keyFlags
	cursors *cursorFlags
	admit   *admitFlags
	cache   *cacheFlags
	events  *serveEventFlags
	log     *slog.Logger
}

func runServe(ctx context.Context, args []string) error {
	return serveMain(ctx, args, os.Stderr)
}

// serveMain is runServe with its output (help, errors and logs) in w.
func serveMain(ctx context.Context, args []string, w io.Writer) error {
	o, err := parseServe(args, w)
	if err != nil {
		return err
	}
	return o.run(ctx)
}

// parseServe turns serve's flags into its options.
func parseServe(args []string, w io.Writer) (*serveOptions, error) {
	fs := newFlags("serve", "[flags]", serveHelp)
	fs.SetOutput(w)
	bf := addBackendFlags(fs, "./data/serve")
	cacheF := addCacheFlags(fs)
	cacheF.addInvalidationFlags(fs)
	sf := addSignalsFlags(fs, signalsNone)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address` (host:port); on loopback alone, reads need no API key")
	data := fs.String("data", "", "index this JSONL `file` instead of the generated seed catalog")
	seedCount := fs.Int("seed-count", fixtures.DefaultCount, "listings in the generated seed catalog (without --data)")
	seed := fs.Uint64("seed", 1, "seed of the generated catalog (without --data)")
	strict := fs.Bool("strict", false, "stop at the first bad line of --data instead of reporting it and going on")
	rebuild := fs.Bool("rebuild", false, "delete the index in --index-dir and build it again")
	logLevel := fs.String("log-level", "info", "log `level`: debug (one line per request), info, warn or error")
	reqTimeout := fs.Duration("request-timeout", api.DefaultConfig().RequestTimeout, "deadline of one request; past it the answer is 503 timeout")
	af := addAPIFlags(fs, nil)
	ef := addServeEventFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if ef.on() {
		if sf.personal.pseudonymKey == "" && ef.keyFile == "" {
			return nil, usageErrorf(w, "serve")("--events-brokers needs --pseudonym-key (or $%s), the same on every replica, or --pseudonym-key-file", pseudonymKeyEnv)
		}
		sf.personal.keyFile = ef.keyFile
	}
	usageErr := usageErrorf(w, "serve")
	log, err := newLogger(w, *logLevel)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if *seedCount < 1 {
		return nil, usageErr("--seed-count must be at least 1")
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	seedFlags := explicit["seed-count"] || explicit["seed"]
	if *data != "" && seedFlags {
		return nil, usageErr("--data and --seed-count/--seed exclude each other")
	}
	if err := validateServing(af, bf, sf); err != nil {
		return nil, usageErr("%v", err)
	}
	plan, err := servePlan(bf.kind, *data, *rebuild, seedFlags)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	cfg := af.config()
	cfg.RequestTimeout = *reqTimeout
	cfg.WriteTimeout = max(cfg.WriteTimeout, cfg.RequestTimeout+5*time.Second)
	if err := cfg.Validate(); err != nil {
		return nil, usageErr("%v", err)
	}
	bf.log = log
	o := &serveOptions{backend: bf, signals: sf, load: plan, rebuild: *rebuild, api: cfg, addr: *addr, keys: af.keys, cursors: af.cursors, admit: af.admit, cache: cacheF, events: ef, log: log,
		boot: bootstrap.Config{Dir: bf.indexDir, Source: bootstrap.SeedSource(*seed, *seedCount), Strict: *strict, Logger: log}}
	if *data != "" {
		// Described when the load starts: the file may change until then.
		o.boot.Source, o.boot.Explicit = bootstrap.Source{Kind: "file", Path: *data}, true
	}
	return o, nil
}

// run serves at once and loads the index meanwhile: /healthz answers while
// the index loads, /readyz and the /v1 routes once it is in.
func (o *serveOptions) run(ctx context.Context) error {
	slog.SetDefault(o.log)
	auth, _, stopKeys, err := o.keys.serving(ctx, []string{o.addr}, o.log)
	if err != nil {
		return err
	}
	defer stopKeys()
	o.api.Auth = auth
	if err := o.backend.serving(&o.api, o.cursors, o.log); err != nil {
		return err
	}
	store, err := o.signals.open(ctx, o.log)
	if err != nil {
		return err
	}
	defer closeSignals(store)
	serveSignals(&o.api, store)
	if err := o.signals.personal.apply(&o.api, store); err != nil {
		return err
	}
	var loadedB atomic.Value // query.Backend, once loaded
	reg := newRegistry()
	c, cacheMW, err := o.cache.build(ctx, &o.api, func() query.Backend { b, _ := loadedB.Load().(query.Backend); return b }, reg, o.log)
	if err != nil {
		return err
	}
	if err := o.cache.subscribe(ctx, c, o.log); err != nil {
		return err
	}
	admission, stopAdmit, err := o.admit.chain(ctx, reg, o.log)
	if err != nil {
		return err
	}
	defer stopAdmit()
	opts := append(admission.options(cacheMW...), api.WithRegistry(reg), api.WithApp(web.Handler()))
	if o.events.on() {
		evOpts, stopEvents, err := o.events.options(ctx, &o.signals.personal, store, c, reg, o.log)
		if err != nil {
			return err
		}
		defer stopEvents()
		opts = append(opts, evOpts...)
	}
	srv, err := api.New(o.api, nil, o.log, opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	o.log.Info("listening", "addr", ln.Addr().String(), "ready", false)
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	type loaded struct {
		b   indexBackend
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		b, err := o.prepare(loadCtx)
		done <- loaded{b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			if ctx.Err() != nil { // interrupted while loading: a clean stop
				return <-served
			}
			stopServe() // stop the HTTP server, then report why
			return errors.Join(r.err, <-served)
		}
		loadedB.Store(query.Backend(r.b))
		srv.SetBackend(r.b)
		o.log.Info("ready", "addr", ln.Addr().String())
		err := <-served
		if cerr := r.b.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close index: %w", cerr))
		}
		return err
	case err := <-served:
		// Shut down (or failed) while loading. Let the load stop at its next
		// context check, but do not wait forever for one stuck in I/O.
		cancelLoad()
		select {
		case r := <-done:
			if r.b != nil {
				err = errors.Join(err, r.b.Close())
			}
		case <-time.After(o.api.ShutdownTimeout):
			o.log.Warn("the index load did not stop in time; exiting without closing the index")
		}
		return err
	}
}

// serveLoad is what serve writes into the index before serving it.
type serveLoad int

const (
	// loadCatalog: the embedded index in --index-dir holds the seed catalog
	// or --data, built unless its marker says it is there already.
	loadCatalog serveLoad = iota
	// loadNothing: a cluster's index is served as it is.
	loadNothing
	// loadDataFile: --data is loaded into the cluster, then served.
	loadDataFile
)

// servePlan decides what serve loads, given --backend, --data, --rebuild and
// whether --seed-count or --seed were given. A cluster is never seeded: its
// index is written by the indexer, and a generated catalog in it would be
// served as if it were real listings.
func servePlan(kind, data string, rebuild, seedFlags bool) (serveLoad, error) {
	if kind != backendElasticsearch {
		return loadCatalog, nil
	}
	switch {
	case seedFlags:
		return 0, errors.New("--seed-count and --seed build the generated catalog into the embedded index only; with --backend elasticsearch serve serves the cluster's index as it is, or loads --data FILE")
	case rebuild:
		return 0, errors.New("--rebuild deletes the embedded index only; replace an Elasticsearch index with rummage reindex")
	case data != "":
		return loadDataFile, nil
	}
	return loadNothing, nil
}

// prepare opens the index and makes it hold what serve was asked for
// (indexer/bootstrap).
func (o *serveOptions) prepare(ctx context.Context) (indexBackend, error) {
	if o.boot.Source.Kind == "file" {
		src, err := bootstrap.FileSource(o.boot.Source.Path)
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		o.boot.Source = src
	}
	if o.rebuild {
		o.log.Info("deleting the index to rebuild it", "dir", o.backend.indexDir)
		if err := o.backend.remove(); err != nil {
			return nil, err
		}
	}
	b, st, err := o.backend.openCounted(ctx)
	if err != nil {
		return nil, err
	}
	switch o.load {
	case loadCatalog:
		err = bootstrap.Prepare(ctx, b, st.Documents, o.boot)
	case loadNothing:
		if st.Documents == 0 {
			o.log.Warn("the cluster's index is empty; serve does not seed a cluster: run rummage indexer, or pass --data FILE.jsonl", "backend", o.backend.kind)
		} else {
			o.log.Info("serving the cluster's index as it is", "backend", o.backend.kind, "documents", st.Documents)
		}
	case loadDataFile:
		// No marker: the versions (line numbers) make a reload harmless.
		o.log.Info("loading into the cluster", "backend", o.backend.kind, "source", o.boot.Source.String(), "documents", st.Documents)
		var res bootstrap.Result
		if res, err = bootstrap.Load(ctx, b, o.boot.Source, o.boot); err == nil {
			o.log.Info("loaded", "source", o.boot.Source.String(), "listings", res.Read, "written", res.Written,
				"already_newer", res.Stale, "bad_lines", res.BadLines, "took", res.Took.Round(time.Millisecond))
		}
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}
