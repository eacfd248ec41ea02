package api

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/fixtures/images"
)

// imageCacheControl is the lifetime of a picture: a name's content never
// changes, so caches keep it a year and never revalidate.
const imageCacheControl = "public, max-age=31536000, immutable"

// image serves a picture of the demo catalog (GET /images/:name) from the
// files embedded in the binary, with a strong ETag for conditional and
// range requests (http.ServeContent); an unknown name is a 404 in the
// API's JSON error shape.
func (s *Server) image(c echo.Context) error {
	name := c.Param("name")
	f, ok := images.Lookup(name)
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "name", Message: fmt.Sprintf("image %q not found", name)}
	}
	h := c.Response().Header()
	h.Set("Cache-Control", imageCacheControl)
	h.Set("ETag", f.ETag)
	h.Set(echo.HeaderContentType, images.ContentType)
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(f.Data))
	return nil
}
