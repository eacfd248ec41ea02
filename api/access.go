package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/keys"
)

// Access is who may call a route.
type Access uint8

const (
	// AccessOpen routes need no key: health, readiness, metrics, the spec.
	AccessOpen Access = iota + 1
	// AccessRead routes take a search, public or admin key, or none while
	// Auth.AnonymousReads holds.
	AccessRead
	// AccessEvents routes take an events, public or admin key.
	AccessEvents
	// AccessAdmin routes take an admin key.
	AccessAdmin
)

// String is the name the OpenAPI document uses (x-rummage-access).
func (a Access) String() string {
	switch a {
	case AccessOpen:
		return "open"
	case AccessRead:
		return "read"
	case AccessEvents:
		return "events"
	case AccessAdmin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", a)
}

// Kinds returns the key kinds a route of this access takes.
func (a Access) Kinds() []keys.Kind {
	switch a {
	case AccessRead:
		return []keys.Kind{keys.Search, keys.Public, keys.Admin}
	case AccessEvents:
		return []keys.Kind{keys.Events, keys.Public, keys.Admin}
	case AccessAdmin:
		return []keys.Kind{keys.Admin}
	}
	return nil
}

type route struct{ method, path string }

// routeAccess is the one place that says who may call each route, by
// method and Echo route pattern. New refuses to build a server with a route
// missing here, and the OpenAPI document states the same per operation
// (x-rummage-access; TestSpecAccessMatchesTable checks they agree). Every
// later surface adds its line: GET /v1/... reads are AccessRead, POST
// /v1/events is AccessEvents, /v1/analytics/... and key management are
// AccessAdmin.
var routeAccess = map[route]Access{
	{http.MethodGet, "/v1/search"}:            AccessRead,
	{http.MethodGet, "/v1/listings/:id"}:      AccessRead,
	{http.MethodGet, "/v1/parties"}:           AccessRead,
	{http.MethodGet, "/v1/parties/:id"}:       AccessRead,
	{http.MethodGet, "/v1/parties/:id/feed"}:  AccessRead,
	{http.MethodGet, "/v1/feed/following"}:    AccessRead,
	{http.MethodGet, "/v1/feed"}:              AccessRead,
	{http.MethodGet, "/v1/drops"}:             AccessRead,
	{http.MethodGet, "/v1/schedule"}:          AccessRead,
	{http.MethodGet, "/healthz"}:              AccessOpen,
	{http.MethodGet, "/readyz"}:               AccessOpen,
	{http.MethodGet, "/metrics"}:              AccessOpen,
	{http.MethodGet, "/openapi.json"}:         AccessOpen,
	{http.MethodPost, "/v1/events"}:           AccessEvents,
	{http.MethodPost, "/v1/users/:id/forget"}: AccessAdmin,
	// Mounted by cmd/rummage with WithRoute where analytics run
	// (events/rollup.Handlers).
	{http.MethodGet, "/v1/analytics/searches"}:          AccessAdmin,
	{http.MethodGet, "/v1/analytics/parties/:id"}:       AccessAdmin,
	{http.MethodGet, "/v1/analytics/drops"}:             AccessAdmin,
	{http.MethodGet, "/v1/analytics/experiments/:name"}: AccessAdmin,
	// The browser app (WithApp; it mounts its client-side routes, /*, as
	// open too).
	{http.MethodGet, "/"}:                    AccessOpen,
	{http.MethodGet, "/images/:name"}:        AccessOpen,
	{http.MethodGet, "/docs"}:                AccessOpen,
	{http.MethodGet, "/docs/rapidoc-min.js"}: AccessOpen,
	// The admin listener (cmd/rummage, loopback), wrapped with Protect:
	// the reindex endpoint of indexer/reindex.
	{http.MethodGet, "/admin/reindex"}:  AccessAdmin,
	{http.MethodPost, "/admin/reindex"}: AccessAdmin,
}

// accessOf returns the access of a route in routeAccess; HEAD is GET's.
func accessOf(method, path string) (Access, bool) { return accessIn(routeAccess, method, path) }

func accessIn(table map[route]Access, method, path string) (Access, bool) {
	a, ok := table[route{method, path}]
	if !ok && method == http.MethodHead {
		a, ok = table[route{http.MethodGet, path}]
	}
	return a, ok
}

// checkRouteAccess reports the registered routes that table lacks.
func checkRouteAccess(table map[route]Access, routes []*echo.Route) error {
	var missing []string
	for _, r := range routes {
		if r.Method == echo.RouteNotFound {
			continue
		}
		if _, ok := accessIn(table, r.Method, r.Path); !ok {
			missing = append(missing, r.Method+" "+r.Path)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("api: routes without an access rule in routeAccess (api/access.go): %s", strings.Join(missing, ", "))
	}
	return nil
}

// Keyring is what the API needs from the keys; *keys.Ring satisfies it.
type Keyring interface {
	// Lookup returns the key of a secret, keys.ErrUnknownKey or
	// keys.ErrRevokedKey. It is on every request's path: it must be cheap.
	Lookup(secret string) (keys.Key, error)
	// VerifyUserToken returns the verified token, keys.ErrTokenExpired
	// or keys.ErrTokenInvalid.
	VerifyUserToken(token string, now time.Time) (keys.UserToken, error)
}

// Auth is who may call the API (DESIGN.md, "Keys and limits"). The zero
// value admits no key, and no read without one: every route that is not
// AccessOpen answers 401.
type Auth struct {
	// Keys authenticates "Authorization: Bearer <key>"; nil knows no key.
	Keys Keyring
	// AnonymousReads lets AccessRead routes answer without a key. DESIGN.md
	// allows it only while the API listens on loopback addresses alone, or
	// when the operator says so (--public-reads): see AnonymousReads.
	AnonymousReads bool
}

// Caller is who made a request, once authorized.
type Caller struct {
	// Key is the key the request carried; nil for an anonymous read.
	Key *keys.Key
	// User is the user= the request may act for ("" when it named none):
	// said by a server key, or proven by a user token.
	User string
}

type callerKey struct{}

// CallerFrom returns the caller of a request that went through the
// authorization of its route.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Error codes of authorization.
const (
	CodeMissingKey           = "missing_key"           // 401
	CodeInvalidAuthorization = "invalid_authorization" // 401: not "Bearer <key>"
	CodeInvalidKey           = "invalid_key"           // 401: unknown key
	CodeRevokedKey           = "revoked_key"           // 401
	CodeWrongKeyKind         = "wrong_key_kind"        // 403
	CodeUserNotTrusted       = "user_not_trusted"      // 403: user= without a key
	CodeUserTokenRequired    = "user_token_required"   // 403: user= with a public key, no token
	CodeInvalidUserToken     = "invalid_user_token"    // 403
	CodeUserTokenExpired     = "user_token_expired"    // 401: fetch a new token
)

// bearerRealm is the WWW-Authenticate header of a 401 (RFC 6750).
const bearerRealm = `Bearer realm="rummage"`

func unauthorized(code, format string, a ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: code, Message: fmt.Sprintf(format, a...)}
}

func forbidden(code, field, format string, a ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: code, Field: field, Message: fmt.Sprintf(format, a...)}
}

// authorize decides a request to a route of access a; users are its user=
// values.
func (a Auth) authorize(r *http.Request, access Access, users []string) (Caller, *Error) {
	if access == AccessOpen {
		return Caller{}, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if access == AccessRead && a.AnonymousReads {
			if hasUser(users) {
				return Caller{}, forbidden(CodeUserNotTrusted, paramUser, "user= needs a server key (search or admin), or a public key with a user token (%s header)", keys.UserTokenHeader)
			}
			return Caller{}, nil
		}
		return Caller{}, unauthorized(CodeMissingKey, "this route needs an API key (Authorization: Bearer <key>) of kind %s", kindList(access))
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" || strings.Contains(secret, " ") {
		return Caller{}, unauthorized(CodeInvalidAuthorization, "the Authorization header must be \"Bearer <key>\"")
	}
	if a.Keys == nil {
		return Caller{}, unauthorized(CodeInvalidKey, "unknown API key")
	}
	k, err := a.Keys.Lookup(secret)
	switch {
	case errors.Is(err, keys.ErrRevokedKey):
		return Caller{}, unauthorized(CodeRevokedKey, "API key %s was revoked", k.ID)
	case err != nil:
		return Caller{}, unauthorized(CodeInvalidKey, "unknown API key")
	case !slices.Contains(access.Kinds(), k.Kind):
		return Caller{}, forbidden(CodeWrongKeyKind, "", "a %s key cannot call this route; it takes a key of kind %s", k.Kind, kindList(access))
	}
	c := Caller{Key: &k}
	for _, u := range users {
		if u == "" {
			continue
		}
		if e := a.trustUser(r, k, u); e != nil {
			return Caller{}, e
		}
		c.User = u
	}
	return c, nil
}

// trustUser decides whether the caller holding k may act for user.
func (a Auth) trustUser(r *http.Request, k keys.Key, user string) *Error {
	if k.Kind != keys.Public {
		return nil // a server key: the marketplace's backend says who the user is
	}
	tok := r.Header.Get(keys.UserTokenHeader)
	if tok == "" {
		return forbidden(CodeUserTokenRequired, paramUser, "user= with a public key needs a user token in the %s header, signed by the marketplace's backend", keys.UserTokenHeader)
	}
	ut, err := a.Keys.VerifyUserToken(tok, time.Now())
	switch {
	case errors.Is(err, keys.ErrTokenExpired):
		return unauthorized(CodeUserTokenExpired, "the user token expired; fetch a new one")
	case err != nil:
		return forbidden(CodeInvalidUserToken, paramUser, "%s", strings.TrimPrefix(err.Error(), "keys: "))
	case ut.User != user:
		return forbidden(CodeInvalidUserToken, paramUser, "the user token is for another user")
	}
	return nil
}

func hasUser(users []string) bool {
	return slices.ContainsFunc(users, func(u string) bool { return u != "" })
}

func kindList(a Access) string {
	ks := a.Kinds()
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// authorize is the middleware that applies routeAccess to the matched
// route. A request that matched no route (404, 405) passes: the router
// answers it, and New made sure every registered route has a rule.
func (s *Server) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		access, ok := accessIn(s.access, req.Method, c.Path())
		if !ok {
			return next(c)
		}
		var users []string
		if access != AccessOpen && req.URL.RawQuery != "" {
			users = c.QueryParams()[paramUser]
		}
		caller, e := s.cfg.Auth.authorize(req, access, users)
		if e != nil {
			if e.Status == http.StatusUnauthorized {
				c.Response().Header().Set("WWW-Authenticate", bearerRealm)
			}
			return e
		}
		if access != AccessOpen {
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), callerKey{}, caller)))
		}
		return next(c)
	}
}

// Protect applies the access rule of routeAccess to a handler served
// outside the API server (the admin listener of cmd/rummage); a path the
// table lacks needs an admin key. Errors have the API's JSON shape.
func (a Auth) Protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		access, ok := accessOf(r.Method, r.URL.Path)
		if !ok {
			access = AccessAdmin
		}
		caller, e := a.authorize(r, access, r.URL.Query()[paramUser])
		if e != nil {
			w.Header().Set("Content-Type", "application/json")
			if e.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", bearerRealm)
			}
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(errorBody{Error: e})
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
	})
}

// AnonymousReads applies DESIGN.md's rule to the addresses the API listens
// on: reads without a key only while every one is a loopback address, or
// when publicReads (--public-reads) says so. It returns the rule and the
// sentence the service logs at start.
func AnonymousReads(addrs []string, publicReads bool) (allowed bool, why string) {
	if publicReads {
		return true, "reads without a key are allowed on every address (--public-reads); events and admin routes still need a key"
	}
	for _, a := range addrs {
		if !isLoopback(a) {
			return false, fmt.Sprintf("reads need a key (search, public or admin): the API listens on %s, not on loopback alone; pass --public-reads to allow reads without one", a)
		}
	}
	return true, fmt.Sprintf("reads without a key are allowed: the API listens on loopback only (%s); events and admin routes still need a key", strings.Join(addrs, ", "))
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
