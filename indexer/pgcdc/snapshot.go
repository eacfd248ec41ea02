package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
)

// SnapshotOptions tune Snapshot.
type SnapshotOptions struct {
	Tables      []string // default rummage.Tables()
	TopicPrefix string   // source.name of the events (default change.DefaultTopicPrefix)
	BatchSize   int      // events per fn call (default 5000)
}

// Snapshot copies every row of the tables as one consistent picture and
// hands them to fn in batches as op "r" events. It returns the LSN the
// picture is consistent at, which is also every event's version: a change
// committed after it has a higher commit LSN, one committed before it is in
// the picture. It holds a temporary logical slot only for its own duration
// (so wal_level must be logical) and leaves nothing behind; `rummage reindex`
// builds a fresh index this way while the stream goes on.
func Snapshot(ctx context.Context, databaseURL string, opts SnapshotOptions, fn func(context.Context, []change.Event) error) (uint64, error) {
	if len(opts.Tables) == 0 {
		opts.Tables = rummage.Tables()
	}
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = change.DefaultTopicPrefix
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	tables, err := parseTables(opts.Tables)
	if err != nil {
		return 0, err
	}
	regCfg, replCfg, err := connConfigs(databaseURL)
	if err != nil {
		return 0, err
	}
	conn, err := pgx.ConnectConfig(ctx, regCfg)
	if err != nil {
		return 0, fmt.Errorf("pgcdc: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := checkSource(ctx, conn, tables); err != nil {
		return 0, err
	}
	repl, err := pgconn.ConnectConfig(ctx, replCfg)
	if err != nil {
		return 0, fmt.Errorf("pgcdc: replication connect: %w", err)
	}
	defer repl.Close(context.Background())
	slot := fmt.Sprintf("rummage_snapshot_%08x", rand.Uint32())
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary: true, SnapshotAction: "EXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication,
	})
	if err != nil {
		return 0, fmt.Errorf("pgcdc: create temporary slot: %w", err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, fmt.Errorf("pgcdc: consistent point %q: %w", res.ConsistentPoint, err)
	}
	if _, err := copyTables(ctx, conn, newDecoder(), res.SnapshotName, tables, uint64(lsn), opts.TopicPrefix, opts.BatchSize, fn, nil); err != nil {
		return 0, err
	}
	// Temporary slots go when the session ends; drop it now so that it is
	// gone when Snapshot returns.
	if err := pglogrepl.DropReplicationSlot(ctx, repl, slot, pglogrepl.DropReplicationSlotOptions{}); err != nil {
		return 0, fmt.Errorf("pgcdc: drop temporary slot: %w", err)
	}
	return uint64(lsn), nil
}

// copyTables reads every table inside a REPEATABLE READ transaction that
// imports the exported snapshot (with snapshotName empty: as the tables are
// when it starts; see resumeSnapshot), and emits the rows as op "r" events with
// version lsn. The last event is marked snapshot "last". Reading the next
// batch overlaps with emitting the previous one.
func copyTables(ctx context.Context, conn *pgx.Conn, dec *decoder, snapshotName string, tables []tableRef, lsn uint64,
	prefix string, batchSize int, emit func(context.Context, []change.Event) error, m *Metrics) (int, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("pgcdc: snapshot: begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if snapshotName != "" {
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshotName+"'"); err != nil {
			return 0, fmt.Errorf("pgcdc: snapshot: set transaction snapshot: %w", err)
		}
	}

	// The writer goroutine emits batches while the reader fills the next.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []change.Event, 1)
	done := make(chan error, 1)
	go func() {
		var werr error
		for b := range batches {
			if werr != nil {
				continue
			}
			start := time.Now()
			if werr = emit(ctx, b); werr != nil {
				cancel()
				continue
			}
			m.observeWrite(b, time.Since(start))
		}
		done <- werr
	}()
	send := func(b []change.Event) bool {
		select {
		case batches <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}

	now := time.Now().UnixMilli()
	var batch []change.Event
	rows := 0
	var readErr error
tables:
	for _, t := range tables {
		var relid uint32
		if readErr = tx.QueryRow(ctx, "SELECT $1::regclass::oid", t.sanitized()).Scan(&relid); readErr != nil {
			readErr = fmt.Errorf("pgcdc: snapshot %s: %w", t, readErr)
			break
		}
		pk, err := primaryKey(ctx, tx.Conn(), relid)
		if err != nil {
			readErr = err
			break
		}
		rr := tx.Conn().PgConn().ExecParams(ctx, "SELECT * FROM "+t.sanitized(), nil, nil, nil, nil)
		fds := rr.FieldDescriptions()
		rel := &relation{id: relid, schema: t.schema, table: t.table, cols: make([]column, len(fds))}
		for i, fd := range fds {
			rel.cols[i] = column{name: fd.Name, oid: fd.DataTypeOID}
		}
		setKey(rel, pk)
		for rr.NextRow() {
			raw := rr.Values()
			vals := make([]value, len(raw))
			for i, v := range raw {
				if v == nil {
					vals[i] = value{json: []byte("null"), present: true}
					continue
				}
				b, err := dec.appendValue(nil, rel.cols[i].oid, v)
				if err != nil {
					readErr = fmt.Errorf("pgcdc: snapshot %s.%s: %w", t, rel.cols[i].name, err)
					rr.Close()
					break tables
				}
				vals[i] = value{json: b, present: true}
			}
			if len(batch) >= batchSize {
				if !send(batch) {
					rr.Close()
					break tables
				}
				batch = make([]change.Event, 0, batchSize)
			}
			batch = append(batch, change.Event{
				After: object(rel, vals),
				Op:    change.OpRead,
				TsMs:  now,
				Key:   key(rel, vals),
				Source: change.Source{
					Version: "rummage", Connector: "postgresql", Name: prefix, TsMs: now,
					Snapshot: change.SnapshotTrue, Schema: t.schema, Table: t.table, LSN: lsn,
				},
			})
			rows++
		}
		if _, err := rr.Close(); err != nil {
			readErr = fmt.Errorf("pgcdc: snapshot %s: %w", t, err)
			break
		}
	}
	if readErr == nil && ctx.Err() == nil && len(batch) > 0 {
		batch[len(batch)-1].Source.Snapshot = change.SnapshotLast
		send(batch)
	}
	close(batches)
	werr := <-done
	if werr != nil {
		return rows, fmt.Errorf("pgcdc: snapshot: write: %w", werr)
	}
	if readErr != nil {
		return rows, readErr
	}
	if err := ctx.Err(); err != nil {
		return rows, err
	}
	if err := tx.Commit(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return rows, fmt.Errorf("pgcdc: snapshot: commit: %w", err)
	}
	return rows, nil
}
