package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
)

// The cost the API adds around the backend: routing, middleware, parsing and
// JSON encoding, measured in process (no sockets).

func BenchmarkHealthz(b *testing.B) {
	s := e2eServerB(b)
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkImage serves an embedded picture (compare BenchmarkHealthz:
// the route's own cost is the copy of its bytes).
func BenchmarkImage(b *testing.B) {
	s := e2eServerB(b)
	for _, v := range []string{"thumb", "large"} {
		b.Run(v, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/images/dress-red-"+v+".png", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

func BenchmarkParseSearch(b *testing.B) {
	v, _ := url.ParseQuery("q=red+dress&brand=Nike&brand=Adidas&size=M&category=Women/Dresses&price_min=1000&price_max=5000&sort=price_asc&limit=24&facets=brand,category,size,condition,color,price")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := api.ParseSearch(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchE2E is a whole faceted search of the small test index:
// mostly API overhead, since the index holds 14 listings.
func BenchmarkSearchE2E(b *testing.B) {
	s := e2eServerB(b)
	req := httptest.NewRequest(http.MethodGet, "/v1/search?category=Women&limit=24&facets=brand,category,size,condition,color,price", nil)
	req.Header.Set("Authorization", "Bearer "+apitest.Shared().Search)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func e2eServerB(b *testing.B) *api.Server { b.Helper(); return mustE2E(b) }
