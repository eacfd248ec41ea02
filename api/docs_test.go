package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rummage/rummage/api/apitest"
)

func TestDocsPage(t *testing.T) {
	s, _ := newTestServer(t, Config{}, nil)
	r := do(t, s, http.MethodGet, "/docs", apitest.Anonymous())
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %q", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	// Everything the page loads is on this host: the viewer and the spec,
	// by relative URL, and the viewer's web fonts are off.
	for _, want := range []string{`src="docs/rapidoc-min.js"`, `spec-url="openapi.json"`, `load-fonts="false"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`(?:src|href|spec-url)="(https?:)?//`).FindString(page); m != "" {
		t.Errorf("/docs loads from another host: %s", m)
	}
	for _, ref := range []string{"/docs/rapidoc-min.js", "/openapi.json"} {
		if r := do(t, s, http.MethodGet, ref, apitest.Anonymous()); r.status != http.StatusOK {
			t.Errorf("GET %s = %d", ref, r.status)
		}
	}
	etag := r.header.Get("ETag")
	if r := do(t, s, http.MethodGet, "/docs", apitest.Anonymous(), apitest.WithHeader("If-None-Match", etag)); etag == "" || r.status != http.StatusNotModified {
		t.Errorf("If-None-Match %q: %d", etag, r.status)
	}
}

func TestDocsViewerIsThePinnedFile(t *testing.T) {
	readme, err := os.ReadFile("docsui/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`sha256 ([0-9a-f]{64})  rapidoc-min.js`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("docsui/README.md states no sha256 of rapidoc-min.js")
	}
	s, _ := newTestServer(t, Config{}, nil)

	plain := do(t, s, http.MethodGet, "/docs/rapidoc-min.js", apitest.Anonymous(), apitest.WithHeader("Accept-Encoding", "identity"))
	sum := sha256.Sum256(plain.body)
	if got := hex.EncodeToString(sum[:]); got != string(m[1]) {
		t.Errorf("served rapidoc-min.js has sha256 %s, README pins %s", got, m[1])
	}
	if plain.header.Get("Content-Encoding") != "" || !strings.HasPrefix(plain.header.Get("Content-Type"), "text/javascript") {
		t.Errorf("identity: Content-Encoding %q, Content-Type %q", plain.header.Get("Content-Encoding"), plain.header.Get("Content-Type"))
	}

	gz := do(t, s, http.MethodGet, "/docs/rapidoc-min.js", apitest.Anonymous(), apitest.WithHeader("Accept-Encoding", "br, gzip"))
	if gz.header.Get("Content-Encoding") != "gzip" || len(gz.body) >= len(plain.body)/2 {
		t.Fatalf("gzip: Content-Encoding %q, %d bytes of %d", gz.header.Get("Content-Encoding"), len(gz.body), len(plain.body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unz, plain.body) {
		t.Errorf("the gzip encoding does not decode to the script (%v)", err)
	}
	if gz.header.Get("ETag") == plain.header.Get("ETag") || !strings.Contains(gz.header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("ETags %q / %q, Vary %q: the encodings must be told apart", gz.header.Get("ETag"), plain.header.Get("ETag"), gz.header.Get("Vary"))
	}
}

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "br, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0": false,
		"deflate, br": false, "identity": false, "x-gzip": false,
	} {
		if got := acceptsGzip(ae); got != want {
			t.Errorf("acceptsGzip(%q) = %v", ae, got)
		}
	}
}
