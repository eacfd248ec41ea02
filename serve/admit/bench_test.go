package admit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/serve/admit"
)

// BenchmarkShed is the server CPU of one shed request, the whole way
// through the API (routing, authorization, the 503 JSON body): admission
// full, every request refused before the backend.
func BenchmarkShed(b *testing.B) {
	a, err := admit.New(admit.Config{}, &scripted{limit: 0}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := server(b, &backend{}, a.Middleware)
	benchServe(b, s, authorized("/v1/search?q=dress&facets=brand"), http.StatusServiceUnavailable)
}

// BenchmarkShedDecision is the admission middleware's own part of a shed.
func BenchmarkShedDecision(b *testing.B) {
	a, err := admit.New(admit.Config{}, &scripted{limit: 0}, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	h := a.Middleware(func(echo.Context) error { b.Fatal("admitted"); return nil })
	req := httptest.NewRequest(http.MethodGet, "/v1/search?q=dress", nil)
	w := httptest.NewRecorder()
	c := e.NewContext(req, w)
	c.SetPath("/v1/search")
	b.ReportAllocs()
	for b.Loop() {
		if h(c) == nil {
			b.Fatal("not shed")
		}
	}
}

func benchStore(b *testing.B, s admit.Store) {
	r := admit.Rate{PerSecond: 1e9, Burst: 1 << 30}
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "a:203.0.113." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		if _, err := s.Allow(ctx, keys[i&1023], r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLocalAllow is one rate limit check in process (x/time/rate).
func BenchmarkLocalAllow(b *testing.B) { benchStore(b, admit.NewLocal(nil)) }

// BenchmarkRedisAllow is one rate limit check in the shared Redis
// (redis_rate: one EVALSHA round trip on loopback).
func BenchmarkRedisAllow(b *testing.B) {
	c, prefix := testRedis(b)
	benchStore(b, admit.NewRedis(c, prefix))
}

// benchServe measures s answering req, which must answer want, with the
// server CPU per request.
func benchServe(b *testing.B, s http.Handler, req *http.Request, want int) {
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatal(w.Code)
		}
	}
}

// reportCPU reports this process's CPU per operation (cpu-ns/op) when the
// returned func runs: for Redis the round trip's wait is not CPU, and the
// Redis server's own CPU is not counted.
func reportCPU(b *testing.B) func() {
	start := benchkit.ProcessCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((benchkit.ProcessCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}
