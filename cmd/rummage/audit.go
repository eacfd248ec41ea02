package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/user"

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

// auditedAdmin records the admin endpoint's mutations (POST
// /admin/reindex) as audit lines, with the admin key that made them; wrap
// it in Protect, which puts the caller in the request's context.
func auditedAdmin(h http.Handler, log *slog.Logger) http.Handler {
	actor := func(r *http.Request) string {
		if c, ok := api.CallerFrom(r.Context()); ok && c.Key != nil {
			return "key:" + c.Key.ID
		}
		return audit.Unknown
	}
	return audit.HTTP(audit.Logger(log), audit.ActionReindexStart, actor, nil, log, h)
}
