// Package pgkeys is the Postgres keys.Store: the table rummage.api_keys
// (fixtures/migrations/0002_rummage_keys.sql), in Rummage's own schema, which
// the CDC publication never includes. Watch listens on the channel the
// table's trigger notifies, so a key created or revoked by any process
// applies to every serving process at once.
//
// Every key created or revoked is also a row of rummage.audit_log
// (audit.Insert), written in the transaction of the change, with the actor
// of the context (audit.WithActor).
//
// It imports keys, audit and pgx only.
package pgkeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/audit"
	"github.com/rummage/rummage/keys"
)

// Channel is what the table's trigger notifies on every change.
const Channel = "rummage_api_keys"

// ErrNotMigrated means the table does not exist yet.
var ErrNotMigrated = errors.New("pgkeys: table rummage.api_keys does not exist (run \"rummage migrate\" first)")

// Store is a keys.Store and keys.Watcher on Postgres.
type Store struct {
	pool  *pgxpool.Pool
	url   string
	log   *slog.Logger
	audit bool // rummage.audit_log exists
}

// Open connects to databaseURL and checks the table exists.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: database URL: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: %w", err)
	}
	var exists, audited bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('rummage.api_keys') IS NOT NULL, to_regclass('rummage.audit_log') IS NOT NULL").Scan(&exists, &audited); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgkeys: connect: %w", err)
	}
	if !exists {
		pool.Close()
		return nil, ErrNotMigrated
	}
	if !audited {
		log.Warn("pgkeys: table rummage.audit_log does not exist (run \"rummage migrate\"): key changes are not audited in the database")
	}
	return &Store{pool: pool, url: databaseURL, log: log, audit: audited}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

const columns = "id, name, kind, prefix, hash, token_key, created_at, revoked_at"

// Add implements keys.Store.
func (s *Store) Add(ctx context.Context, k keys.Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO rummage.api_keys ("+columns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			k.ID, k.Name, string(k.Kind), k.Prefix, k.Hash[:], []byte(k.TokenKey), k.CreatedAt, k.RevokedAt); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.ActionKeyCreate, k)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: id %s", keys.ErrDuplicate, k.ID)
	}
	if err != nil {
		return fmt.Errorf("pgkeys: add: %w", err)
	}
	return nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context) ([]keys.Key, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+columns+" FROM rummage.api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("pgkeys: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: list: %w", err)
	}
	return out, nil
}

// Revoke implements keys.Store.
func (s *Store) Revoke(ctx context.Context, id string, at time.Time) (keys.Key, error) {
	var k keys.Key
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "UPDATE rummage.api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING "+columns, id, at)
		if err != nil {
			return err
		}
		if k, err = pgx.CollectExactlyOneRow(rows, scanKey); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.ActionKeyRevoke, k)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return keys.Key{}, fmt.Errorf("%w: %q", keys.ErrNotFound, id)
	}
	if err != nil {
		return keys.Key{}, fmt.Errorf("pgkeys: revoke: %w", err)
	}
	return k, nil
}

// record writes the audit row of a key change in its transaction.
func (s *Store) record(ctx context.Context, tx pgx.Tx, action string, k keys.Key) error {
	if !s.audit {
		return nil
	}
	return audit.Insert(ctx, tx, audit.Event{Action: action, Target: k.ID, Detail: map[string]string{"kind": string(k.Kind), "name": k.Name}})
}

func scanKey(row pgx.CollectableRow) (keys.Key, error) {
	var (
		k          keys.Key
		kind       string
		hash, tkey []byte
	)
	if err := row.Scan(&k.ID, &k.Name, &kind, &k.Prefix, &hash, &tkey, &k.CreatedAt, &k.RevokedAt); err != nil {
		return keys.Key{}, err
	}
	k.Kind = keys.Kind(kind)
	copy(k.Hash[:], hash)
	k.TokenKey = tkey
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	if err := k.Validate(); err != nil {
		return keys.Key{}, err
	}
	return k, nil
}

// Watch implements keys.Watcher: LISTEN on Channel over a connection of
// its own, reconnecting with backoff; after a reconnect it reports a
// change, since notifications sent meanwhile are lost.
func (s *Store) Watch(ctx context.Context, changed func()) error {
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.listen(ctx, changed)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("pgkeys: listening for key changes failed; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		changed()
	}
	return nil
}

func (s *Store) listen(ctx context.Context, changed func()) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return err
	}
	changed() // what changed between the last load and LISTEN
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		changed()
	}
}
