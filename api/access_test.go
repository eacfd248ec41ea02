package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/keys"
)

// caller is one way a request can present itself.
type caller struct {
	name string
	opt  apitest.Option
}

func callers(k *apitest.Keys) []caller {
	return []caller{
		{"anonymous", apitest.Anonymous()},
		{"search", apitest.WithKey(k.Search)},
		{"public", apitest.WithKey(k.Public)},
		{"events", apitest.WithKey(k.Events)},
		{"admin", apitest.WithKey(k.Admin)},
		{"revoked", apitest.WithKey(k.Revoked)},
		{"unknown", apitest.WithKey("rk_search_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
		{"not bearer", apitest.WithHeader("Authorization", "Basic "+k.Search)},
		{"bearer without key", apitest.WithHeader("Authorization", "Bearer ")},
	}
}

// TestAccessMatrix: every route × every kind of caller, with and without
// anonymous reads: the status and the error code.
func TestAccessMatrix(t *testing.T) {
	k := apitest.NewKeys(t)
	b := &stubBackend{listing: map[string]*rummage.Listing{"l1": {ID: "l1", SellerID: "s1", Title: "T", Status: rummage.StatusAvailable}}}
	// want is the answer on a read route, by caller; open routes answer
	// 200 whatever the caller sends.
	read := map[string]string{
		"search": "200", "public": "200", "admin": "200",
		"events":             "403 " + CodeWrongKeyKind,
		"revoked":            "401 " + CodeRevokedKey,
		"unknown":            "401 " + CodeInvalidKey,
		"not bearer":         "401 " + CodeInvalidAuthorization,
		"bearer without key": "401 " + CodeInvalidAuthorization,
	}
	for _, anon := range []bool{false, true} {
		s, _ := newTestServer(t, Config{Auth: Auth{Keys: k.Ring, AnonymousReads: anon}}, b)
		c := apitest.NewClient(t, s, "")
		for _, target := range []string{"/v1/search?q=x", "/v1/listings/l1", "/healthz", "/readyz", "/metrics", "/openapi.json"} {
			isRead := strings.HasPrefix(target, "/v1/")
			for _, cl := range callers(k) {
				want := "200"
				if isRead {
					want = read[cl.name]
					if cl.name == "anonymous" {
						want = "401 " + CodeMissingKey
						if anon {
							want = "200"
						}
					}
				}
				r := c.Get(t, target, cl.opt)
				got := statusCode(t, r)
				if got != want {
					t.Errorf("anonymous reads %v, %s, %s: %s, want %s (%s)", anon, cl.name, target, got, want, r.Body)
				}
				if r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") != bearerRealm {
					t.Errorf("%s %s: 401 without WWW-Authenticate", cl.name, target)
				}
			}
		}
	}
}

func statusCode(t testing.TB, r *apitest.Response) string {
	t.Helper()
	if r.Status == http.StatusOK {
		return "200"
	}
	e := apiErr(t, response{r.Status, r.Header, r.Body})
	return fmt.Sprintf("%d %s", r.Status, e.Code)
}

// TestAccessLevels: the decision for each access level and kind, the
// events and admin levels included (served by routes to come, and the
// admin listener).
func TestAccessLevels(t *testing.T) {
	k := apitest.NewKeys(t)
	for _, access := range []Access{AccessRead, AccessEvents, AccessAdmin} {
		for _, anon := range []bool{false, true} {
			a := Auth{Keys: k.Ring, AnonymousReads: anon}
			for _, kind := range append(keys.Kinds(), "") {
				req := httptest.NewRequest(http.MethodGet, "/x", nil)
				if kind != "" {
					req.Header.Set("Authorization", "Bearer "+k.Of(kind))
				}
				_, e := a.authorize(req, access, nil)
				var want int
				switch {
				case kind == "" && access == AccessRead && anon:
					want = 0
				case kind == "":
					want = http.StatusUnauthorized
				case !containsKind(access.Kinds(), kind):
					want = http.StatusForbidden
				}
				if got := statusOf(e); got != want {
					t.Errorf("%s route, anonymous reads %v, %q key: %d, want %d (%v)", access, anon, kind, got, want, e)
				}
			}
		}
	}
	if got := AccessEvents.Kinds(); !containsKind(got, keys.Events) || !containsKind(got, keys.Public) || containsKind(got, keys.Search) {
		t.Errorf("events take %v", got)
	}
	if got := AccessAdmin.Kinds(); len(got) != 1 || got[0] != keys.Admin {
		t.Errorf("admin takes %v", got)
	}
}

func containsKind(ks []keys.Kind, k keys.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func statusOf(e *Error) int {
	if e == nil {
		return 0
	}
	return e.Status
}

// TestRevokedKeyStopsAtOnce: a key that worked answers 401 once revoked.
func TestRevokedKeyStopsAtOnce(t *testing.T) {
	k := apitest.NewKeys(t)
	s, _ := newTestServer(t, Config{Auth: Auth{Keys: k.Ring}}, &stubBackend{})
	c := apitest.NewClient(t, s, k.Public)
	if r := c.Get(t, "/v1/search?q=x"); r.Status != 200 {
		t.Fatalf("before: %d %s", r.Status, r.Body)
	}
	if _, err := k.Ring.Revoke(context.Background(), keys.IDOf(k.Public)); err != nil {
		t.Fatal(err)
	}
	if r := c.Get(t, "/v1/search?q=x"); statusCode(t, r) != "401 "+CodeRevokedKey {
		t.Errorf("after revoking: %d %s", r.Status, r.Body)
	}
}

// TestUserTrust: user= from a server key is trusted; from a public key it
// needs a valid user token for that user; anonymous never.
func TestUserTrust(t *testing.T) {
	k := apitest.NewKeys(t)
	ctx := context.Background()
	other, _, err := k.Ring.Create(ctx, keys.Search, "other backend")
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := k.Ring.Create(ctx, keys.Admin, "old backend")
	if err != nil {
		t.Fatal(err)
	}
	goneTok := apitest.UserToken(t, gone, "u1", time.Hour)
	if _, err := k.Ring.Revoke(ctx, keys.IDOf(gone)); err != nil {
		t.Fatal(err)
	}
	valid := apitest.UserToken(t, k.Search, "u1", time.Hour)
	expired, err := keys.SignUserToken(k.Search, "u1", time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := strings.Split(valid, ".")
	// Another user's claims under u1's signature: the signature no longer
	// matches what it signs.
	otherP := strings.Split(apitest.UserToken(t, other, "u2", time.Hour), ".")
	b := &stubBackend{}
	s, _ := newTestServer(t, Config{Auth: Auth{Keys: k.Ring, AnonymousReads: true}}, b)
	c := apitest.NewClient(t, s, "")
	tests := []struct {
		name string
		opts []apitest.Option
		want string
	}{
		{"search key", []apitest.Option{apitest.WithKey(k.Search)}, "200"},
		{"admin key", []apitest.Option{apitest.WithKey(k.Admin)}, "200"},
		{"public key, valid token", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(valid)}, "200"},
		{"public key, token by another server key", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(apitest.UserToken(t, other, "u1", time.Hour))}, "200"},
		{"public key, no token", []apitest.Option{apitest.WithKey(k.Public)}, "403 " + CodeUserTokenRequired},
		{"public key, expired token", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(expired)}, "401 " + CodeUserTokenExpired},
		{"public key, token for another user", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(apitest.UserToken(t, k.Search, "u2", time.Hour))}, "403 " + CodeInvalidUserToken},
		{"public key, forged claims", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(p[0] + "." + otherP[1] + "." + p[2])}, "403 " + CodeInvalidUserToken},
		{"public key, signature of another key", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(p[0] + "." + p[1] + "." + otherP[2])}, "403 " + CodeInvalidUserToken},
		{"public key, token claiming another key", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(otherP[0] + "." + p[1] + "." + p[2])}, "403 " + CodeInvalidUserToken},
		{"public key, token of a revoked key", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken(goneTok)}, "403 " + CodeInvalidUserToken},
		{"public key, garbage token", []apitest.Option{apitest.WithKey(k.Public), apitest.WithUserToken("x.y.z")}, "403 " + CodeInvalidUserToken},
		{"anonymous", []apitest.Option{apitest.Anonymous()}, "403 " + CodeUserNotTrusted},
	}
	for _, tt := range tests {
		r := c.Get(t, "/v1/search?q=x&user=u1", tt.opts...)
		if got := statusCode(t, r); got != tt.want {
			t.Errorf("%s: %s, want %s (%s)", tt.name, got, tt.want, r.Body)
		}
	}
	// Without user= a public key needs no token, and a token is ignored.
	if r := c.Get(t, "/v1/search?q=x", apitest.WithKey(k.Public), apitest.WithUserToken("x.y.z")); r.Status != 200 {
		t.Errorf("public key without user=: %d %s", r.Status, r.Body)
	}
}

// TestProtect: the admin listener's routes through Protect; a path the
// table lacks needs an admin key; the caller reaches the handler.
func TestProtect(t *testing.T) {
	k := apitest.NewKeys(t)
	var seen *keys.Key
	h := Auth{Keys: k.Ring, AnonymousReads: true}.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFrom(r.Context())
		seen = c.Key
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, path := range []string{"/admin/reindex", "/admin/not-in-the-table"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, cl := range callers(k) {
				req := httptest.NewRequest(method, path, nil)
				cl.opt(req)
				rec := httptest.NewRecorder()
				seen = nil
				h.ServeHTTP(rec, req)
				want := http.StatusForbidden
				switch cl.name {
				case "admin":
					want = http.StatusNoContent
				case "anonymous", "revoked", "unknown", "not bearer", "bearer without key":
					want = http.StatusUnauthorized
				}
				if rec.Code != want {
					t.Errorf("%s %s as %s: %d, want %d: %s", method, path, cl.name, rec.Code, want, rec.Body)
				}
				if want == http.StatusNoContent && (seen == nil || seen.Kind != keys.Admin) {
					t.Errorf("%s %s: the handler saw caller %+v", method, path, seen)
				}
				if rec.Code >= 400 {
					apiErr(t, response{rec.Code, rec.Header(), rec.Body.Bytes()})
				}
			}
		}
	}
}

func TestAnonymousReadsRule(t *testing.T) {
	tests := []struct {
		addrs  []string
		public bool
		want   bool
	}{
		{[]string{"127.0.0.1:8080"}, false, true},
		{[]string{"127.0.0.2:0"}, false, true},
		{[]string{"[::1]:8080"}, false, true},
		{[]string{"localhost:8080"}, false, true},
		{[]string{":8080"}, false, false},
		{[]string{"0.0.0.0:8080"}, false, false},
		{[]string{"[::]:8080"}, false, false},
		{[]string{"192.168.1.5:8080"}, false, false},
		{[]string{"127.0.0.1:8080", ":9090"}, false, false},
		{[]string{"not an address"}, false, false},
		{[]string{":8080"}, true, true},
	}
	for _, tt := range tests {
		got, why := AnonymousReads(tt.addrs, tt.public)
		if got != tt.want || why == "" {
			t.Errorf("AnonymousReads(%v, %v) = %v %q, want %v", tt.addrs, tt.public, got, why, tt.want)
		}
	}
}

// TestEveryRouteHasAnAccessRule: New refuses a route the table lacks.
func TestEveryRouteHasAnAccessRule(t *testing.T) {
	s, _ := newTestServer(t, Config{}, &stubBackend{})
	if err := checkRouteAccess(s.access, s.e.Routes()); err != nil {
		t.Fatal(err)
	}
	s.e.POST("/v1/new-surface", func(echo.Context) error { return nil })
	if err := checkRouteAccess(s.access, s.e.Routes()); err == nil || !strings.Contains(err.Error(), "POST /v1/new-surface") {
		t.Errorf("a route without a rule: %v", err)
	}
}

// TestSpecAccessMatchesTable: every operation of the OpenAPI document
// states the access of its route in routeAccess, and every API route of
// the table is documented.
func TestSpecAccessMatchesTable(t *testing.T) {
	spec := loadSpec(t)
	documented := map[route]bool{}
	for path, item := range spec.Doc.Paths.Map() {
		echoPath := strings.NewReplacer("{", ":", "}", "").Replace(path)
		for method, op := range item.Operations() {
			documented[route{method, echoPath}] = true
			want, ok := accessOf(method, echoPath)
			if !ok {
				t.Errorf("%s %s is documented but not in routeAccess", method, path)
				continue
			}
			if got := op.Extensions["x-rummage-access"]; got != want.String() {
				t.Errorf("%s %s: x-rummage-access %v, routeAccess says %s", method, path, got, want)
			}
		}
	}
	for r := range routeAccess {
		if !strings.HasPrefix(r.path, "/admin/") && !documented[r] {
			t.Errorf("%s %s is in routeAccess but not in the OpenAPI document", r.method, r.path)
		}
	}
}
