package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rummage/rummage/indexer/change"
)

// CDC streams the changes of Postgres tables to a Sink: first a consistent
// snapshot, then every committed insert, update, delete and truncate.
type CDC struct {
	cfg    Config
	tables []tableRef
	sink   Sink
	m      *Metrics
	log    *slog.Logger
	dec    *decoder
	rows   *rowCache

	// confirmed is the highest LSN known to be durable downstream: every
	// transaction whose commit record starts before it has been acknowledged
	// by the sink (or had nothing for it). It is an end position, as
	// Postgres's confirmed_flush_lsn is: a transaction's end LSN once it is
	// acknowledged, or the end of the last WAL record the server decoded (a
	// keepalive's WAL end). A commit record may start exactly there and not
	// have been sent yet, so "already downstream" is FinalLSN < confirmed,
	// never <=. It only grows while the process lives and survives
	// reconnects; the state table keeps it across restarts.
	confirmed uint64
}

// New returns a CDC for cfg writing to sink. m may be nil.
func New(cfg Config, sink Sink, m *Metrics) (*CDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("pgcdc: nil sink")
	}
	cfg = cfg.withDefaults()
	tables, err := parseTables(cfg.Tables)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &CDC{cfg: cfg, tables: tables, sink: sink, m: m, log: cfg.Logger, dec: newDecoder(), rows: newRowCache(10000)}, nil
}

// Run streams until ctx is cancelled, then returns nil. It reconnects with
// exponential backoff when Postgres or the sink fails, and returns an error
// only for what retrying cannot fix: missing tables (ErrMissingTables),
// wal_level not logical (ErrNotLogical), a slot that is not ours, or an
// error from a test hook.
func (c *CDC) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for {
		start := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var f *fatalError
		if errors.As(err, &f) {
			return f.err
		}
		c.m.reconnects.Inc()
		if time.Since(start) > time.Minute {
			backoff = c.cfg.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		c.log.Warn("pgcdc: replication session ended; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// session is one connection's life: set up, snapshot if needed, stream.
func (c *CDC) session(ctx context.Context) error {
	regCfg, replCfg, err := connConfigs(c.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, regCfg)
	if err != nil {
		return fmt.Errorf("pgcdc: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := checkSource(ctx, conn, c.tables); err != nil {
		return err
	}
	if err := ensureStateTable(ctx, conn, c.cfg.StateTable); err != nil {
		return err
	}
	if err := ensurePublication(ctx, conn, c.cfg.Publication, c.tables); err != nil {
		return err
	}
	st, err := loadState(ctx, conn, c.cfg.StateTable, c.cfg.Slot)
	if err != nil {
		return err
	}
	slot, err := lookupSlot(ctx, conn, c.cfg.Slot)
	if err != nil {
		return err
	}
	repl, err := pgconn.ConnectConfig(ctx, replCfg)
	if err != nil {
		return fmt.Errorf("pgcdc: replication connect: %w", err)
	}
	defer repl.Close(context.Background())

	if !st.found || !st.snapshotDone || !slot.exists {
		if st.found && st.snapshotDone {
			c.log.Warn("pgcdc: replication slot is gone; taking a new snapshot (rows deleted meanwhile may linger downstream until a reindex)", "slot", c.cfg.Slot)
		}
		if st.found && !st.snapshotDone && slot.exists && slot.plugin == "pgoutput" && slot.activePID == 0 && slot.confirmed != 0 {
			err = c.resumeSnapshot(ctx, conn, slot)
		} else {
			err = c.initialSnapshot(ctx, conn, repl, slot)
		}
		if err != nil {
			return err
		}
	} else if st.confirmed > c.confirmed {
		c.confirmed = st.confirmed
	}
	c.m.confirmedLSN.Set(float64(c.confirmed))
	err = pglogrepl.StartReplication(ctx, repl, c.cfg.Slot, pglogrepl.LSN(c.confirmed), pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '2'", "publication_names '" + c.cfg.Publication + "'"},
	})
	if err != nil {
		return fmt.Errorf("pgcdc: start replication: %w", err)
	}
	c.log.Info("pgcdc: streaming", "slot", c.cfg.Slot, "from", pglogrepl.LSN(c.confirmed).String())
	s := &stream{c: c, conn: conn, repl: repl, rels: map[uint32]*relation{}}
	return s.run(ctx)
}

// initialSnapshot (re)creates the slot with an exported snapshot and copies
// every table at the slot's consistent point. The state row is marked
// "snapshot not done" first, so that a run after a crash in the middle
// finishes the snapshot on the same slot (resumeSnapshot).
func (c *CDC) initialSnapshot(ctx context.Context, conn *pgx.Conn, repl *pgconn.PgConn, slot slotState) error {
	if err := storeState(ctx, conn, c.cfg.StateTable, c.cfg.Slot, 0, false); err != nil {
		return err
	}
	if slot.exists {
		if slot.activePID != 0 {
			return fmt.Errorf("pgcdc: slot %s is in use by pid %d", c.cfg.Slot, slot.activePID)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", c.cfg.Slot); err != nil {
			return fmt.Errorf("pgcdc: drop unfinished slot %s: %w", c.cfg.Slot, err)
		}
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, c.cfg.Slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		SnapshotAction: "EXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication,
	})
	if err != nil {
		return fmt.Errorf("pgcdc: create slot %s: %w", c.cfg.Slot, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return fmt.Errorf("pgcdc: consistent point %q: %w", res.ConsistentPoint, err)
	}
	c.log.Info("pgcdc: snapshot", "slot", c.cfg.Slot, "lsn", res.ConsistentPoint)
	return c.copySnapshot(ctx, conn, res.SnapshotName, uint64(lsn))
}

// resumeSnapshot finishes a snapshot that an earlier run began on this slot
// but did not mark done (it stopped anywhere between creating the slot and
// storing the state, as late as after Kafka acknowledged the last row).
// Dropping the slot for a new one would lose the deletes committed between
// the two slots' points: their rows would linger downstream. Instead the
// slot is kept: the tables are copied as they are now, which is at or after
// the slot's position P, with version P, and streaming then starts at P.
// Every change after P, those deletes included, follows the copy, so a row
// the copy read newer than some event after it is set right by the events
// after that one.
func (c *CDC) resumeSnapshot(ctx context.Context, conn *pgx.Conn, slot slotState) error {
	c.log.Info("pgcdc: resuming an unfinished snapshot on its slot", "slot", c.cfg.Slot, "lsn", pglogrepl.LSN(slot.confirmed).String())
	return c.copySnapshot(ctx, conn, "", slot.confirmed)
}

// copySnapshot copies every table as op "r" events with version lsn (in the
// exported snapshot snapshotName, if set), then stores the snapshot as done
// with lsn confirmed.
func (c *CDC) copySnapshot(ctx context.Context, conn *pgx.Conn, snapshotName string, lsn uint64) error {
	start := time.Now()
	n, err := copyTables(ctx, conn, c.dec, snapshotName, c.tables, lsn, c.cfg.TopicPrefix, c.cfg.MaxBatch, c.sink.Write, c.m)
	if err != nil {
		return err
	}
	if h := c.cfg.Hooks.AfterAck; h != nil {
		if err := h(lsn); err != nil {
			return fatal(err)
		}
	}
	if err := storeState(ctx, conn, c.cfg.StateTable, c.cfg.Slot, lsn, true); err != nil {
		return err
	}
	c.confirmed = lsn
	c.log.Info("pgcdc: snapshot done", "rows", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// stream is the state of one replication session.
type stream struct {
	c    *CDC
	conn *pgx.Conn      // regular connection: state writes, catalog lookups
	repl *pgconn.PgConn // replication connection
	rels map[uint32]*relation

	pending       []change.Event
	pendingSince  time.Time
	lastFlush     time.Duration // how long the last write of events took (sink, state, status)
	pendingCommit uint64        // highest commit LSN whose transaction is complete in pending or already written
	pendingTime   time.Time

	inTx       bool
	skipTx     bool
	txXid      uint32
	txLSN      uint64
	txTime     time.Time
	txSeq      uint32
	serverEnd  uint64
	nextStatus time.Time
}

func (s *stream) run(ctx context.Context) error {
	c := s.c
	s.nextStatus = time.Now()
	for {
		if len(s.pending) > 0 && time.Since(s.pendingSince) >= s.window() {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
		if !time.Now().Before(s.nextStatus) {
			if err := s.sendStatus(); err != nil {
				return err
			}
		}
		deadline := s.nextStatus
		if len(s.pending) > 0 {
			if d := s.pendingSince.Add(s.window()); d.Before(deadline) {
				deadline = d
			}
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := s.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return fmt.Errorf("pgcdc: receive: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("pgcdc: keepalive: %w", err)
				}
				s.keepalive(uint64(pkm.ServerWALEnd))
				if pkm.ReplyRequested {
					if err := s.sendStatus(); err != nil {
						return err
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("pgcdc: xlogdata: %w", err)
				}
				s.serverEnd = max(s.serverEnd, uint64(xld.ServerWALEnd))
				if err := s.handle(ctx, xld.WALData); err != nil {
					return err
				}
				if len(s.pending) >= c.cfg.MaxBatch {
					if err := s.flush(ctx); err != nil {
						return err
					}
				}
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("pgcdc: replication: %w", pgconn.ErrorResponseToPgError(msg))
		case *pgproto3.CopyDone:
			return errors.New("pgcdc: server ended replication")
		}
	}
}

// keepalive handles the server's WAL end. When no transaction is in flight
// and everything received has been acknowledged, every transaction that
// committed before that WAL end has been sent to us and stored downstream
// (the walsender sends a transaction in full as soon as it decodes its
// commit record, before it reads further, and reports its read position
// in keepalives), so confirming the WAL end loses nothing. Doing so keeps an
// idle publication — or one whose tables see no writes while others do —
// from making Postgres retain WAL. This in-memory advance is not written to
// the state table: nothing in that range needs skipping after a rewind.
func (s *stream) keepalive(walEnd uint64) {
	s.serverEnd = max(s.serverEnd, walEnd)
	if !s.inTx && len(s.pending) == 0 && s.pendingCommit <= s.c.confirmed {
		if walEnd > s.c.confirmed {
			s.c.confirmed = walEnd
			s.c.m.confirmedLSN.Set(float64(walEnd))
		}
		s.c.m.lagSeconds.Set(0)
	}
	s.c.m.lagBytes.Set(float64(s.serverEnd - min(s.serverEnd, s.c.confirmed)))
}

// sendStatus reports the confirmed LSN — never the server's WAL end or what
// was merely received — as written, flushed and applied.
func (s *stream) sendStatus() error {
	s.nextStatus = time.Now().Add(s.c.cfg.StatusInterval)
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), s.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pglogrepl.LSN(s.c.confirmed),
	})
	if err != nil {
		return fmt.Errorf("pgcdc: standby status: %w", err)
	}
	return nil
}

// maxWindow bounds how long a batch gathers events when flushes are slow.
const maxWindow = 100 * time.Millisecond

// window is how long a batch gathers events before it is written: Linger,
// or as long as the last flush took when that was longer (at most
// maxWindow). Nothing is received while a flush runs, so a batch that
// gathers for less than a flush lasts leaves the stream flushing most of
// the time: with a 5 ms linger and 30-40 ms sink writes (in-process Kafka
// on 2 busy cores) the CDC kept up with ~1,700 changes/s and fell behind
// 2,000/s by seconds a minute (rummage bench purge); gathering as long as a
// flush takes keeps the flushes to about half of the time.
func (s *stream) window() time.Duration {
	return min(max(s.c.cfg.Linger, s.lastFlush), max(s.c.cfg.Linger, maxWindow))
}

// flush writes pending events to the sink and, once it acknowledged them,
// confirms the transactions that are complete.
func (s *stream) flush(ctx context.Context) error {
	c := s.c
	if len(s.pending) > 0 {
		start := time.Now()
		defer func() { s.lastFlush = time.Since(start) }()
		if err := c.sink.Write(ctx, s.pending); err != nil {
			return fmt.Errorf("pgcdc: sink: %w", err)
		}
		c.m.observeWrite(s.pending, time.Since(start))
		s.pending = make([]change.Event, 0, cap(s.pending))
	}
	if s.pendingCommit <= c.confirmed {
		return nil
	}
	if h := c.cfg.Hooks.AfterAck; h != nil {
		if err := h(s.pendingCommit); err != nil {
			return fatal(err)
		}
	}
	if err := storeState(ctx, s.conn, c.cfg.StateTable, c.cfg.Slot, s.pendingCommit, true); err != nil {
		return err
	}
	c.confirmed = s.pendingCommit
	c.m.confirmedLSN.Set(float64(c.confirmed))
	c.m.lagBytes.Set(float64(s.serverEnd - min(s.serverEnd, c.confirmed)))
	c.m.lagSeconds.Set(max(0, time.Since(s.pendingTime).Seconds()))
	return s.sendStatus()
}

func (s *stream) add(e change.Event) {
	if len(s.pending) == 0 {
		s.pendingSince = time.Now()
	}
	s.pending = append(s.pending, e)
}

// handle decodes one pgoutput message.
func (s *stream) handle(ctx context.Context, data []byte) error {
	msg, err := parsePgoutput(data)
	if err != nil {
		return fmt.Errorf("pgcdc: parse pgoutput: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		s.inTx, s.txXid, s.txLSN, s.txTime, s.txSeq = true, m.Xid, uint64(m.FinalLSN), m.CommitTime, 0
		// After a Postgres restart the slot can rewind to before positions
		// already confirmed; those transactions are downstream already.
		s.skipTx = s.txLSN < s.c.confirmed
		if s.skipTx {
			s.c.m.skipped.Inc()
		}
	case *pglogrepl.CommitMessage:
		skip := s.skipTx
		s.inTx, s.skipTx = false, false
		// Confirm the end of the transaction, not the start of its commit
		// record: see CDC.confirmed.
		commit := uint64(m.TransactionEndLSN)
		switch {
		case skip:
		case s.txSeq == 0 && len(s.pending) == 0 && s.pendingCommit <= s.c.confirmed:
			// A transaction with no published change (older servers send
			// empty ones, e.g. our own state writes): nothing to store, so
			// confirm in memory only, as for a keepalive.
			s.c.confirmed = max(s.c.confirmed, commit)
		default:
			s.pendingCommit = max(s.pendingCommit, commit)
			s.pendingTime = m.CommitTime
			if len(s.pending) == 0 {
				return s.flush(ctx) // its events are written already: confirm now
			}
		}
	case *pglogrepl.RelationMessageV2:
		return s.relation(ctx, &m.RelationMessage)
	case *pglogrepl.InsertMessageV2:
		if s.skipTx {
			return nil
		}
		rel, err := s.rel(m.RelationID)
		if err != nil {
			return err
		}
		vals, err := s.c.dec.tuple(rel, m.Tuple, false)
		if err != nil {
			return err
		}
		s.c.rows.put(rel, vals)
		s.emit(rel, change.OpCreate, nil, vals)
	case *pglogrepl.UpdateMessageV2:
		if s.skipTx {
			return nil
		}
		return s.update(m)
	case *pglogrepl.DeleteMessageV2:
		if s.skipTx {
			return nil
		}
		rel, err := s.rel(m.RelationID)
		if err != nil {
			return err
		}
		old, err := s.c.dec.tuple(rel, m.OldTuple, m.OldTupleType == pglogrepl.DeleteMessageTupleTypeKey)
		if err != nil {
			return err
		}
		s.c.rows.drop(rel, old)
		s.emit(rel, change.OpDelete, old, nil)
	case *pglogrepl.TruncateMessageV2:
		if s.skipTx {
			return nil
		}
		for _, id := range m.RelationIDs {
			rel, err := s.rel(id)
			if err != nil {
				return err
			}
			s.c.rows.truncate(rel)
			s.emit(rel, change.OpTruncate, nil, nil)
		}
	case *pglogrepl.TypeMessageV2, *pglogrepl.OriginMessage, *pglogrepl.LogicalDecodingMessageV2:
		// Custom types render as text; origins and messages are not ours.
	case *pglogrepl.StreamStartMessageV2, *pglogrepl.StreamStopMessageV2, *pglogrepl.StreamCommitMessageV2, *pglogrepl.StreamAbortMessageV2:
		return fatal(errors.New("pgcdc: streamed in-progress transactions were not requested"))
	}
	return nil
}

func (s *stream) rel(id uint32) (*relation, error) {
	rel, ok := s.rels[id]
	if !ok {
		return nil, fmt.Errorf("pgcdc: change for relation %d before its relation message", id)
	}
	return rel, nil
}

// relation caches (or replaces, after ALTER TABLE) a relation's shape.
func (s *stream) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	rel := &relation{id: m.RelationID, schema: m.Namespace, table: m.RelationName, full: m.ReplicaIdentity == 'f'}
	for _, col := range m.Columns {
		rel.cols = append(rel.cols, column{name: col.Name, oid: col.DataType, identity: col.Flags&1 != 0})
	}
	pk, err := primaryKey(ctx, s.conn, m.RelationID)
	if err != nil {
		return err
	}
	setKey(rel, pk)
	s.rels[m.RelationID] = rel
	return nil
}

func (s *stream) update(m *pglogrepl.UpdateMessageV2) error {
	rel, err := s.rel(m.RelationID)
	if err != nil {
		return err
	}
	newVals, err := s.c.dec.tuple(rel, m.NewTuple, false)
	if err != nil {
		return err
	}
	var old []value
	if m.OldTuple != nil {
		if old, err = s.c.dec.tuple(rel, m.OldTuple, m.OldTupleType == pglogrepl.UpdateMessageTupleTypeKey); err != nil {
			return err
		}
	}
	// Unchanged TOASTed values arrive as 'u' without data: take them from the
	// old row (REPLICA IDENTITY FULL logs it in full) or from the last row
	// seen for the key; never emit null for them.
	var cached map[string][]byte
	for i, col := range m.NewTuple.Columns {
		if col.DataType != pglogrepl.TupleDataTypeToast {
			continue
		}
		if old != nil && m.OldTupleType == pglogrepl.UpdateMessageTupleTypeOld && old[i].present {
			newVals[i] = old[i]
			continue
		}
		if cached == nil {
			cached = s.c.rows.get(rel, key(rel, newVals))
		}
		if v, ok := cached[rel.cols[i].name]; ok {
			newVals[i] = value{json: v, present: true}
			continue
		}
		s.c.m.toastMissing.Inc()
		s.c.log.Warn("pgcdc: unchanged TOAST value not recoverable; field left out of the event", "table", rel.table, "column", rel.cols[i].name)
	}
	s.c.rows.put(rel, newVals)
	before := old
	if m.OldTupleType == pglogrepl.UpdateMessageTupleTypeKey {
		// The key changed: Debezium's shape is a delete of the old key and a
		// create of the new one, so each key's partition sees its own end.
		s.c.rows.drop(rel, old)
		s.emit(rel, change.OpDelete, old, nil)
		s.emit(rel, change.OpCreate, nil, newVals)
		return nil
	}
	if old != nil {
		if ok, nk := key(rel, old), key(rel, newVals); ok != nil && nk != nil && string(ok) != string(nk) {
			s.emit(rel, change.OpDelete, old, nil)
			s.emit(rel, change.OpCreate, nil, newVals)
			return nil
		}
	}
	s.emit(rel, change.OpUpdate, before, newVals)
	return nil
}

func (s *stream) emit(rel *relation, op change.Op, before, after []value) {
	s.txSeq++
	k := key(rel, after)
	if after == nil {
		k = key(rel, before)
	}
	s.add(change.Event{
		Before: object(rel, before),
		After:  object(rel, after),
		Op:     op,
		TsMs:   time.Now().UnixMilli(),
		Key:    k,
		Source: change.Source{
			Version: "rummage", Connector: "postgresql", Name: s.c.cfg.TopicPrefix,
			TsMs: s.txTime.UnixMilli(), Snapshot: change.SnapshotFalse,
			Schema: rel.schema, Table: rel.table, TxID: int64(s.txXid), LSN: s.txLSN, Seq: s.txSeq,
		},
	})
}

// rowCache remembers the last row per key of tables without REPLICA
// IDENTITY FULL, to recover unchanged TOASTed values on update. It is
// bounded; when full it starts over (a miss only loses a TOAST fallback).
type rowCache struct {
	max  int
	rows map[string]map[string][]byte
}

func newRowCache(max int) *rowCache { return &rowCache{max: max, rows: map[string]map[string][]byte{}} }

func cacheKey(rel *relation, k []byte) string { return fmt.Sprintf("%d/%s", rel.id, k) }

func (rc *rowCache) put(rel *relation, vals []value) {
	if rel.full {
		return
	}
	k := key(rel, vals)
	if k == nil {
		return
	}
	if len(rc.rows) >= rc.max {
		clear(rc.rows)
	}
	row := make(map[string][]byte, len(vals))
	for i, v := range vals {
		if v.present {
			row[rel.cols[i].name] = v.json
		}
	}
	rc.rows[cacheKey(rel, k)] = row
}

func (rc *rowCache) get(rel *relation, k []byte) map[string][]byte {
	if k == nil {
		return nil
	}
	return rc.rows[cacheKey(rel, k)]
}

func (rc *rowCache) drop(rel *relation, vals []value) {
	if k := key(rel, vals); k != nil {
		delete(rc.rows, cacheKey(rel, k))
	}
}

func (rc *rowCache) truncate(rel *relation) {
	if !rel.full {
		clear(rc.rows)
	}
}

// Check connects once and verifies what Run cannot fix by retrying: the
// server's wal_level and that the tables exist. Commands call it first to
// fail fast with a clear message.
func (c *CDC) Check(ctx context.Context) error {
	regCfg, _, err := connConfigs(c.cfg.DatabaseURL)
	if err != nil {
		return unwrapFatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, regCfg)
	if err != nil {
		return fmt.Errorf("pgcdc: connect: %w", err)
	}
	defer conn.Close(context.Background())
	return unwrapFatal(checkSource(ctx, conn, c.tables))
}

func unwrapFatal(err error) error {
	var f *fatalError
	if errors.As(err, &f) {
		return f.err
	}
	return err
}
