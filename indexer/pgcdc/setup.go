package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrMissingTables means a configured table does not exist: the schema has
// not been migrated (run "rummage migrate"). Run returns it at once.
var ErrMissingTables = errors.New("pgcdc: tables do not exist (run \"rummage migrate\" first)")

// ErrNotLogical means the server's wal_level is not logical. Run returns it
// at once.
var ErrNotLogical = errors.New("pgcdc: postgres wal_level is not logical (ALTER SYSTEM SET wal_level = 'logical', then restart Postgres)")

// fatalError ends Run instead of reconnecting.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

func fatal(err error) error { return &fatalError{err} }

type tableRef struct{ schema, table string }

func (t tableRef) String() string { return t.schema + "." + t.table }

func (t tableRef) sanitized() string { return pgx.Identifier{t.schema, t.table}.Sanitize() }

func parseTables(names []string) ([]tableRef, error) {
	out := make([]tableRef, 0, len(names))
	for _, n := range names {
		s, t, err := splitTable(n)
		if err != nil {
			return nil, err
		}
		out = append(out, tableRef{s, t})
	}
	return out, nil
}

// connConfigs returns the settings for the regular connection and the
// replication connection. Both render timestamps in UTC and ISO so that
// snapshot rows and streamed rows encode alike.
func connConfigs(databaseURL string) (*pgx.ConnConfig, *pgconn.Config, error) {
	regular, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, fatal(fmt.Errorf("pgcdc: database URL: %w", err))
	}
	repl, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, fatal(fmt.Errorf("pgcdc: database URL: %w", err))
	}
	for _, p := range []map[string]string{regular.RuntimeParams, repl.RuntimeParams} {
		p["timezone"] = "UTC"
		p["datestyle"] = "ISO, MDY"
		p["extra_float_digits"] = "3"
		if p["application_name"] == "" {
			p["application_name"] = "rummage-cdc"
		}
	}
	repl.RuntimeParams["replication"] = "database"
	return regular, repl, nil
}

// checkSource verifies wal_level and that the tables exist.
func checkSource(ctx context.Context, conn *pgx.Conn, tables []tableRef) error {
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return fmt.Errorf("pgcdc: show wal_level: %w", err)
	}
	if level != "logical" {
		return fatal(fmt.Errorf("%w (it is %q)", ErrNotLogical, level))
	}
	var missing []string
	for _, t := range tables {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t.sanitized()).Scan(&ok); err != nil {
			return fmt.Errorf("pgcdc: look up %s: %w", t, err)
		}
		if !ok {
			missing = append(missing, t.String())
		}
	}
	if len(missing) > 0 {
		return fatal(fmt.Errorf("%w: %s", ErrMissingTables, strings.Join(missing, ", ")))
	}
	return nil
}

// ensurePublication creates the publication, or adds the tables it lacks.
func ensurePublication(ctx context.Context, conn *pgx.Conn, name string, tables []tableRef) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcdc: look up publication: %w", err)
	}
	list := make([]string, len(tables))
	for i, t := range tables {
		list[i] = t.sanitized()
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE PUBLICATION "+pgx.Identifier{name}.Sanitize()+" FOR TABLE "+strings.Join(list, ", "))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42710" { // created concurrently
			return nil
		}
		if err != nil {
			return fmt.Errorf("pgcdc: create publication %s: %w", name, err)
		}
		return nil
	}
	for _, t := range tables {
		var in bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication_tables
			WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)`, name, t.schema, t.table).Scan(&in); err != nil {
			return fmt.Errorf("pgcdc: look up publication tables: %w", err)
		}
		if !in {
			if _, err := conn.Exec(ctx, "ALTER PUBLICATION "+pgx.Identifier{name}.Sanitize()+" ADD TABLE "+t.sanitized()); err != nil {
				return fmt.Errorf("pgcdc: add %s to publication %s: %w", t, name, err)
			}
		}
	}
	return nil
}

// primaryKey returns the primary key column names of a table, in key order.
func primaryKey(ctx context.Context, conn *pgx.Conn, relid uint32) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = $1::oid AND i.indisprimary
		ORDER BY array_position(i.indkey::int2[], a.attnum)`, relid)
	if err != nil {
		return nil, fmt.Errorf("pgcdc: primary key of relation %d: %w", relid, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgcdc: primary key of relation %d: %w", relid, err)
	}
	return names, nil
}

// setKey fills rel.key from the primary key names; a table without a
// primary key is keyed by its replica identity columns (all columns under
// FULL).
func setKey(rel *relation, pk []string) {
	rel.key = rel.key[:0]
	for _, name := range pk {
		for i, c := range rel.cols {
			if c.name == name {
				rel.key = append(rel.key, i)
			}
		}
	}
	if len(rel.key) == len(pk) && len(pk) > 0 {
		return
	}
	rel.key = rel.key[:0]
	for i, c := range rel.cols {
		if c.identity || rel.full {
			rel.key = append(rel.key, i)
		}
	}
}

// state is the CDC's own durable record, one row per slot.
type state struct {
	found        bool
	confirmed    uint64
	snapshotDone bool
}

func ensureStateTable(ctx context.Context, conn *pgx.Conn, table string) error {
	_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+pgx.Identifier{table}.Sanitize()+` (
		slot          text PRIMARY KEY,
		confirmed_lsn pg_lsn NOT NULL,
		snapshot_done boolean NOT NULL DEFAULT false,
		updated_at    timestamptz NOT NULL DEFAULT now()
	)`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07") { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcdc: create state table %s: %w", table, err)
	}
	return nil
}

func loadState(ctx context.Context, conn *pgx.Conn, table, slot string) (state, error) {
	var st state
	var lsn pglogrepl.LSN
	err := conn.QueryRow(ctx, `SELECT confirmed_lsn::text, snapshot_done FROM `+pgx.Identifier{table}.Sanitize()+` WHERE slot = $1`, slot).Scan(&lsn, &st.snapshotDone)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("pgcdc: load state: %w", err)
	}
	st.found, st.confirmed = true, uint64(lsn)
	return st, nil
}

// storeState records the confirmed LSN. It never moves the stored LSN
// backwards unless a new snapshot starts (snapshotDone false).
func storeState(ctx context.Context, conn *pgx.Conn, table, slot string, lsn uint64, snapshotDone bool) error {
	q := `INSERT INTO ` + pgx.Identifier{table}.Sanitize() + ` AS s (slot, confirmed_lsn, snapshot_done, updated_at)
		VALUES ($1, $2::pg_lsn, $3, now())
		ON CONFLICT (slot) DO UPDATE SET
			confirmed_lsn = CASE WHEN NOT excluded.snapshot_done OR NOT s.snapshot_done THEN excluded.confirmed_lsn
			                     ELSE GREATEST(s.confirmed_lsn, excluded.confirmed_lsn) END,
			snapshot_done = excluded.snapshot_done, updated_at = now()`
	if _, err := conn.Exec(ctx, q, slot, pglogrepl.LSN(lsn).String(), snapshotDone); err != nil {
		return fmt.Errorf("pgcdc: store confirmed LSN: %w", err)
	}
	return nil
}

// slotState describes the replication slot, if it exists.
type slotState struct {
	exists    bool
	plugin    string
	activePID int32
	confirmed uint64
}

func lookupSlot(ctx context.Context, conn *pgx.Conn, slot string) (slotState, error) {
	var s slotState
	var pid *int32
	var lsn *string
	err := conn.QueryRow(ctx, `SELECT coalesce(plugin, ''), active_pid, confirmed_flush_lsn::text FROM pg_replication_slots
		WHERE slot_name = $1 AND database = current_database()`, slot).Scan(&s.plugin, &pid, &lsn)
	if errors.Is(err, pgx.ErrNoRows) {
		var elsewhere bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, slot).Scan(&elsewhere); err != nil {
			return s, fmt.Errorf("pgcdc: look up slot: %w", err)
		}
		if elsewhere {
			return s, fatal(fmt.Errorf("pgcdc: replication slot %q belongs to another database; choose another --slot", slot))
		}
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("pgcdc: look up slot: %w", err)
	}
	s.exists = true
	if pid != nil {
		s.activePID = *pid
	}
	if lsn != nil {
		l, err := pglogrepl.ParseLSN(*lsn)
		if err == nil {
			s.confirmed = uint64(l)
		}
	}
	if s.plugin != "pgoutput" {
		return s, fatal(fmt.Errorf("pgcdc: replication slot %q uses plugin %q, not pgoutput; choose another --slot", slot, s.plugin))
	}
	return s, nil
}
