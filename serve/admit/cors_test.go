package admit_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/serve/admit"
)

// TestCORSPreflightIsNotRateLimited spends a key's and the address's
// burst, then checks that a browser's preflights are still answered (204,
// with the grant) while the actual request is the 429 a page can read.
func TestCORSPreflightIsNotRateLimited(t *testing.T) {
	const origin = "https://shop.example.com"
	c := newClock()
	rl, err := admit.NewRateLimit(admit.RateConfig{
		Kinds:   map[keys.Kind]admit.Rate{keys.Search: {PerSecond: 1, Burst: 1}},
		Address: admit.Rate{PerSecond: 1, Burst: 1},
	}, admit.NewLocal(c.now), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Config{Auth: api.Auth{Keys: apitest.Shared().Ring}, CORSOrigins: []string{origin}}, &backend{},
		slog.New(slog.NewTextHandler(io.Discard, nil)), api.WithMiddleware(rl.Middleware))
	if err != nil {
		t.Fatal(err)
	}
	client := apitest.NewClient(t, s, apitest.Shared().Search)
	if r := client.Get(t, "/v1/search?q=dress", apitest.WithHeader("Origin", origin)); r.Status != http.StatusOK {
		t.Fatalf("first search: %d %s", r.Status, r.Body)
	}
	for i := range 5 {
		req := httptest.NewRequest(http.MethodOptions, "/v1/search?q=dress", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != origin || w.Header().Get("Retry-After") != "" {
			t.Fatalf("preflight %d past the burst: %d %v", i+1, w.Code, w.Header())
		}
	}
	r := client.Get(t, "/v1/search?q=dress", apitest.WithHeader("Origin", origin))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("search past the burst: %d %v", r.Status, r.Header)
	}
}
