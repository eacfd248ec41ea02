package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api/apitest"
)

// BenchmarkAuth is one whole request (routing, middleware, the handler and
// its JSON) of GET /v1/listings/l1 on a stub backend, without a key and
// with each way of presenting one: the differences are what authorization
// costs per request. The ring holds 1,000 keys.
//
//	go test -run '^$' -bench BenchmarkAuth -benchtime 200000x ./api/
func BenchmarkAuth(b *testing.B) {
	k := apitest.NewKeys(b)
	for range 1000 {
		if _, _, err := k.Ring.Create(b.Context(), "search", "bench"); err != nil {
			b.Fatal(err)
		}
	}
	be := &stubBackend{listing: map[string]*rummage.Listing{"l1": {ID: "l1", SellerID: "s1", Title: "T", Status: rummage.StatusAvailable}}}
	s, _ := newTestServer(b, Config{Auth: Auth{Keys: k.Ring, AnonymousReads: true}}, be)
	tok := apitest.UserToken(b, k.Search, "u1", time.Hour)
	for _, bc := range []struct {
		name, target string
		header       map[string]string
	}{
		{"anonymous", "/v1/listings/l1", nil},
		{"search key", "/v1/listings/l1", map[string]string{"Authorization": "Bearer " + k.Search}},
		{"public key+user token", "/v1/listings/l1?user=u1", map[string]string{"Authorization": "Bearer " + k.Public, "Rummage-User-Token": tok}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.target, nil)
			for h, v := range bc.header {
				req.Header.Set(h, v)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkAuthorize is the authorization decision alone, as the
// middleware makes it for a read with a key (and with a public key and a
// user token, verified once and then cached).
func BenchmarkAuthorize(b *testing.B) {
	k := apitest.NewKeys(b)
	a := Auth{Keys: k.Ring}
	tok := apitest.UserToken(b, k.Search, "u1", time.Hour)
	for _, bc := range []struct {
		name   string
		header map[string]string
		users  []string
	}{
		{"search key", map[string]string{"Authorization": "Bearer " + k.Search}, nil},
		{"public key+user token", map[string]string{"Authorization": "Bearer " + k.Public, "Rummage-User-Token": tok}, []string{"u1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v1/search", nil)
			for h, v := range bc.header {
				req.Header.Set(h, v)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, e := a.authorize(req, AccessRead, bc.users); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
