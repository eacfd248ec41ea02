package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/audit"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
)

// memory keeps what it records.
type memory struct {
	mu     sync.Mutex
	events []audit.Event
	err    error
}

func (m *memory) Record(_ context.Context, e audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return m.err
}

func TestLoggerWritesOneStructuredLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	ctx := audit.WithActor(context.Background(), "cli:ops")
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if err := audit.Logger(log).Record(ctx, audit.Event{At: at, Action: audit.ActionKeyRevoke, Target: "k1", Detail: map[string]string{"kind": "admin"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": "audit", "level": "INFO", "actor": "cli:ops", "action": "key.revoke", "target": "k1", "outcome": "ok", "at": "2026-12-03T12:00:00Z"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (line %s)", k, got[k], want, lines[0])
		}
	}
	if d, _ := got["detail"].(map[string]any); d["kind"] != "admin" {
		t.Errorf("detail = %v", got["detail"])
	}
}

func TestActorDefaultsToUnknown(t *testing.T) {
	if got := audit.ActorFrom(context.Background()); got != audit.Unknown {
		t.Errorf("ActorFrom(empty) = %q", got)
	}
	m := &memory{}
	if err := audit.Multi(m).Record(context.Background(), audit.Event{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if e := m.events[0]; e.Actor != audit.Unknown || e.Outcome != audit.OutcomeOK || e.At.IsZero() {
		t.Errorf("defaults: %+v", e)
	}
}

func TestMultiJoinsErrors(t *testing.T) {
	boom := errors.New("boom")
	a, b := &memory{}, &memory{err: boom}
	err := audit.Multi(a, b).Record(context.Background(), audit.Event{Action: "x"})
	if !errors.Is(err, boom) || len(a.events) != 1 || len(b.events) != 1 {
		t.Errorf("Multi: %v, %d and %d events", err, len(a.events), len(b.events))
	}
}

func TestHTTPRecordsMutationsOnceAnswered(t *testing.T) {
	m := &memory{}
	status := http.StatusAccepted
	h := audit.HTTP(m, audit.ActionReindexStart,
		func(r *http.Request) string { return "key:" + r.Header.Get("X-Key") },
		func(r *http.Request) string { return r.URL.Query().Get("t") },
		slog.New(slog.DiscardHandler),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				w.WriteHeader(status)
			}
			w.Write([]byte("{}"))
		}))
	send := func(method string) int {
		req := httptest.NewRequest(method, "/admin/reindex?t=listings", nil)
		req.Header.Set("X-Key", "k7")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if send(http.MethodGet) != 200 || send(http.MethodHead) != 200 || len(m.events) != 0 {
		t.Fatalf("reads were recorded: %+v", m.events)
	}
	if got := send(http.MethodPost); got != http.StatusAccepted {
		t.Fatalf("POST = %d", got)
	}
	status = http.StatusConflict
	send(http.MethodPost)
	if len(m.events) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(m.events), m.events)
	}
	for i, want := range []string{"ok", "http 409"} {
		e := m.events[i]
		if e.Action != audit.ActionReindexStart || e.Actor != "key:k7" || e.Target != "listings" || e.Outcome != want ||
			e.Detail["method"] != http.MethodPost || e.Detail["path"] != "/admin/reindex" {
			t.Errorf("event %d: %+v, want outcome %s", i, e, want)
		}
	}
}

func TestInsert(t *testing.T) {
	ctx := context.Background()
	url := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	at := time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC)
	if err := audit.Insert(audit.WithActor(ctx, "key:k1"), pool, audit.Event{At: at, Action: audit.ActionReindexStart, Outcome: "http 409", Detail: map[string]string{"path": "/admin/reindex"}}); err != nil {
		t.Fatal(err)
	}
	if err := audit.Postgres(pool).Record(ctx, audit.Event{Action: audit.ActionKeyCreate, Target: "k2"}); err != nil {
		t.Fatal(err)
	}
	var (
		gotAt                          time.Time
		actor, action, target, outcome string
		path                           string
		n                              int
	)
	err = pool.QueryRow(ctx, "SELECT at, actor, action, target, outcome, detail->>'path', (SELECT count(*) FROM rummage.audit_log) FROM rummage.audit_log ORDER BY id LIMIT 1").
		Scan(&gotAt, &actor, &action, &target, &outcome, &path, &n)
	if err != nil {
		t.Fatal(err)
	}
	if !gotAt.Equal(at) || actor != "key:k1" || action != audit.ActionReindexStart || target != "" || outcome != "http 409" || path != "/admin/reindex" || n != 2 {
		t.Errorf("row: %v %s %s %q %s %s, %d rows", gotAt, actor, action, target, outcome, path, n)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO rummage.audit_log (actor, action) VALUES ('', 'x')"); err == nil {
		t.Error("the table takes an empty actor")
	}
}
