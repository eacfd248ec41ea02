package api

import (
	"errors"
	"net/url"
	"testing"

	"github.com/rummage/rummage/query"
)

// FuzzParseSearch: no query string makes the parser panic; every error is a
// *query.InvalidError with a code and a field-or-empty, and every request it
// accepts passes Validate.
func FuzzParseSearch(f *testing.F) {
	const cur = "eyJ2IjoxfQ.c2ln"
	for _, s := range []string{
		"",
		"q=red+dress",
		"q=red+dress&brand=Nike&brand=Adidas&size=M&condition=nwt&color=red&category=Women/Dresses&price_min=100&price_max=5000&sort=price_asc&limit=10&facets=brand,category,size,condition,color,price&user=u1",
		"limit=0", "limit=101", "limit=-1", "limit=1e3",
		"price_min=5&price_max=1", "price_min=-0", "price_max=+7",
		"sort=newest", "sort=bogus",
		"facets=brand,,brand", "facets=%20price%20",
		"category=/", "category=a//b", "category=%2F%2F",
		"cursor=" + cur, "cursor=e30", "cursor=%00",
		"q=%ff", "brand=&brand=", "x=1", "q=a&q=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw) // keeps the pairs it could parse
		req, err := ParseSearch(v)
		if err != nil {
			var ie *query.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v, want *query.InvalidError", err, err)
			}
			if ie.Code == "" || ie.Message == "" {
				t.Fatalf("error without code or message: %+v", ie)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted a request that does not validate: %v", err)
		}
		if l := req.EffectiveLimit(); l < 1 || l > query.MaxLimit {
			t.Fatalf("limit %d", l)
		}
	})
}
