package apitest_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
)

func server(t *testing.T) (*api.Server, *apitest.Keys) {
	t.Helper()
	k := apitest.NewKeys(t)
	// No backend: these tests need the routes that answer without one.
	s, err := api.New(api.Config{Auth: api.Auth{Keys: k.Ring}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestServedSpecIsValid(t *testing.T) {
	b, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := apitest.LoadSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/search", "/v1/listings/{id}", "/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if spec.Doc.Paths.Find(p) == nil {
			t.Errorf("the spec lacks %s", p)
		}
	}
	s, _ := server(t)
	c := apitest.NewClient(t, s, "")
	r := c.Get(t, "/openapi.json")
	if r.Status != 200 || !bytes.Equal(r.Body, b) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/openapi.json: %d %s, not the embedded document", r.Status, r.Header.Get("Content-Type"))
	}
}

// TestCheckCatchesDrift: each way a response can leave the spec is caught.
func TestCheckCatchesDrift(t *testing.T) {
	b, _ := api.OpenAPIJSON()
	spec, err := apitest.LoadSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		h.Set(k, v)
		return h
	}
	const hit = `{"id":"a","seller_id":"s","title":"T","price_cents":1,"status":"available","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z","like_count":0,"share_count":0}`
	errBody := `{"error":{"code":"x","message":"y","field":""}}`
	tests := []struct {
		name, target string
		status       int
		header       http.Header
		body         string
		ok           bool
	}{
		{"a good answer", "/v1/search?q=x", 200, jsonH, `{"total":1,"hits":[` + hit + `],"facets":{},"next_cursor":null}`, true},
		{"an undocumented field in a hit", "/v1/search?q=x", 200, jsonH, `{"total":1,"hits":[` + strings.Replace(hit, `"id":"a"`, `"id":"a","score":1.5`, 1) + `],"facets":{},"next_cursor":null}`, false},
		{"an undocumented top-level field", "/v1/search", 200, jsonH, `{"total":0,"hits":[],"facets":{},"next_cursor":null,"tracking_id":"q1"}`, false},
		{"an undocumented facet", "/v1/search", 200, jsonH, `{"total":0,"hits":[],"facets":{"seller":[]},"next_cursor":null}`, false},
		{"a missing key", "/v1/search", 200, jsonH, `{"total":0,"hits":[],"facets":{}}`, false},
		{"a wrong type", "/v1/search", 200, jsonH, `{"total":"0","hits":[],"facets":{},"next_cursor":null}`, false},
		{"an undocumented status", "/v1/search", 418, jsonH, errBody, false},
		{"an error in another shape", "/v1/listings/x", 404, jsonH, `{"error":"not found"}`, false},
		{"a 503 without Retry-After", "/readyz", 503, jsonH, errBody, false},
		{"a 503 with Retry-After", "/readyz", 503, with(jsonH, "Retry-After", "1"), errBody, true},
		{"a 401 without WWW-Authenticate", "/v1/search", 401, jsonH, errBody, false},
		{"a 401 with it", "/v1/search", 401, with(jsonH, "WWW-Authenticate", `Bearer realm="rummage"`), errBody, true},
		{"a request the spec rejects, answered 200", "/v1/search?limit=0", 200, jsonH, `{"total":0,"hits":[],"facets":{},"next_cursor":null}`, false},
		{"a request the spec rejects, answered 400", "/v1/search?limit=0", 400, jsonH, errBody, true},
		{"an undeclared parameter, answered 200", "/v1/search?q=x&facet_limitt=5", 200, jsonH, `{"total":0,"hits":[],"facets":{},"next_cursor":null}`, false},
		{"an undeclared parameter, answered 400", "/v1/search?q=x&facet_limitt=5", 400, jsonH, errBody, true},
		{"a path not in the spec, answered 200", "/v1/other", 200, jsonH, `{}`, false},
		{"a path not in the spec, answered 404", "/v1/other", 404, jsonH, errBody, true},
		{"text where JSON is documented", "/healthz", 200, http.Header{"Content-Type": {"text/plain"}}, "ok", false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.target, nil)
		err := spec.Check(req, tt.status, tt.header, []byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%s: Check = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestClientFailsOnDrift: a server that adds a field the spec does not
// describe fails the test that calls it through the client.
func TestClientFailsOnDrift(t *testing.T) {
	s, k := server(t)
	drifted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if r.URL.Path == "/healthz" {
			body = bytes.Replace(body, []byte(`"status":`), []byte(`"uptime_s":3,"status":`), 1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
	ft := &fakeT{TB: t}
	c := apitest.NewClient(ft, drifted, k.Search)
	c.Get(ft, "/healthz")
	if len(ft.errors) == 0 || !strings.Contains(ft.errors[0], "uptime_s") {
		t.Fatalf("an undocumented field passed: %q", ft.errors)
	}
	ft.errors = nil
	c.Get(ft, "/readyz") // 503 without a backend, as documented
	c.Get(ft, "/v1/listings/a")
	if len(ft.errors) != 0 {
		t.Errorf("an undrifted route failed: %q", ft.errors)
	}
}

// fakeT records the failures a client reports.
type fakeT struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (f *fakeT) Errorf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, a...))
}

func (f *fakeT) Helper() {}
