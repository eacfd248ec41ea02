package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
)

// TestHeadOnEveryGetRoute: HEAD answers every GET route with the GET's
// status and no body (uptime checkers and load balancers use HEAD).
func TestHeadOnEveryGetRoute(t *testing.T) {
	s, _ := newTestServer(t, Config{}, &stubBackend{}, WithRoute(http.MethodGet, "/v1/extra", AccessOpen, func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"hello": "world"})
	}))
	srv := httptest.NewServer(s)
	defer srv.Close()
	send := func(method, target string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+target, nil)
		req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	targets := []string{"/healthz", "/readyz", "/metrics", "/v1/search?q=x", "/v1/listings/nope", "/v1/extra", "/v1/search?limit=0"}
	for route := range s.routes {
		if _, ok := accessOf(http.MethodGet, route); !ok {
			continue // POST only (/v1/events)
		}
		targets = append(targets, strings.Replace(route, ":id", "x", 1))
	}
	for _, target := range targets {
		get := send(http.MethodGet, target)
		head := send(http.MethodHead, target)
		head.Body.Close()
		if head.StatusCode != get.StatusCode || head.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s = %d, GET = %d", target, head.StatusCode, get.StatusCode)
		}
		if head.ContentLength > 0 && head.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: no Content-Type", target)
		}
	}
}

// TestOptions: a mounted route and a middleware plug in without editing the
// server; the middleware's error is answered in the JSON shape; the
// caller's registry gets the server's metrics and /metrics serves it whole.
func TestOptions(t *testing.T) {
	reg := prometheus.NewRegistry()
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "rummage_cdc_events_total", Help: "another role's metric"})
	reg.MustRegister(other)
	other.Add(3)
	deny := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("X-Deny") != "" {
				return &Error{Status: http.StatusTooManyRequests, Code: "denied", Message: "denied by a middleware"}
			}
			return next(c)
		}
	}
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"phase":"idle"}`) })
	s, _ := newTestServer(t, Config{}, &stubBackend{}, WithRegistry(reg), WithMiddleware(deny),
		WithHandler(http.MethodGet, "/admin/reindex", AccessAdmin, admin))

	// The mounted route is not in the OpenAPI document: raw requests.
	raw := func(key string, header ...string) *httptest.ResponseRecorder {
		if key != "" {
			header = append([]string{"Authorization", "Bearer " + key}, header...)
		}
		return testkit.Serve(s, "GET", "/admin/reindex", nil, header...)
	}
	if rec := raw(""); rec.Code != 401 {
		t.Errorf("without a key: %d %s", rec.Code, rec.Body)
	}
	if rec := raw(apitest.Shared().Search); rec.Code != 403 {
		t.Errorf("with a search key: %d %s", rec.Code, rec.Body)
	}
	if rec := raw(apitest.Shared().Admin, "X-Deny", "1"); rec.Code != 429 || !strings.Contains(rec.Body.String(), `"code":"denied"`) {
		t.Errorf("denied by the middleware: %d %s", rec.Code, rec.Body)
	}
	if rec := raw(apitest.Shared().Admin); rec.Code != 200 || !strings.Contains(rec.Body.String(), "idle") {
		t.Errorf("with an admin key: %d %s", rec.Code, rec.Body)
	}
	m := string(do(t, s, "GET", "/metrics").body)
	for _, want := range []string{"rummage_cdc_events_total 3", `rummage_http_request_duration_seconds_count{route="/admin/reindex",status="200"} 1`, "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A second server on the same registry is refused, not a panic.
	if _, err := New(Config{}, nil, nil, WithRegistry(reg)); err == nil {
		t.Error("two servers registered on one registry")
	}
}

func TestReadyzLag(t *testing.T) {
	state, stateErr := ReadyState{CatchingUp: true, Lag: &Lag{Events: 420}}, error(nil)
	s, logs := newTestServer(t, Config{}, &stubBackend{}, WithReadiness(func(context.Context) (ReadyState, error) { return state, stateErr }))

	r := do(t, s, "GET", "/readyz")
	var body struct {
		Status string `json:"status"`
		Lag    *Lag   `json:"lag"`
		Error  *Error `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if r.status != 503 || body.Status != "catching_up" || body.Lag == nil || body.Lag.Events != 420 ||
		body.Error == nil || body.Error.Code != CodeCatchingUp || !strings.Contains(body.Error.Message, "420 events behind") {
		t.Errorf("catching up: %d %s", r.status, r.body)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("catching up: no Retry-After")
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("catching up is logged as a problem:\n%s", logs)
	}
	// The index answers meanwhile.
	if r := do(t, s, "GET", "/v1/search?q=x"); r.status != 200 {
		t.Errorf("search while catching up: %d", r.status)
	}

	state = ReadyState{Lag: &Lag{Events: 3}}
	if r := do(t, s, "GET", "/readyz"); r.status != 200 || string(r.body) != `{"status":"ready","lag":{"events":3}}`+"\n" {
		t.Errorf("caught up: %d %s", r.status, r.body)
	}
	stateErr = errors.New("kafka: connection refused")
	if r := do(t, s, "GET", "/readyz"); r.status != 503 || apiErr(t, r).Code != CodeNotReady {
		t.Errorf("lag unknown: %d %s", r.status, r.body)
	}
	s.draining.Store(true)
	if r := do(t, s, "GET", "/readyz"); r.status != 503 || apiErr(t, r).Code != CodeShuttingDown {
		t.Errorf("draining: %d %s", r.status, r.body)
	}
}

// TestClientGoneIsNotAnError: a client that goes away is logged at debug
// and counted, whatever error the backend or the write returns.
func TestClientGoneIsNotAnError(t *testing.T) {
	t.Run("backend error after the client left", func(t *testing.T) {
		started := make(chan struct{})
		b := &stubBackend{search: func(ctx context.Context, _ *query.Retrieval) (*query.Candidates, error) {
			close(started)
			<-ctx.Done()
			return nil, errors.New("bleve: search interrupted") // not wrapping ctx.Err()
		}}
		s, logs := newTestServer(t, Config{}, b)
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", "/v1/search?q=x", nil).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
		done := make(chan struct{})
		go func() { s.ServeHTTP(httptest.NewRecorder(), req); close(done) }()
		<-started
		cancel()
		<-done
		assertGone(t, s, logs)
	})
	t.Run("writing the answer fails", func(t *testing.T) {
		s, logs := newTestServer(t, Config{}, &stubBackend{})
		w := &brokenPipe{ResponseRecorder: httptest.NewRecorder()}
		req := httptest.NewRequest("GET", "/v1/search?q=x", nil)
		req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
		s.ServeHTTP(w, req)
		assertGone(t, s, logs)
	})
}

func assertGone(t *testing.T, s *Server, logs *testkit.SyncBuffer) {
	t.Helper()
	if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") || !strings.Contains(l, "status=499") {
		t.Errorf("a client going away: want one debug line with status 499, got\n%s", l)
	}
	if n := testutil.ToFloat64(s.metrics.disconnects); n != 1 {
		t.Errorf("disconnects = %v, want 1", n)
	}
}

// brokenPipe fails every write as a connection the client closed does.
type brokenPipe struct{ *httptest.ResponseRecorder }

func (b *brokenPipe) Write([]byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
}

// TestErrorsBeforeTheHandler pins what docs/api.md says: what Go's HTTP
// server rejects before any handler runs (a path with a bad escape,
// headers over MaxHeaderBytes) is answered by net/http in plain text.
func TestErrorsBeforeTheHandler(t *testing.T) {
	s, _ := newTestServer(t, Config{MaxHeaderBytes: 1 << 10}, &stubBackend{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, ln)
	raw := func(req string) (int, string) {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, req)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Content-Type")
	}
	if code, ct := raw("GET /v1/listings/%zz HTTP/1.1\r\nHost: x\r\n\r\n"); code != 400 || !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("bad escape: %d %s", code, ct)
	}
	if code, _ := raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n"); code != 431 {
		t.Errorf("oversized headers: %d", code)
	}
	// What reaches the service is JSON: a bad escape in the query string.
	if code, ct := raw("GET /v1/search?q=%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + apitest.Shared().Search + "\r\n\r\n"); code != 400 || !strings.HasPrefix(ct, "application/json") {
		t.Errorf("bad query escape: %d %s", code, ct)
	}
}
