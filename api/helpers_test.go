package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
)

// stubBackend is a test double for the parser, error-model and middleware
// tests, where what the index holds does not matter. The end-to-end tests
// (e2e_test.go) run against the real embedded backend.
type stubBackend struct {
	mu      sync.Mutex
	last    *query.Retrieval
	result  *query.Candidates
	search  func(ctx context.Context, r *query.Retrieval) (*query.Candidates, error)
	docs    int64
	listing map[string]*rummage.Listing
	get     func(ctx context.Context, id string) (*rummage.Listing, error)
}

func (b *stubBackend) Retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	b.mu.Lock()
	b.last = r
	b.mu.Unlock()
	if b.search != nil {
		return b.search(ctx, r)
	}
	if b.result != nil {
		return b.result, nil
	}
	return &query.Candidates{}, nil
}

func (b *stubBackend) Load(ctx context.Context, ids []string) ([]*rummage.Listing, error) {
	out := make([]*rummage.Listing, len(ids))
	for i, id := range ids {
		out[i] = b.listing[id]
	}
	return out, nil
}

// hits returns candidates holding the given listings as their documents.
func hits(ls ...rummage.Listing) []query.Candidate {
	out := make([]query.Candidate, len(ls))
	for i := range ls {
		out[i] = query.Candidate{ID: ls[i].ID, Doc: &ls[i], Key: int64(i)}
	}
	return out
}

func (b *stubBackend) Get(ctx context.Context, id string) (*rummage.Listing, error) {
	if b.get != nil {
		return b.get(ctx, id)
	}
	if l, ok := b.listing[id]; ok {
		return l, nil
	}
	return nil, query.ErrNotFound
}

func (b *stubBackend) Stats(ctx context.Context) (query.Stats, error) {
	return query.Stats{Documents: b.docs}, nil
}

func (b *stubBackend) lastRequest() *query.Retrieval {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// newTestServer builds a server over b; without cfg.Auth.Keys it knows the
// shared test keys (apitest.Shared).
func newTestServer(t testing.TB, cfg Config, b Backend, opts ...Option) (*Server, *testkit.SyncBuffer) {
	t.Helper()
	if cfg.Auth.Keys == nil {
		cfg.Auth.Keys = apitest.Shared().Ring
	}
	logs := &testkit.SyncBuffer{}
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

// do sends a request with the shared search key through apitest, which
// checks the exchange against the OpenAPI document.
func do(t testing.TB, h http.Handler, method, target string, opts ...apitest.Option) response {
	t.Helper()
	r := apitest.NewClient(t, h, apitest.Shared().Search).Do(t, method, target, nil, opts...)
	return response{r.Status, r.Header, r.Body}
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
