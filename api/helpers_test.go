package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query"
)

// stubBackend is a test double for the parser, error-model and middleware
// tests, where what the index holds does not matter. The end-to-end tests
// (e2e_test.go) run against the real embedded backend.
type stubBackend struct {
	mu      sync.Mutex
	last    *query.Request
	result  *query.Result
	search  func(ctx context.Context, req *query.Request) (*query.Result, error)
	docs    int64
	listing map[string]*rummage.Listing
}

func (b *stubBackend) Search(ctx context.Context, req *query.Request) (*query.Result, error) {
	b.mu.Lock()
	b.last = req
	b.mu.Unlock()
	if b.search != nil {
		return b.search(ctx, req)
	}
	if b.result != nil {
		return b.result, nil
	}
	return &query.Result{}, nil
}

func (b *stubBackend) Get(ctx context.Context, id string) (*rummage.Listing, error) {
	if l, ok := b.listing[id]; ok {
		return l, nil
	}
	return nil, query.ErrNotFound
}

func (b *stubBackend) Stats(ctx context.Context) (query.Stats, error) {
	return query.Stats{Documents: b.docs}, nil
}

func (b *stubBackend) lastRequest() *query.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// logBuffer collects the server's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestServer(t testing.TB, cfg Config, b Backend, opts ...Option) (*Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, b, logger, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, h http.Handler, method, target string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// apiErr decodes an error body strictly: exactly the documented shape.
func apiErr(t testing.TB, r response) Error {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type = %q, want JSON; body %s", ct, r.body)
	}
	var body struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data after error body %s", r.body)
	}
	e := body.Error
	if e == nil || e.Code == nil || e.Message == nil || e.Field == nil || *e.Code == "" || *e.Message == "" {
		t.Fatalf("error body %s lacks code, message or field", r.body)
	}
	return Error{Status: r.status, Code: *e.Code, Message: *e.Message, Field: *e.Field}
}
