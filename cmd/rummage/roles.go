package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/reindex"
	"github.com/rummage/rummage/internal/metric"
)

// newRegistry is the one metrics registry of a process: every role
// registers on it, and its /metrics serves it whole.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metric.ProcessCollectors()...)
	return reg
}

// startAdmin serves reg at /metrics, admin (when not nil) at
// reindex.AdminPath and profile (when not nil) at ProfilePath on addr, a
// loopback listener, until stop is called (a path api.Auth.Protect does
// not know, such as ProfilePath, needs an admin key). An empty addr serves
// nothing.
func startAdmin(addr string, reg *prometheus.Registry, admin, profile http.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", api.MetricsHandler(reg, log))
	if admin != nil {
		mux.Handle(reindex.AdminPath, admin)
	}
	if profile != nil {
		mux.Handle(ProfilePath, profile)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := api.ServeHandler(ctx, ln, mux, api.Config{}, log); err != nil {
			log.Error("admin listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { cancel(); <-done }, nil
}

// ProfilePath is the admin listener's CPU profile of the process
// (net/http/pprof's: ?seconds=N, default 30), with each pipeline stage's
// samples labelled (internal/stagecpu; bench sharerate splits by them).
const ProfilePath = "/debug/pprof/profile"

// profileHandler is the CPU profile behind the admin key.
func profileHandler(ring api.Keyring) http.Handler {
	return api.Auth{Keys: ring}.Protect(http.HandlerFunc(pprof.Profile))
}

// readiness turns an indexer's catch-up into the API's readiness.
func readiness(c *indexer.CatchUp) func(context.Context) (api.ReadyState, error) {
	return func(ctx context.Context) (api.ReadyState, error) {
		lag, caughtUp, err := c.Check(ctx)
		if err != nil {
			return api.ReadyState{}, err
		}
		return api.ReadyState{CatchingUp: !caughtUp, Lag: &api.Lag{Events: lag}}, nil
	}
}

// task is one part of a role that runs until its context ends.
type task struct {
	name string
	run  func(context.Context) error
}

// runTasks runs the tasks until ctx ends or one of them stops; then it
// stops the others and waits for them. A task that stops by itself while
// ctx goes on is a failure of the role (the process exits non-zero), with
// or without an error: an API server whose listener died must not leave an
// indexer running without its API.
func runTasks(ctx context.Context, log *slog.Logger, tasks ...task) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := t.run(ctx)
			if ctx.Err() == nil { // stopped by itself: stop the others
				if err == nil {
					err = errors.New("stopped")
				}
				log.Error(t.name+" stopped; stopping the other parts", "err", err)
				cancel()
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", t.name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
