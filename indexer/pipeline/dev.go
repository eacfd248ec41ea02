package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/internal/atomicfile"
	"github.com/rummage/rummage/internal/stagecpu"
)

// The lifecycle of `rummage dev` around a Pipeline: a marker beside the
// index directory says which database (and slot and topic prefix) the index
// follows and whether it holds the initial snapshot; from it and the
// broker's log NewDev decides whether to take a new snapshot; Run runs the
// pipeline and the API together and shuts them down in order.

// DevMarkerPath is where the marker of the index configured at dir lives:
// beside the directory, not in it, because a reindex replaces the directory
// in use with a new generation (see embedded.ActiveDir).
func DevMarkerPath(dir string) string { return filepath.Clean(dir) + ".rummage_dev.json" }

// devMarker is the content of the marker.
type devMarker struct {
	Database string    `json:"database"` // system identifier/database name
	Slot     string    `json:"slot"`
	Prefix   string    `json:"topic_prefix"`
	Complete bool      `json:"snapshot_applied"`
	Updated  time.Time `json:"updated,omitzero"`
}

// DevConfig configures NewDev.
type DevConfig struct {
	// Pipeline is the pipeline to run; NewDev sets Resnapshot.
	Pipeline Config
	// IndexDir is the embedded index's configured directory (the marker
	// lives beside it), and Documents what it held when opened.
	IndexDir  string
	Documents int64
}

// Dev is one run of the development pipeline.
type Dev struct {
	cfg      DevConfig
	p        *Pipeline
	path     string
	want     devMarker
	servable bool
}

// NewDev decides whether the index needs a new snapshot and prepares the
// pipeline: an index with no marker but documents is refused (dev did not
// build it), one that follows another database, slot or prefix too; an
// index whose snapshot never completed, or whose broker log is gone, takes
// a new snapshot (a complete index stays servable while it catches up).
func NewDev(ctx context.Context, cfg DevConfig) (*Dev, error) {
	pc := cfg.Pipeline.withDefaults()
	identity, err := DatabaseIdentity(ctx, pc.DatabaseURL)
	if err != nil {
		return nil, err
	}
	d := &Dev{cfg: cfg, path: DevMarkerPath(cfg.IndexDir), want: devMarker{Database: identity, Slot: pc.Slot, Prefix: pc.TopicPrefix}}
	m, err := readDevMarker(d.path)
	if err != nil {
		return nil, err
	}
	resnapshot := false
	switch {
	case m == nil && cfg.Documents > 0:
		return nil, fmt.Errorf("the index in %s was not built by dev; choose another --index-dir, or pass --rebuild to replace it", cfg.IndexDir)
	case m != nil && (m.Database != d.want.Database || m.Slot != d.want.Slot || m.Prefix != d.want.Prefix):
		return nil, fmt.Errorf("the index in %s follows database %s (slot %s, prefix %s), not %s (slot %s, prefix %s); choose another --index-dir, or pass --rebuild",
			cfg.IndexDir, m.Database, m.Slot, m.Prefix, d.want.Database, d.want.Slot, d.want.Prefix)
	case m == nil || !m.Complete:
		resnapshot = true
	case pc.KafkaDir != "" && !exists(filepath.Join(pc.KafkaDir, "meta.json")):
		pc.Logger.Warn("the broker's log is missing; taking a new snapshot (rows deleted meanwhile may linger in the index until --rebuild)", "kafka_dir", pc.KafkaDir)
		resnapshot = true
	}
	d.servable = m != nil && m.Complete
	if resnapshot {
		d.want.Complete = d.servable
		if err := atomicfile.WriteJSON(d.path, d.want); err != nil {
			return nil, err
		}
	}
	cfg.Pipeline.Resnapshot = resnapshot
	if d.p, err = New(ctx, cfg.Pipeline); err != nil {
		return nil, err
	}
	return d, nil
}

// RemoveDevMarker deletes the marker of the index configured at dir (with
// the index, on --rebuild).
func RemoveDevMarker(dir string) error {
	if err := os.Remove(DevMarkerPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Pipeline is the pipeline Run runs (its broker listens already).
func (d *Dev) Pipeline() *Pipeline { return d.p }

// Servable reports whether the index held a complete snapshot at start: it
// is served at once while it catches up.
func (d *Dev) Servable() bool { return d.servable }

// Run runs the pipeline and serve (the API, until its context ends)
// together. It calls ready once the index may be searched: at once when it
// is Servable, else when it holds the initial snapshot (which the marker
// then records). It returns when ctx ends or either stops, after shutting
// down in order: the API drains first, then the pipeline stops (the CDC,
// then the indexer applies what the broker holds).
func (d *Dev) Run(ctx context.Context, serve func(context.Context) error, ready func()) error {
	log := d.p.log
	runCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServe()
	pipeDone, serveDone := make(chan error, 1), make(chan error, 1)
	go func() { pipeDone <- d.p.Run(runCtx) }()
	go stagecpu.Do(serveCtx, stagecpu.API, func(ctx context.Context) { serveDone <- serve(ctx) })

	snapshot := d.p.SnapshotApplied()
	if d.servable {
		ready()
		log.Info("ready: serving the index while it catches up", "documents", d.cfg.Documents)
		snapshot = nil
	} else {
		log.Info("taking the initial snapshot; /readyz answers 503 until the index holds it")
	}
	var errs []error
	pipeRunning, serveRunning := true, true
loop:
	for {
		select {
		case <-snapshot:
			snapshot = nil
			ready()
			d.want.Complete, d.want.Updated = true, time.Now().UTC()
			if err := atomicfile.WriteJSON(d.path, d.want); err != nil {
				errs = append(errs, err)
				break loop
			}
			log.Info("ready: the index holds the initial snapshot")
		case <-ctx.Done():
			break loop
		case err := <-pipeDone:
			pipeRunning = false
			errs = append(errs, err)
			break loop
		case err := <-serveDone:
			serveRunning = false
			errs = append(errs, fmt.Errorf("api: %w", err))
			break loop
		}
	}
	log.Info("shutting down")
	if serveRunning {
		stopServe()
		if err := <-serveDone; err != nil {
			errs = append(errs, err)
		}
	}
	if pipeRunning {
		stopPipe()
		if err := <-pipeDone; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DatabaseIdentity names the database: the cluster's system identifier and
// the database name, so that an index is never mixed across databases.
func DatabaseIdentity(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var sysid int64
	var name string
	if err := conn.QueryRow(ctx, "SELECT system_identifier, current_database() FROM pg_control_system()").Scan(&sysid, &name); err != nil {
		return "", fmt.Errorf("database identity: %w", err)
	}
	return fmt.Sprintf("%d/%s", sysid, name), nil
}

func readDevMarker(path string) (*devMarker, error) {
	m, err := atomicfile.LoadJSON[devMarker](path)
	if err != nil {
		return nil, fmt.Errorf("%w (pass --rebuild)", err)
	}
	return m, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
