package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rummage/rummage/keys"
)

// corsMaxAge is how long a browser may keep a preflight's answer, in
// seconds: a shopper's page asks once per ten minutes, not per search.
const corsMaxAge = 600

// cors is the CORS middleware for the configured origins (Echo's). It sits
// outside authorization and every admission middleware: a preflight
// carries no key, so it is answered (204) before a key is asked for and
// before a rate limit counts it; the actual request then goes through
// them as any other, its answer, errors included, carrying
// Access-Control-Allow-Origin for an allowed origin.
func cors(origins []string) echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins: origins,
		AllowMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete},
		AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType, "If-None-Match", keys.UserTokenHeader},
		ExposeHeaders: []string{
			"ETag", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
			HeaderDegraded, headerRequestID,
		},
		MaxAge: corsMaxAge,
	})
}

// validateOrigin reports an origin CORS cannot match: each is "*" (any
// origin) or scheme://host[:port] with no path, as browsers send it; the
// host may begin with "*." for its subdomains.
func validateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "/") {
		return fmt.Errorf("api: CORS origin %q must be * or scheme://host[:port], like https://shop.example.com", o)
	}
	if h := u.Hostname(); strings.Contains(strings.TrimPrefix(h, "*."), "*") {
		return fmt.Errorf("api: CORS origin %q: only a leading *. may stand for subdomains", o)
	}
	return nil
}
