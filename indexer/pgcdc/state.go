package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// StateTable is the default of Config.StateTable: the table where the CDC
// keeps its confirmed LSN, one row per slot.
const StateTable = "rummage_cdc_state"

// ForgetPosition deletes the CDC's record of its position for slot (in
// stateTable; "" is StateTable), so that its next start takes a new
// snapshot: without a record the CDC recreates the slot. A database with no
// state table has nothing to forget.
func ForgetPosition(ctx context.Context, databaseURL, stateTable, slot string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("pgcdc: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return forget(ctx, conn, stateTable, slot)
}

func forget(ctx context.Context, conn *pgx.Conn, stateTable, slot string) error {
	if stateTable == "" {
		stateTable = StateTable
	}
	_, err := conn.Exec(ctx, "DELETE FROM "+pgx.Identifier{stateTable}.Sanitize()+" WHERE slot = $1", slot)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // no state table yet
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcdc: forget the position of slot %s: %w", slot, err)
	}
	return nil
}

// DropSlot drops the replication slot once no process streams from it (it
// waits up to two seconds for the last one to let go) and forgets its
// position, so that the database retains no WAL for it.
func DropSlot(ctx context.Context, databaseURL, stateTable, slot string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("pgcdc: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for range 20 {
		_, err = conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active", slot)
		var left bool
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", slot).Scan(&left)
		}
		if err == nil && !left {
			break
		}
		if err == nil {
			err = fmt.Errorf("slot %s is still in use", slot)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("pgcdc: drop slot %s: %w", slot, err)
	}
	return forget(ctx, conn, stateTable, slot)
}
