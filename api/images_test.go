package api

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/fixtures/images"
)

func TestImageRoute(t *testing.T) {
	s, _ := newTestServer(t, Config{}, nil)
	v := images.Variants[1]
	name := images.FileName("dress", "red", v)
	r := do(t, s, http.MethodGet, images.PathPrefix+name, apitest.Anonymous())
	if r.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", name, r.status, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := r.header.Get("Content-Type"); got != "image/png" {
		t.Errorf("Content-Type = %q", got)
	}
	f, _ := images.Lookup(name)
	etag := r.header.Get("ETag")
	if etag == "" || etag != f.ETag || !bytes.Equal(r.body, f.Data) {
		t.Errorf("ETag %q (want %q), body %d bytes (want %d)", etag, f.ETag, len(r.body), len(f.Data))
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != v.Size || b.Dy() != v.Size {
		t.Errorf("%s is %v, want %d px square", name, b, v.Size)
	}

	// A conditional request for the same picture is a 304 with no body.
	r = do(t, s, http.MethodGet, images.PathPrefix+name, apitest.Anonymous(), apitest.WithHeader("If-None-Match", etag))
	if r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("Cache-Control") == "" {
		t.Errorf("If-None-Match: %d, %d bytes, Cache-Control %q", r.status, len(r.body), r.header.Get("Cache-Control"))
	}
	// HEAD answers the headers alone.
	// (The spec lists GETs only: HEAD goes around apitest.)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodHead, images.PathPrefix+name, nil))
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes, ETag %q", w.Code, w.Body.Len(), w.Header().Get("ETag"))
	}

	for _, bad := range []string{"nope.png", "dress-red-huge.png", "dress-red-thumb.jpg", "README.md", "..%2Fimages.go", "%2E%2E"} {
		r := do(t, s, http.MethodGet, images.PathPrefix+bad, apitest.Anonymous())
		if r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", bad, r.status)
			continue
		}
		if e := apiErr(t, r); e.Code != CodeNotFound {
			t.Errorf("GET %s: code %q", bad, e.Code)
		}
		if r.header.Get("Cache-Control") == imageCacheControl {
			t.Errorf("GET %s: a 404 is cached as immutable", bad)
		}
	}
}
