package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Actions recorded by Rummage.
const (
	ActionKeyCreate    = "key.create"
	ActionKeyRevoke    = "key.revoke"
	ActionReindexStart = "reindex.start"
)

// Outcomes of an event: ok, or what refused it (an HTTP status, say
// "http 409").
const OutcomeOK = "ok"

// Event is one admin action.
type Event struct {
	At      time.Time         `json:"at"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Target  string            `json:"target,omitempty"`
	Outcome string            `json:"outcome"`
	Detail  map[string]string `json:"detail,omitempty"`
}

// withDefaults fills the time (now), the actor (from ctx) and the outcome
// (ok) when they are empty.
func (e Event) withDefaults(ctx context.Context) Event {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	if e.Actor == "" {
		e.Actor = ActorFrom(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	return e
}

// Recorder records events. Record must be safe for concurrent use; an
// error means the event may not be recorded.
type Recorder interface {
	Record(ctx context.Context, e Event) error
}

type actorKey struct{}

// WithActor returns ctx carrying who acts: "key:<id>" for an API key,
// "cli:<user>" for an operator at the command line.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Unknown is the actor of a context that names none.
const Unknown = "unknown"

// ActorFrom returns the actor of ctx, Unknown when it names none.
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return Unknown
}

// Logger records each event as one structured log line at Info, message
// "audit", with attributes actor, action, target, outcome and detail.*.
func Logger(log *slog.Logger) Recorder { return logRecorder{log} }

type logRecorder struct{ log *slog.Logger }

func (l logRecorder) Record(ctx context.Context, e Event) error {
	e = e.withDefaults(ctx)
	attrs := []slog.Attr{
		slog.Time("at", e.At), slog.String("actor", e.Actor), slog.String("action", e.Action),
		slog.String("target", e.Target), slog.String("outcome", e.Outcome),
	}
	if len(e.Detail) > 0 {
		d := make([]any, 0, 2*len(e.Detail))
		for k, v := range e.Detail {
			d = append(d, k, v)
		}
		attrs = append(attrs, slog.Group("detail", d...))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	return nil
}

// Multi records each event with every recorder, and joins their errors.
func Multi(rs ...Recorder) Recorder { return multi(rs) }

type multi []Recorder

func (m multi) Record(ctx context.Context, e Event) error {
	e = e.withDefaults(ctx)
	var errs []error
	for _, r := range m {
		errs = append(errs, r.Record(ctx, e))
	}
	return errors.Join(errs...)
}

// Execer is what Insert needs: a pgx pool, connection or transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Insert writes e as a row of rummage.audit_log through db (in a caller's
// transaction, to record a change atomically with it).
func Insert(ctx context.Context, db Execer, e Event) error {
	e = e.withDefaults(ctx)
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return fmt.Errorf("audit: detail: %w", err)
		}
	}
	_, err := db.Exec(ctx, "INSERT INTO rummage.audit_log (at, actor, action, target, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
		e.At, e.Actor, e.Action, e.Target, e.Outcome, detail)
	if err != nil {
		return fmt.Errorf("audit: insert: %w", err)
	}
	return nil
}

// Postgres records events as rows of rummage.audit_log through db (a
// pgx pool, say).
func Postgres(db Execer) Recorder { return pgRecorder{db} }

type pgRecorder struct{ db Execer }

func (p pgRecorder) Record(ctx context.Context, e Event) error { return Insert(ctx, p.db, e) }

// HTTP records the requests to h that change something (any method but
// GET, HEAD and OPTIONS) once they are answered: action, the target the
// request names (target(r), may be ""), the actor actor(r) says, and the
// outcome "ok" for a 2xx answer, "http <status>" otherwise. A failure to
// record is logged, and does not change the answer already sent.
func HTTP(rec Recorder, action string, actor, target func(*http.Request) string, log *slog.Logger, h http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		e := Event{Action: action, Actor: actor(r), Outcome: OutcomeOK, Detail: map[string]string{"method": r.Method, "path": r.URL.Path}}
		if target != nil {
			e.Target = target(r)
		}
		if st := sw.code(); st < 200 || st > 299 {
			e.Outcome = fmt.Sprintf("http %d", st)
		}
		// The answer is sent: the record must not be cut short by a
		// client that went away.
		if err := rec.Record(context.WithoutCancel(r.Context()), e); err != nil {
			log.Error("audit: an admin action was not recorded", "action", action, "actor", e.Actor, "err", err)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the writer below.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
