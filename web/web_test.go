package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPagesAndAssets(t *testing.T) {
	h := Handler()
	index := get(t, h, "/")
	if index.Code != http.StatusOK || index.Header().Get("Cache-Control") != "no-cache" || !strings.HasPrefix(index.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %v", index.Code, index.Header())
	}
	for _, p := range []string{"/listing/l1", "/parties/p1", "/drops", "/x/y/z"} {
		if w := get(t, h, p); w.Body.String() != index.Body.String() {
			t.Errorf("GET %s is not the app's page", p)
		}
	}
	admin := get(t, h, "/admin")
	if !strings.Contains(admin.Body.String(), "operator dashboard") || admin.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("GET /admin: %d %.200s", admin.Code, admin.Body)
	}
	if w := get(t, h, "/", "If-None-Match", index.Header().Get("ETag")); w.Code != http.StatusNotModified {
		t.Errorf("revalidating / with its ETag: %d, want 304", w.Code)
	}

	// Every script and style the pages name is served, immutable, gzipped
	// for a client that takes it.
	refs := regexp.MustCompile(`/assets/[^"]+`).FindAllString(index.Body.String()+admin.Body.String(), -1)
	if len(refs) != 4 {
		t.Fatalf("the pages name %v, want a script and a style each", refs)
	}
	for _, ref := range refs {
		plain := get(t, h, ref)
		if plain.Code != http.StatusOK || plain.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || plain.Header().Get("Content-Encoding") != "" {
			t.Errorf("GET %s: %d %v", ref, plain.Code, plain.Header())
		}
		gz := get(t, h, ref, "Accept-Encoding", "br, gzip")
		if gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s with gzip: %v", ref, gz.Header())
			continue
		}
		zr, err := gzip.NewReader(gz.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(zr)
		if !bytes.Equal(body, plain.Body.Bytes()) {
			t.Errorf("%s: the gzipped body differs", ref)
		}
		if ct := plain.Header().Get("Content-Type"); !strings.Contains(ct, map[bool]string{true: "javascript", false: "css"}[strings.HasSuffix(ref, ".js")]) {
			t.Errorf("%s: Content-Type %q", ref, ct)
		}
	}
	if w := get(t, h, "/assets/nope-1234.js"); w.Code != http.StatusNotFound {
		t.Errorf("unknown asset: %d", w.Code)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", w.Code)
	}
}
