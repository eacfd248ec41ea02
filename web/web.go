package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// The two pages are their sources, one file each: the build names the
// bundles they load in dist/pages.json, and Handler fills them in.
//
//go:embed app/src/index.html app/src/admin.html
var pages embed.FS

// Cache lifetimes: the hashed bundles never change under their name; the
// pages that name them must be revalidated so a new build shows at once.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePage      = "no-cache"
)

// Handler serves the embedded bundle: /assets/<name>-<hash>.<ext> as they
// are (immutable, gzipped for clients that take it), /admin and below the
// dashboard page, and every other path the shopper app's page (its router
// reads the path), both no-cache with an ETag. It answers GET and HEAD; a
// missing asset is a 404. Callers keep the API's paths away from it (a
// router matching them first).
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	var bundles map[string]struct{ CSS, JS string }
	if err := json.Unmarshal(mustRead(sub, "pages.json"), &bundles); err != nil {
		panic("web: dist/pages.json: " + err.Error())
	}
	page := func(name string) file {
		b, ok := bundles[name]
		if !ok {
			panic("web: dist/pages.json names no bundle of " + name + ": " + rebuild)
		}
		src := string(mustRead(pages, "app/src/"+name+".html"))
		html := strings.NewReplacer("{{css}}", b.CSS, "{{js}}", b.JS).Replace(src)
		return newFile(name+".html", []byte(html))
	}
	h := &handler{assets: map[string]file{}}
	h.index, h.admin = page("index"), page("admin")
	entries, _ := fs.ReadDir(sub, "assets")
	for _, e := range entries {
		if !e.IsDir() {
			h.assets[e.Name()] = newFile("assets/"+e.Name(), mustRead(sub, "assets/"+e.Name()))
		}
	}
	return h
}

const rebuild = "run npm ci && npm run build in web/app"

type handler struct {
	assets       map[string]file
	index, admin file
}

// file is one embedded file, gzipped once when the handler is made (never
// per request).
type file struct {
	name, ctype, etag string
	body, gz          []byte
}

func mustRead(f fs.FS, name string) []byte {
	b, err := fs.ReadFile(f, name)
	if err != nil {
		panic("web: the embedded bundle lacks " + name + ": " + rebuild)
	}
	return b
}

func newFile(name string, b []byte) file {
	sum := sha256.Sum256(b)
	out := file{name: name, body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(name))}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	if buf.Len() < len(b) {
		out.gz = buf.Bytes()
	}
	return out
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	if name, ok := strings.CutPrefix(p, "/assets/"); ok {
		f, ok := h.assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		hd.Set("Cache-Control", cacheImmutable)
		serve(w, r, f)
		return
	}
	f := h.index
	if p == "/admin" || strings.HasPrefix(p, "/admin/") {
		f = h.admin
	}
	hd.Set("Cache-Control", cachePage)
	hd.Set("Referrer-Policy", "same-origin")
	serve(w, r, f)
}

func serve(w http.ResponseWriter, r *http.Request, f file) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	body := f.body
	etag := f.etag
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			body, etag = f.gz, strings.TrimSuffix(etag, `"`)+`-gz"`
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
