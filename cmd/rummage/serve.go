package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/query"
)

const serveHelp = `Serves the v1 search API (GET /v1/search, /v1/listings/{id}, /healthz,
/readyz, /metrics) on the index of --backend.

The HTTP server starts at once: /healthz answers 200 immediately, while
/readyz and the /v1 routes answer 503 until the index is loaded.

What is served:
  - no --data: on first run, the default seed catalog (--seed-count
    generated listings, deterministic by --seed) is built into --index-dir;
    later runs reopen that index without reindexing.
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

SIGINT or SIGTERM shuts down gracefully: /readyz turns 503, in-flight
requests finish (up to --shutdown-timeout), then the index is closed.`

// serveMarkerFile, in the index directory, records what serve built there.
const serveMarkerFile = "rummage_serve_source.json"

// maxLoggedBadLines bounds the per-line reports of a bad --data file.
const maxLoggedBadLines = 100

// catalogSource identifies what an index was built from.
type catalogSource struct {
	Kind    string    `json:"kind"` // "seed" or "file"
	Seed    uint64    `json:"seed,omitempty"`
	Count   int       `json:"count,omitempty"`
	Path    string    `json:"path,omitempty"`
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mod_time,omitzero"`
}

func (s catalogSource) String() string {
	if s.Kind == "file" {
		return fmt.Sprintf("file %s (%d bytes, modified %s)", s.Path, s.Size, s.ModTime.Format(time.RFC3339))
	}
	return fmt.Sprintf("seed catalog (%d listings, seed %d)", s.Count, s.Seed)
}

type serveMarker struct {
	Source   catalogSource `json:"source"`
	Complete bool          `json:"complete"`
	Listings int64         `json:"listings,omitempty"`
	BadLines int           `json:"bad_lines,omitempty"`
	Built    time.Time     `json:"built,omitzero"`
}

type serveOptions struct {
	backend   *backendFlags
	load      serveLoad
	data      string
	seed      uint64
	seedCount int
	strict    bool
	rebuild   bool
	log       *slog.Logger
}

func runServe(ctx context.Context, args []string) error {
	return serveMain(ctx, args, os.Stderr)
}

// serveMain is runServe with its output (help, errors and logs) in w.
func serveMain(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("serve", "[flags]", serveHelp)
	fs.SetOutput(w)
	bf := addBackendFlags(fs)
	addr := fs.String("addr", ":8080", "listen `address` (host:port)")
	data := fs.String("data", "", "index this JSONL `file` instead of the generated seed catalog")
	seedCount := fs.Int("seed-count", fixtures.DefaultCount, "listings in the generated seed catalog (without --data)")
	seed := fs.Uint64("seed", 1, "seed of the generated catalog (without --data)")
	strict := fs.Bool("strict", false, "stop at the first bad line of --data instead of reporting it and going on")
	rebuild := fs.Bool("rebuild", false, "delete the index in --index-dir and build it again")
	logLevel := fs.String("log-level", "info", "log `level`: debug (one line per request), info, warn or error")
	reqTimeout := fs.Duration("request-timeout", api.DefaultConfig().RequestTimeout, "deadline of one request; past it the answer is 503 timeout")
	shutdownTimeout := fs.Duration("shutdown-timeout", api.DefaultConfig().ShutdownTimeout, "how long in-flight requests may finish on shutdown")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(w, "rummage serve: "+format+"\n", a...)
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr("--log-level %q: use debug, info, warn or error", *logLevel)
	}
	if *seedCount < 1 {
		return usageErr("--seed-count must be at least 1")
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if *data != "" && (explicit["seed-count"] || explicit["seed"]) {
		return usageErr("--data and --seed-count/--seed exclude each other")
	}
	if err := bf.validate(); err != nil {
		return usageErr("%v", err)
	}
	plan, err := servePlan(bf.kind, *data, *rebuild, explicit["seed-count"] || explicit["seed"])
	if err != nil {
		return usageErr("%v", err)
	}
	cfg := api.DefaultConfig()
	cfg.RequestTimeout = *reqTimeout
	cfg.ShutdownTimeout = *shutdownTimeout
	cfg.WriteTimeout = max(cfg.WriteTimeout, cfg.RequestTimeout+5*time.Second)
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}

	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	bf.log = logger
	srv, err := api.New(cfg, nil, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String(), "ready", false)

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
	opts := serveOptions{backend: bf, load: plan, data: *data, seed: *seed, seedCount: *seedCount, strict: *strict, rebuild: *rebuild, log: logger}
	go func() {
		b, err := prepareIndex(loadCtx, opts)
		done <- loaded{b, err}
	}()

	select {
	case r := <-done:
		if r.err != nil {
			if ctx.Err() != nil { // interrupted while loading: a clean stop
				return <-served
			}
			// Stop the HTTP server, then report why.
			stopServe()
			return errors.Join(r.err, <-served)
		}
		srv.SetBackend(r.b)
		logger.Info("ready", "addr", ln.Addr().String())
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
		case <-time.After(*shutdownTimeout):
			logger.Warn("the index load did not stop in time; exiting without closing the index")
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

// prepareIndex opens the index and makes sure it holds the catalog asked
// for, building it when needed. It returns the index ready to serve.
func prepareIndex(ctx context.Context, o serveOptions) (indexBackend, error) {
	if o.load != loadCatalog {
		return prepareCluster(ctx, o)
	}
	log := o.log
	want, err := wantedSource(o)
	if err != nil {
		return nil, err
	}
	if o.rebuild {
		log.Info("deleting the index to rebuild it", "dir", o.backend.indexDir)
		if err := o.backend.remove(); err != nil {
			return nil, err
		}
	}
	b, st, err := o.backend.openCounted(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (indexBackend, error) {
		b.Close()
		return nil, err
	}
	markerPath := filepath.Join(o.backend.indexDir, serveMarkerFile)
	marker, err := readServeMarker(markerPath)
	if err != nil {
		return fail(err)
	}
	switch {
	case marker == nil && st.Documents > 0:
		if o.data != "" {
			return fail(fmt.Errorf("the index in %s was not built by serve from %s; pass --rebuild to replace it, or choose another --index-dir", o.backend.indexDir, o.data))
		}
		log.Info("serving the existing index as it is", "dir", o.backend.indexDir, "documents", st.Documents)
		return b, nil
	case marker != nil && marker.Source != want:
		return fail(fmt.Errorf("the index in %s was built from %s, not %s; pass --rebuild to replace it, or choose another --index-dir", o.backend.indexDir, marker.Source, want))
	case marker != nil && marker.Complete:
		log.Info("reusing the index; nothing to reindex", "dir", o.backend.indexDir, "source", want.String(), "documents", st.Documents)
		return b, nil
	case marker != nil:
		log.Warn("resuming an interrupted build", "dir", o.backend.indexDir, "source", want.String(), "documents", st.Documents)
	}

	if err := atomicfile.WriteJSON(markerPath, serveMarker{Source: want}); err != nil {
		return fail(err)
	}
	start := time.Now()
	log.Info("building the index", "dir", o.backend.indexDir, "source", want.String())
	var (
		stats query.ApplyStats
		bad   int
		read  int64
	)
	if want.Kind == "file" {
		stats, bad, read, err = loadFile(ctx, b, want.Path, o.strict, log)
	} else {
		stats, read, err = loadSeed(ctx, b, want, log)
	}
	if err != nil {
		return fail(err)
	}
	took := time.Since(start)
	log.Info("index built", "source", want.String(), "listings", read, "written", stats.Written,
		"already_indexed", stats.Stale, "bad_lines", bad, "took", took.Round(time.Millisecond),
		"per_second", int(float64(read)/max(took.Seconds(), 1e-9)))
	if err := atomicfile.WriteJSON(markerPath, serveMarker{Source: want, Complete: true, Listings: read, BadLines: bad, Built: time.Now().UTC()}); err != nil {
		return fail(err)
	}
	return b, nil
}

// prepareCluster opens a cluster's index and, with --data, loads the file
// into it. It never builds the seed catalog, and keeps no marker: the
// versions make a reload harmless.
func prepareCluster(ctx context.Context, o serveOptions) (indexBackend, error) {
	log := o.log
	var want catalogSource
	if o.load == loadDataFile {
		var err error
		if want, err = wantedSource(o); err != nil {
			return nil, err
		}
	}
	b, st, err := o.backend.openCounted(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (indexBackend, error) {
		b.Close()
		return nil, err
	}
	if o.load == loadNothing {
		if st.Documents == 0 {
			log.Warn("the cluster's index is empty; serve does not seed a cluster: run rummage indexer, or pass --data FILE.jsonl", "backend", o.backend.kind)
		} else {
			log.Info("serving the cluster's index as it is", "backend", o.backend.kind, "documents", st.Documents)
		}
		return b, nil
	}
	start := time.Now()
	log.Info("loading into the cluster", "backend", o.backend.kind, "source", want.String(), "documents", st.Documents)
	stats, bad, read, err := loadFile(ctx, b, want.Path, o.strict, log)
	if err != nil {
		return fail(err)
	}
	took := time.Since(start)
	log.Info("loaded", "source", want.String(), "listings", read, "written", stats.Written,
		"already_newer", stats.Stale, "bad_lines", bad, "took", took.Round(time.Millisecond))
	return b, nil
}

func wantedSource(o serveOptions) (catalogSource, error) {
	if o.data == "" {
		return catalogSource{Kind: "seed", Seed: o.seed, Count: o.seedCount}, nil
	}
	abs, err := filepath.Abs(o.data)
	if err != nil {
		return catalogSource{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return catalogSource{}, fmt.Errorf("--data: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return catalogSource{}, fmt.Errorf("--data: %s is not a regular file", abs)
	}
	return catalogSource{Kind: "file", Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC().Truncate(time.Second)}, nil
}

func loadSeed(ctx context.Context, b indexBackend, src catalogSource, log *slog.Logger) (query.ApplyStats, int64, error) {
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: src.Seed, Count: src.Count})
	if err != nil {
		return query.ApplyStats{}, 0, err
	}
	var n int64
	st, err := load(ctx, b, log, int64(src.Count), func() (query.Change, error) {
		l, ok := g.Next()
		if !ok {
			return query.Change{}, io.EOF
		}
		n++
		return query.Change{ID: l.ID, Version: 1, Doc: &l}, nil
	})
	return st, n, err
}

// loadFile indexes a JSONL file. The version of a listing is its line
// number, so that of two lines with the same id the later wins, and a
// resumed build skips what it already wrote.
func loadFile(ctx context.Context, b indexBackend, path string, strict bool, log *slog.Logger) (st query.ApplyStats, bad int, n int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return st, 0, 0, fmt.Errorf("--data: %w", err)
	}
	defer f.Close()
	dec := rummage.NewDecoder(f)
	st, err = load(ctx, b, log, 0, func() (query.Change, error) {
		for {
			l, err := dec.Next()
			var le *rummage.LineError
			switch {
			case err == nil:
				n++
				return query.Change{ID: l.ID, Version: uint64(dec.Line()), Doc: &l}, nil
			case errors.As(err, &le):
				bad++
				if strict {
					return query.Change{}, fmt.Errorf("%s: %w (stopping: --strict)", path, le)
				}
				if bad <= maxLoggedBadLines {
					log.Warn("skipping bad line", "file", path, "line", le.Line, "field", le.Field, "err", le.Err)
				} else if bad == maxLoggedBadLines+1 {
					log.Warn("more bad lines; not reporting each, the summary counts them", "file", path)
				}
			case errors.Is(err, io.EOF):
				return query.Change{}, io.EOF
			default:
				return query.Change{}, fmt.Errorf("%s: %w", path, err)
			}
		}
	})
	if err != nil {
		return st, bad, n, err
	}
	if bad > 0 {
		log.Warn("bad lines skipped", "file", path, "bad_lines", bad, "listings", n)
	}
	if n == 0 && bad > 0 {
		return st, bad, n, fmt.Errorf("%s: no valid listing in %d non-empty lines", path, bad)
	}
	return st, bad, n, nil
}

func readServeMarker(path string) (*serveMarker, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m serveMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it, or pass --rebuild)", path, err)
	}
	return &m, nil
}
