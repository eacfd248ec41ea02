package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/api/apitest"
)

const shopOrigin = "https://shop.example.com"

func preflight(t *testing.T, h http.Handler, path, origin string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodOptions, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodGet)
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestCORS(t *testing.T) {
	// Every request that gets past CORS is refused, as a spent rate limit
	// or a shed would: a preflight must not get that far.
	var reached []string
	refuse := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !strings.HasPrefix(c.Path(), "/v1/") && c.Request().Method != http.MethodOptions {
				return next(c) // apitest reads /openapi.json
			}
			reached = append(reached, c.Request().Method)
			c.Response().Header().Set("Retry-After", "1")
			return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "slow down"}
		}
	}
	s, _ := newTestServer(t, Config{CORSOrigins: []string{shopOrigin, "https://*.rummage.example"}}, &stubBackend{}, WithMiddleware(refuse))

	for _, origin := range []string{shopOrigin, "https://admin.rummage.example"} {
		for _, path := range []string{"/v1/search?q=dress", "/v1/listings/l1", "/images/dress-red-thumb.png"} {
			w := preflight(t, s, path, origin)
			h := w.Header()
			if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin {
				t.Fatalf("preflight %s from %s: %d, Allow-Origin %q", path, origin, w.Code, h.Get("Access-Control-Allow-Origin"))
			}
			if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") || h.Get("Access-Control-Max-Age") != "600" {
				t.Errorf("preflight %s: %v", path, h)
			}
		}
	}
	if len(reached) != 0 {
		t.Errorf("preflights reached the admission middleware: %v", reached)
	}

	// The actual request goes through authorization and admission, and
	// its error still names the origin so that the page can read it.
	r := do(t, s, http.MethodGet, "/v1/search?q=dress", apitest.WithHeader("Origin", shopOrigin))
	if r.status != http.StatusTooManyRequests || r.header.Get("Access-Control-Allow-Origin") != shopOrigin ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("GET from %s: %d %v", shopOrigin, r.status, r.header)
	}
	r = do(t, s, http.MethodGet, "/v1/search?q=dress", apitest.Anonymous(), apitest.WithHeader("Origin", shopOrigin))
	if r.status != http.StatusUnauthorized || r.header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Errorf("GET without a key from %s: %d %v", shopOrigin, r.status, r.header)
	}

	// Another origin gets no grant, preflight or not.
	if w := preflight(t, s, "/v1/search", "https://evil.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin granted: %v", w.Header())
	}
	if r := do(t, s, http.MethodGet, "/v1/search?q=dress", apitest.WithHeader("Origin", "https://evil.example")); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin granted: %v", r.header)
	}
}

func TestNoCORSByDefault(t *testing.T) {
	s, _ := newTestServer(t, Config{}, &stubBackend{})
	w := preflight(t, s, "/v1/search", shopOrigin)
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight without CORS origins granted %q", got)
	}
	r := do(t, s, http.MethodGet, "/v1/search?q=dress", apitest.WithHeader("Origin", shopOrigin))
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET: %d %v", r.status, r.header)
	}
}

func TestCORSOriginValidation(t *testing.T) {
	for o, ok := range map[string]bool{
		"*": true, shopOrigin: true, "http://localhost:5173": true, "https://*.example.com": true,
		"": false, "shop.example.com": false, "https://shop.example.com/": false, "https://shop.example.com/app": false,
		"ftp://shop.example.com": false, "https://shop.*.com": false, "https://u:p@shop.example.com": false, "https://": false,
	} {
		err := Config{CORSOrigins: []string{o}}.Validate()
		if (err == nil) != ok {
			t.Errorf("origin %q: %v", o, err)
		}
	}
}
