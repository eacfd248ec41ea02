package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/query"
)

func TestSearchResponseShape(t *testing.T) {
	tests := []struct {
		name   string
		target string
		result *query.Candidates
		want   string
	}{
		{"nil hits and facets become empty", "/v1/search", &query.Candidates{},
			`{"total":0,"hits":[],"facets":{},"next_cursor":null}`},
		{"asked facets are always present", "/v1/search?facets=brand,price", &query.Candidates{Facets: map[query.Facet][]query.FacetValue{
			query.FacetPrice: {{Key: "0-25", From: i64(0), To: i64(2500), Count: 3}}}},
			`{"total":0,"hits":[],"facets":{"brand":[],"price":[{"key":"0-25","from":0,"to":2500,"count":3}]},"next_cursor":null}`},
		{"next cursor passed through", "/v1/search?limit=1", &query.Candidates{Total: 2, Hits: hits(rummage.Listing{ID: "a", SellerID: "s", Title: "T", PriceCents: 100, Status: "available"}), More: true},
			`{"total":2,"hits":[{"id":"a","seller_id":"s","title":"T","price_cents":100,"status":"available","created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","like_count":0,"share_count":0}],"facets":{},"next_cursor":"<cursor>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{}, &stubBackend{result: tt.result})
			r := do(t, s, http.MethodGet, tt.target)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			// A next cursor is signed with the server's random key.
			got := regexp.MustCompile(`"next_cursor":"[^"]+"`).ReplaceAllString(strings.TrimSpace(string(apitest.StripQueryID(r.body))), `"next_cursor":"<cursor>"`)
			if got != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if r.header.Get(headerRequestID) == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

func TestSearchBackendInvalidIs400(t *testing.T) {
	b := &stubBackend{search: func(context.Context, *query.Retrieval) (*query.Candidates, error) {
		return nil, &query.InvalidError{Code: "invalid_value", Field: "category", Message: "no such category"}
	}}
	s, _ := newTestServer(t, Config{}, b)
	r := do(t, s, http.MethodGet, "/v1/search?category=Nope")
	if e := apiErr(t, r); r.status != 400 || e.Code != "invalid_value" || e.Field != "category" {
		t.Errorf("got %d %+v", r.status, e)
	}
}

func TestRoutesAndErrors(t *testing.T) {
	b := &stubBackend{docs: 3, listing: map[string]*rummage.Listing{
		"l1":    {ID: "l1", SellerID: "s1", Title: "Sold dress", Status: rummage.StatusSold},
		"a b%c": {ID: "a b%c", SellerID: "s1", Title: "Odd id", Status: rummage.StatusAvailable},
	}}
	s, _ := newTestServer(t, Config{}, b)
	tests := []struct {
		method, target string
		status         int
		code, field    string // for errors
		bodyHas        string // for successes
	}{
		{"GET", "/healthz", 200, "", "", `"ok"`},
		{"GET", "/readyz", 200, "", "", `"ready"`},
		{"GET", "/v1/listings/l1", 200, "", "", `"status":"sold"`},
		{"GET", "/v1/listings/a%20b%25c", 200, "", "", `"title":"Odd id"`},
		{"GET", "/v1/listings/nope", 404, "not_found", "id", ""},
		{"GET", "/v1/listings/" + strings.Repeat("x", 200), 404, "not_found", "id", ""},
		{"GET", "/v1/listings/", 404, "not_found", "", ""},
		{"GET", "/v1/nothing", 404, "not_found", "", ""},
		{"GET", "/", 404, "not_found", "", ""},
		{"GET", "/v1/search/", 404, "not_found", "", ""},
		{"POST", "/v1/search", 405, "method_not_allowed", "", ""},
		{"DELETE", "/v1/listings/l1", 405, "method_not_allowed", "", ""},
		{"PUT", "/healthz", 405, "method_not_allowed", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := do(t, s, tt.method, tt.target)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.code == "" {
				if !strings.Contains(string(r.body), tt.bodyHas) {
					t.Errorf("body %s lacks %s", r.body, tt.bodyHas)
				}
				return
			}
			e := apiErr(t, r)
			if e.Code != tt.code || e.Field != tt.field {
				t.Errorf("got code %q field %q, want %q %q", e.Code, e.Field, tt.code, tt.field)
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	s, _ := newTestServer(t, Config{}, nil)
	for _, target := range []string{"/readyz", "/v1/search?q=x", "/v1/listings/l1"} {
		r := do(t, s, "GET", target)
		if e := apiErr(t, r); r.status != 503 || e.Code != CodeNotReady {
			t.Errorf("%s before load: %d %+v, want 503 not_ready", target, r.status, e)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", target)
		}
	}
	// Bad input is still a 400 while loading: the client must fix it anyway.
	if r := do(t, s, "GET", "/v1/search?limit=0"); r.status != 400 {
		t.Errorf("bad input while loading: %d", r.status)
	}
	if r := do(t, s, "GET", "/healthz"); r.status != 200 {
		t.Errorf("/healthz while loading: %d", r.status)
	}
	if s.Ready() {
		t.Error("Ready() before SetBackend")
	}
	s.SetBackend(&stubBackend{})
	if r := do(t, s, "GET", "/readyz"); r.status != 200 {
		t.Errorf("/readyz after load: %d %s", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1/search?q=x"); r.status != 200 {
		t.Errorf("search after load: %d %s", r.status, r.body)
	}
}

func TestMetrics(t *testing.T) {
	s, _ := newTestServer(t, Config{}, nil)
	r := do(t, s, "GET", "/metrics")
	if r.status != 200 || !strings.Contains(string(r.body), "rummage_index_documents NaN") {
		t.Fatalf("before load: %d, want the documents gauge NaN:\n%s", r.status, grep(r.body, "rummage_index"))
	}
	s.SetBackend(&stubBackend{docs: 1234})
	do(t, s, "GET", "/v1/search?q=x")
	do(t, s, "GET", "/v1/search?limit=0")
	do(t, s, "GET", "/v1/listings/zz")
	do(t, s, "GET", "/no/such/path/42")
	r = do(t, s, "GET", "/metrics")
	body := string(r.body)
	for _, want := range []string{
		"rummage_index_documents 1234",
		`rummage_http_request_duration_seconds_count{route="/v1/search",status="200"} 1`,
		`rummage_http_request_duration_seconds_count{route="/v1/search",status="400"} 1`,
		`rummage_http_request_duration_seconds_count{route="/v1/listings/:id",status="404"} 1`,
		`rummage_http_request_duration_seconds_count{route="unmatched",status="404"} 1`,
		`rummage_http_request_duration_seconds_bucket{route="/v1/search",status="200",le="0.005"}`,
		"rummage_http_requests_in_flight 1", // the scrape itself
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grep(r.body, "rummage_"))
		}
	}
}

func grep(b []byte, substr string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestPanicIsRecovered(t *testing.T) {
	b := &stubBackend{search: func(context.Context, *query.Retrieval) (*query.Candidates, error) {
		var m map[string]int
		m["boom"]++ // a nil-map write: a real bug's panic
		return nil, nil
	}}
	b.get = func(context.Context, string) (*rummage.Listing, error) { panic("kaboom") }
	s, logs := newTestServer(t, Config{}, b)
	for _, target := range []string{"/v1/search?q=x", "/v1/listings/x"} {
		r := do(t, s, "GET", target)
		if e := apiErr(t, r); r.status != 500 || e.Code != CodeInternal {
			t.Errorf("%s: %d %+v, want 500 internal", target, r.status, e)
		}
		if strings.Contains(string(r.body), "nil map") || strings.Contains(string(r.body), "kaboom") {
			t.Errorf("%s: panic text leaked to the client: %s", target, r.body)
		}
	}
	l := logs.String()
	for _, want := range []string{"level=ERROR msg=\"panic in handler\"", "assignment to entry in nil map", "kaboom", "stack=", "level=WARN msg=request", "status=500"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	// The server still answers after a panic.
	if r := do(t, s, "GET", "/healthz"); r.status != 200 {
		t.Errorf("after panic: %d", r.status)
	}
}

func TestInternalErrorIsNotLeaked(t *testing.T) {
	b := &stubBackend{search: func(context.Context, *query.Retrieval) (*query.Candidates, error) {
		return nil, errors.New("disk on fire at /var/secret")
	}}
	s, logs := newTestServer(t, Config{}, b)
	r := do(t, s, "GET", "/v1/search")
	if e := apiErr(t, r); r.status != 500 || e.Code != CodeInternal || strings.Contains(e.Message, "secret") {
		t.Errorf("got %d %+v", r.status, e)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the cause is not logged:\n%s", logs)
	}
}

func TestRequestTimeout(t *testing.T) {
	b := &stubBackend{search: func(ctx context.Context, _ *query.Retrieval) (*query.Candidates, error) {
		<-ctx.Done() // a backend that honours the deadline, however long it is
		return nil, ctx.Err()
	}}
	s, _ := newTestServer(t, Config{RequestTimeout: time.Millisecond}, b)
	r := do(t, s, "GET", "/v1/search?q=slow")
	if e := apiErr(t, r); r.status != 503 || e.Code != CodeTimeout {
		t.Errorf("got %d %+v, want 503 timeout", r.status, e)
	}
}

func TestClientGoneIsNotAServerError(t *testing.T) {
	started := make(chan struct{})
	b := &stubBackend{search: func(ctx context.Context, _ *query.Retrieval) (*query.Candidates, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	s, logs := newTestServer(t, Config{}, b)
	do(t, s, "GET", "/healthz") // loads the spec here, not in the goroutine
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan response, 1)
	go func() { done <- do(t, s, "GET", "/v1/search?q=x", apitest.WithContext(ctx)) }()
	<-started
	cancel()
	if r := <-done; r.status != statusClientClosed {
		t.Errorf("status %d, want %d", r.status, statusClientClosed)
	}
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client going away is logged as a server problem:\n%s", logs)
	}
}

func TestRequestLog(t *testing.T) {
	s, logs := newTestServer(t, Config{}, &stubBackend{})
	r := do(t, s, "GET", "/v1/search?q=x", apitest.WithHeader(headerRequestID, "abc-123"))
	if got := r.header.Get(headerRequestID); got != "abc-123" {
		t.Errorf("request id %q not echoed", got)
	}
	l := logs.String()
	for _, want := range []string{"level=DEBUG msg=request", "route=/v1/search", "status=200", "request_id=abc-123"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero is defaults", Config{}, true},
		{"defaults", DefaultConfig(), true},
		{"long request timeout raises the write timeout", Config{RequestTimeout: time.Minute}, true},
		{"negative", Config{RequestTimeout: -1}, false},
		{"negative header bytes", Config{MaxHeaderBytes: -1}, false},
		{"write below request", Config{RequestTimeout: 10 * time.Second, WriteTimeout: time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
		if _, err := New(tt.cfg, nil, nil); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v", tt.name, err)
		}
	}
}

// TestServeGracefulShutdown: an in-flight request finishes after the
// context is canceled, /readyz turns 503 while draining, and Serve returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	b := &stubBackend{search: func(ctx context.Context, _ *query.Retrieval) (*query.Candidates, error) {
		close(started)
		<-release
		return &query.Candidates{Total: 7}, nil
	}}
	s, _ := newTestServer(t, Config{}, b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	client := apitest.NewRemote(t, "http://"+ln.Addr().String(), apitest.Shared().Search)
	got := make(chan int, 1)
	go func() {
		var body searchResponse
		r := client.Get(t, "/v1/search?q=x")
		_ = json.Unmarshal(r.Body, &body)
		got <- body.Total
	}()
	<-started
	cancel()
	for !s.draining.Load() {
		time.Sleep(time.Millisecond)
	}
	if s.Ready() {
		t.Error("ready while draining")
	}
	if r := do(t, s, "GET", "/readyz"); r.status != 503 {
		t.Errorf("/readyz while draining: %d", r.status)
	}
	close(release)
	if total := <-got; total != 7 {
		t.Errorf("in-flight request got total %d, want 7", total)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
