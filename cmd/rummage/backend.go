package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/progress"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

// indexBackend is an opened index: the query.Backend contract, and Close to
// release it. Every subcommand that reads or writes the index opens it
// through backendFlags.
type indexBackend interface {
	query.Backend
	io.Closer
}

// Backend kinds accepted by --backend.
const backendEmbedded = "embedded"

// backendFlags are the flags that choose and configure the index, shared by
// serve, indexer, dev, reindex and bench.
type backendFlags struct {
	kind     string
	indexDir string
	aliases  string
	es       *elasticFlags
	// brands is the alias file once loaded (see brandAliases).
	brands query.Aliases
	// log receives progress while a large index is opened or loaded; nil
	// means slog.Default().
	log *slog.Logger
}

// addBackendFlags adds the flags; indexDir is the command's default
// --index-dir (serve and dev keep apart: ./data/serve, ./data/dev).
func addBackendFlags(fs *flag.FlagSet, indexDir string) *backendFlags {
	b := &backendFlags{}
	fs.StringVar(&b.kind, "backend", backendEmbedded, "index backend: embedded (Bleve plus in-memory columns, on local disk) or elasticsearch (an Elasticsearch 8 cluster, see --es-*)")
	fs.StringVar(&b.indexDir, "index-dir", indexDir, "directory of the embedded index; created when missing, reopened without reindexing when present")
	fs.StringVar(&b.aliases, "aliases", "", "brand alias `file` (lines: alias<TAB>brand); default: the shipped fixtures/brand_aliases.tsv")
	b.es = addElasticFlags(fs)
	return b
}

func (b *backendFlags) validate() error {
	switch b.kind {
	case backendEmbedded:
		if b.indexDir == "" {
			return errors.New("--index-dir must not be empty")
		}
	case backendElasticsearch:
		return b.es.validate()
	default:
		return fmt.Errorf("--backend %q is not supported; use %s or %s", b.kind, backendEmbedded, backendElasticsearch)
	}
	return nil
}

// brandAliases loads --aliases (or the shipped file) once; every backend
// the process opens shares the result.
func (b *backendFlags) brandAliases() (query.Aliases, error) {
	if b.brands == nil {
		a, err := query.LoadAliases(b.aliases, fixtures.BrandAliases())
		if err != nil {
			return nil, err
		}
		b.brands = a
	}
	return b.brands, nil
}

func (b *backendFlags) logger() *slog.Logger {
	if b.log != nil {
		return b.log
	}
	return slog.Default()
}

// open opens (or creates) the index. Loading a large existing index takes a
// while; progress is logged.
func (b *backendFlags) open(ctx context.Context) (indexBackend, error) {
	x, _, err := b.openCounted(ctx)
	return x, err
}

// openCounted is open, also returning the index's stats as of opening.
func (b *backendFlags) openCounted(ctx context.Context) (indexBackend, query.Stats, error) {
	var st query.Stats
	if err := b.validate(); err != nil {
		return nil, st, err
	}
	log := b.logger()
	aliases, err := b.brandAliases()
	if err != nil {
		return nil, st, err
	}
	if b.kind == backendElasticsearch {
		es, st, err := b.es.open(ctx, aliases, log)
		if err != nil {
			return nil, st, err
		}
		return es, st, nil
	}
	start := time.Now()
	x, err := embedded.Open(ctx, embedded.Config{
		Dir:      b.indexDir,
		Aliases:  aliases,
		Progress: progressLogger(log),
	})
	if err != nil {
		return nil, st, err
	}
	if st, err = x.Stats(ctx); err != nil {
		x.Close()
		return nil, st, err
	}
	log.Info("index open", "backend", b.kind, "dir", b.indexDir, "documents", st.Documents, "took", time.Since(start).Round(time.Millisecond))
	return x, st, nil
}

// remove deletes the index, so that the next open starts empty. It refuses
// a directory that does not hold an embedded index.
func (b *backendFlags) remove() error {
	if err := b.validate(); err != nil {
		return err
	}
	if b.kind == backendElasticsearch {
		return errors.New("--backend elasticsearch: indices are replaced with rummage reindex, not removed")
	}
	return embedded.Remove(b.indexDir)
}

// progressLogger logs the progress of opening a large index (every few
// seconds, internal/progress) and the merge that ends a bulk load. Loading
// reports its own progress (see load), with the total when known.
func progressLogger(log *slog.Logger) func(embedded.Progress) {
	rep := progress.New(log, "loading the index", 0)
	return func(p embedded.Progress) {
		switch p.Phase {
		case "load":
			rep.SetTotal(int64(p.Total))
			rep.Report(int64(p.Done))
		case "merge":
			log.Info("merging the index into one segment (faster text queries)", "documents", p.Done)
		}
	}
}
