package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/reindex"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/elastic"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/swap"
)

// liveIndex is an opened index as a process that applies the change stream
// (rummage indexer, rummage dev) uses it: reads and writes go through what a
// zero-downtime reindex needs.
type liveIndex struct {
	// Read is what the API searches.
	Read query.Backend
	// Write is what the indexer applies batches to.
	Write indexer.Applier
	// Admin serves reindex.AdminPath for the embedded backend, whose reindex
	// runs inside this process; nil for Elasticsearch, where
	// `rummage reindex` works on the cluster directly.
	Admin http.Handler
	// Close abandons a running reindex, then closes whichever index is
	// live.
	Close func() error
}

// live wraps x. Embedded: a swap.Backend that a reindex can tee into and
// switch, with the admin handler that starts one (snapshotting dsn, the
// process's own database). Elasticsearch: the backend itself, whose Apply
// also writes the index a running reindex builds.
//
// counters (the signals store) fills a reindex's counters; nil leaves them
// to the stream.
func (b *backendFlags) live(x indexBackend, dsn string, counters indexer.CounterSource, log *slog.Logger) *liveIndex {
	if es, ok := x.(*elastic.Backend); ok {
		return &liveIndex{Read: es, Write: es, Close: es.Close}
	}
	sw := swap.New(x)
	mgr := reindex.NewManager(reindex.ManagerConfig{
		Logger:      log,
		DatabaseURL: dsn,
		Counters:    counters,
		// No Authorize: the handler is mounted on the loopback admin
		// listener only. An admin-key check plugs in here.
		NewTarget: func() reindex.Target {
			return &reindex.Embedded{Live: sw, Config: embedded.Config{Dir: b.indexDir, Aliases: b.brands}} // brands: loaded by open
		},
	})
	return &liveIndex{Read: sw, Write: sw, Admin: mgr.Handler(), Close: func() error {
		mgr.Close()
		return errors.Join(sw.Close())
	}}
}
