package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// The /docs page: the OpenAPI document (/openapi.json) rendered in the
// browser by a vendored, pinned RapiDoc (docsui/README.md), served from the
// binary; the page loads nothing from another host.
var (
	//go:embed docsui/index.html
	docsHTML []byte
	//go:embed docsui/third_party/rapidoc-min.js
	docsJS []byte
)

// docsAsset is an embedded file of the docs page with its validators and,
// for the viewer script, its gzip encoding made once.
type docsAsset struct {
	data, gz    []byte
	etag, gzTag string
	ctype       string
	cache       string
}

func newDocsAsset(data []byte, ctype, cache string, compress bool) *docsAsset {
	a := &docsAsset{data: data, ctype: ctype, cache: cache, etag: strongTag(data)}
	if compress {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(data)
		zw.Close()
		a.gz = buf.Bytes()
		a.gzTag = strongTag(a.gz)
	}
	return a
}

func strongTag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

var (
	docsPage = sync.OnceValue(func() *docsAsset {
		return newDocsAsset(docsHTML, echo.MIMETextHTMLCharsetUTF8, "public, max-age=300", false)
	})
	docsViewer = sync.OnceValue(func() *docsAsset {
		return newDocsAsset(docsJS, "text/javascript; charset=utf-8", "public, max-age=86400", true)
	})
)

func (a *docsAsset) serve(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, a.ctype)
	h.Set("Cache-Control", a.cache)
	data, tag := a.data, a.etag
	if a.gz != nil {
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
			data, tag = a.gz, a.gzTag
			h.Set(echo.HeaderContentEncoding, "gzip")
		}
	}
	h.Set("ETag", tag)
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(data))
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip (and
// does not refuse it with q=0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func (s *Server) docs(c echo.Context) error       { return docsPage().serve(c) }
func (s *Server) docsViewer(c echo.Context) error { return docsViewer().serve(c) }
