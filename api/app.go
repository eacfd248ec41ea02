package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// WithApp serves h, the browser app (package web), at / and every path no
// other route matches (its client-side routes), open to all: the pages are
// static, and what they show comes from the v1 routes under those routes'
// own keys. Paths under /v1/ stay the API's: an unknown one is the API's
// JSON 404, never the app's page.
func WithApp(h http.Handler) Option {
	wrapped := echo.WrapHandler(h)
	serve := func(c echo.Context) error {
		if p := c.Request().URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
			return echo.ErrNotFound
		}
		return wrapped(c)
	}
	return func(o *options) {
		o.routes = append(o.routes, mounted{http.MethodGet, "/", AccessOpen, serve}, mounted{http.MethodGet, "/*", AccessOpen, serve})
	}
}
