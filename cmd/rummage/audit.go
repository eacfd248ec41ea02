package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/user"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/audit"
	"github.com/rummage/rummage/keys"
)

// cliActor is the actor of a command run by an operator: cli:<OS user>.
func cliActor(ctx context.Context) context.Context {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "?"
	}
	return audit.WithActor(ctx, "cli:"+name)
}

// auditKey writes the audit line of a key change (the Postgres store also
// wrote its row, in the change's transaction).
func auditKey(ctx context.Context, log *slog.Logger, action string, k keys.Key) {
	_ = audit.Logger(log).Record(ctx, audit.Event{Action: action, Target: k.ID, Detail: map[string]string{"kind": string(k.Kind), "name": k.Name}})
}

// adminAudit is where the admin endpoint's actions are recorded: audit
// lines and, with a database, rows of rummage.audit_log over a pool of one
// connection (made at the first action); stop closes it.
func adminAudit(ctx context.Context, dbURL string, log *slog.Logger) (audit.Recorder, func(), error) {
	lines := audit.Logger(log)
	if dbURL == "" {
		return lines, func() {}, nil
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: database URL: %w", err)
	}
	cfg.MaxConns, cfg.MinConns = 1, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	return audit.Multi(lines, audit.Postgres(pool)), pool.Close, nil
}

// auditedAdmin records the admin endpoint's mutations (POST
// /admin/reindex) with rec, with the admin key that made them; wrap it in
// Protect, which puts the caller in the request's context.
func auditedAdmin(h http.Handler, rec audit.Recorder, log *slog.Logger) http.Handler {
	actor := func(r *http.Request) string {
		if c, ok := api.CallerFrom(r.Context()); ok && c.Key != nil {
			return "key:" + c.Key.ID
		}
		return audit.Unknown
	}
	return audit.HTTP(rec, audit.ActionReindexStart, actor, nil, log, h)
}
