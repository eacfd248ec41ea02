package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWithApp: the app answers / and the paths no route matches, the API's
// routes and its JSON 404 under /v1/ are untouched.
func TestWithApp(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("app:" + r.URL.Path))
	})
	s, _ := newTestServer(t, Config{}, &stubBackend{}, WithApp(app))
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	for _, p := range []string{"/", "/listing/l1", "/parties/p1", "/admin", "/admin/x"} {
		if w := get(p); w.Code != http.StatusOK || w.Body.String() != "app:"+p {
			t.Errorf("GET %s: %d %q, want the app", p, w.Code, w.Body)
		}
	}
	for _, p := range []string{"/v1/nope", "/v1", "/v1/listings/"} {
		w := get(p)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"not_found"`) {
			t.Errorf("GET %s: %d %s, want the API's 404", p, w.Code, w.Body)
		}
	}
	if w := get("/healthz"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"ok"`) {
		t.Errorf("/healthz: %d %s", w.Code, w.Body)
	}
	if r := do(t, s, http.MethodGet, "/v1/search?q=x"); r.status != http.StatusOK {
		t.Errorf("/v1/search: %d %s", r.status, r.body)
	}
}
