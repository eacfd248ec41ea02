package reindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/query"
)

// Target is one backend's way of building a new index next to the one in
// use and switching to it. Run calls Begin, then Switch, then Finish; on a
// failure before Switch has succeeded it calls Abort instead.
type Target interface {
	// Begin creates the new, empty index and starts writing every change
	// the stream applies to it as well as to the current index. When Begin
	// returns, no write that starts later can reach the current index
	// without reaching the new one. It returns the backend the backfill
	// writes to (the new index, directly).
	Begin(ctx context.Context) (query.Backend, error)
	// Switch makes the new index the one reads and writes use, atomically
	// for readers and durably (a restart uses the new index), and stops
	// writing the old one.
	Switch(ctx context.Context) error
	// Finish removes the old index once nothing reads it.
	Finish(ctx context.Context) error
	// Abort stops the dual writes and removes the new index. The current
	// index is left as it was.
	Abort(ctx context.Context) error
}

// SnapshotFunc reads one consistent picture of the source and hands its
// rows to fn in batches; it returns the LSN the picture is consistent at.
// pgcdc.Snapshot has this shape (see PostgresSnapshot).
type SnapshotFunc func(ctx context.Context, fn func(context.Context, []change.Event) error) (uint64, error)

// PostgresSnapshot returns a SnapshotFunc that takes a fresh snapshot of the
// tables (default: listings) through a temporary replication slot.
func PostgresSnapshot(databaseURL string, tables []string) SnapshotFunc {
	if len(tables) == 0 {
		tables = []string{indexer.ListingsTable}
	}
	return func(ctx context.Context, fn func(context.Context, []change.Event) error) (uint64, error) {
		return pgcdc.Snapshot(ctx, databaseURL, pgcdc.SnapshotOptions{Tables: tables}, fn)
	}
}

// Phase is a step of a reindex.
type Phase string

// The phases, in order; a reindex ends in PhaseDone or PhaseFailed.
const (
	PhaseIdle     Phase = "idle" // none has run in this process
	PhaseBegin    Phase = "begin"
	PhaseBackfill Phase = "backfill"
	PhaseSwitch   Phase = "switch"
	PhaseFinish   Phase = "finish"
	PhaseDone     Phase = "done"
	PhaseFailed   Phase = "failed"
)

// Status is the progress of a reindex; the admin endpoint serves it as JSON.
type Status struct {
	Phase Phase `json:"phase"`
	// Rows read from the snapshot; Written and Stale say what the new index
	// did with them (stale: the stream had already written a newer
	// version). Invalid rows are not listings the index can hold (the
	// indexer sends the same rows to its dead-letter topic); they are
	// logged and skipped.
	Rows    int64 `json:"rows"`
	Written int64 `json:"written"`
	Stale   int64 `json:"stale"`
	Invalid int64 `json:"invalid"`
	// SnapshotLSN is the LSN the snapshot is consistent at, once known.
	SnapshotLSN uint64 `json:"snapshot_lsn,omitempty"`
	// Error says why the reindex failed; FinishError that the switch
	// succeeded but removing the old index did not.
	Error       string    `json:"error,omitempty"`
	FinishError string    `json:"finish_error,omitempty"`
	Started     time.Time `json:"started,omitzero"`
	Finished    time.Time `json:"finished,omitzero"`
}

// Ended reports whether the reindex is over (done or failed).
func (s Status) Ended() bool { return s.Phase == PhaseDone || s.Phase == PhaseFailed }

// Options tune Run.
type Options struct {
	// Snapshot is the source of the backfill; required.
	Snapshot SnapshotFunc
	// Progress, when set, is called at every phase and after every backfill
	// batch, from Run's goroutine.
	Progress func(Status)
	// Counters, when set, is the signals store the indexer derives the
	// listings' counters from (snapshot rows carry none since migration
	// 0004): each backfill batch is filled from it before it is applied,
	// and once applied the counters are read again and written (the new
	// index's CounterWriter writes only those that changed meanwhile), so
	// that a like the stream counted while the listing was not yet in the
	// new index is not lost.
	Counters indexer.CounterSource
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

// Run builds a fresh index through t from a new snapshot while the stream
// goes on, then switches to it; see the package comment for why no read
// ever misses a listing or goes back in time. The returned status is the
// last one reported; err is non-nil when the reindex failed (a failure to
// remove the old index after a successful switch is only reported in
// Status.FinishError).
func Run(ctx context.Context, t Target, opts Options) (Status, error) {
	if opts.Snapshot == nil {
		return Status{Phase: PhaseFailed, Error: "no snapshot source"}, errors.New("reindex: Options.Snapshot is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var mu sync.Mutex // the snapshot calls fn from its own goroutine
	st := Status{Phase: PhaseBegin, Started: time.Now()}
	report := func(f func(*Status)) Status {
		mu.Lock()
		f(&st)
		s := st
		mu.Unlock()
		if opts.Progress != nil {
			opts.Progress(s)
		}
		return s
	}
	fail := func(err error, abort bool) (Status, error) {
		if abort {
			if aerr := t.Abort(context.WithoutCancel(ctx)); aerr != nil {
				err = fmt.Errorf("%w (and removing the new index failed: %v)", err, aerr)
			}
		}
		log.Error("reindex failed", "err", err)
		return report(func(s *Status) { s.Phase, s.Error, s.Finished = PhaseFailed, err.Error(), time.Now() }), err
	}
	report(func(*Status) {})

	// 1–2: the new index, written by the stream from now on.
	nb, err := t.Begin(ctx)
	if err != nil {
		return fail(fmt.Errorf("reindex: begin: %w", err), false)
	}
	log.Info("reindex: new index created, dual writes on; taking a snapshot")
	report(func(s *Status) { s.Phase = PhaseBackfill })

	// 3: only now the snapshot, so that every change it misses is one the
	// stream writes to the new index.
	lsn, err := opts.Snapshot(ctx, func(ctx context.Context, evs []change.Event) error {
		batch, invalid := backfillChanges(evs, log)
		var ast query.ApplyStats
		if len(batch) > 0 {
			if opts.Counters != nil {
				if err := indexer.FillCounters(ctx, opts.Counters, batch); err != nil {
					return err
				}
			}
			var err error
			if ast, err = nb.Apply(ctx, batch); err != nil {
				return err
			}
			if cw, ok := nb.(query.CounterWriter); ok && opts.Counters != nil {
				ids := make([]string, len(batch))
				for i := range batch {
					ids[i] = batch[i].ID
				}
				if err := indexer.WriteCounters(ctx, opts.Counters, cw, ids); err != nil {
					return err
				}
			}
		}
		report(func(s *Status) {
			s.Rows += int64(len(batch) + invalid)
			s.Written += int64(ast.Written)
			s.Stale += int64(ast.Stale)
			s.Invalid += int64(invalid)
			if len(evs) > 0 {
				s.SnapshotLSN = evs[0].Version()
			}
		})
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("reindex: backfill: %w", err), true)
	}
	done := report(func(s *Status) { s.SnapshotLSN, s.Phase = lsn, PhaseSwitch })
	log.Info("reindex: backfill done; switching", "snapshot_lsn", lsn, "rows", done.Rows, "written", done.Written,
		"stale", done.Stale, "invalid", done.Invalid)

	// 4: switch reads and writes.
	if err := t.Switch(ctx); err != nil {
		return fail(fmt.Errorf("reindex: switch: %w", err), true)
	}
	report(func(s *Status) { s.Phase = PhaseFinish })

	// 5: the old index goes. The switch stands whatever happens here.
	var ferr string
	if err := t.Finish(context.WithoutCancel(ctx)); err != nil {
		log.Warn("reindex: switched, but the old index was not removed", "err", err)
		ferr = err.Error()
	}
	s := report(func(s *Status) { s.Phase, s.FinishError, s.Finished = PhaseDone, ferr, time.Now() })
	log.Info("reindex: done", "took", s.Finished.Sub(s.Started).Round(time.Millisecond))
	return s, nil
}

// backfillChanges turns snapshot rows into upserts. Their version is one
// below the snapshot's LSN: the snapshot holds every transaction that
// committed before that LSN, and a transaction after it may commit exactly
// at it. Backends apply equal versions (stream order), so a row at the LSN
// itself could overwrite a newer change the stream had already written at
// that same LSN; at LSN-1 it is stale against every change the snapshot
// does not hold, and at or above every change it does.
func backfillChanges(evs []change.Event, log *slog.Logger) (batch []query.Change, invalid int) {
	batch = make([]query.Change, 0, len(evs))
	for _, e := range evs {
		if e.Source.Table != indexer.ListingsTable || e.Op != change.OpRead {
			continue
		}
		l, err := indexer.DecodeListing(e.After)
		if err == nil {
			err = l.Validate()
		}
		if err != nil || e.Version() == 0 {
			invalid++
			log.Warn("reindex: skipping a row that is not a valid listing", "key", string(e.Key), "err", err)
			continue
		}
		batch = append(batch, query.Change{ID: l.ID, Version: e.Version() - 1, Doc: &l})
	}
	return batch, invalid
}
