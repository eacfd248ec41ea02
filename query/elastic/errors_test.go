package elastic

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
)

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	return "http://" + testkit.FreeAddr(t)
}

// TestErrors: what a user sees for each way the cluster can refuse: one
// short sentence wrapping a sentinel, no stack trace or raw JSON.
func TestErrors(t *testing.T) {
	retrieve := func(b *Backend) error {
		_, err := b.Retrieve(context.Background(), ret(query.Retrieval{}))
		return err
	}
	get := func(b *Backend) error { _, err := b.Get(context.Background(), "l-1"); return err }
	stats := func(b *Backend) error { _, err := b.Stats(context.Background()); return err }
	ping := func(b *Backend) error { return b.Ping(context.Background()) }
	cases := []struct {
		name     string
		status   int
		file     string
		call     func(*Backend) error
		sentinel error
		says     string
	}{
		{"index not found on search", 404, "index_not_found.json", retrieve, ErrIndexNotFound, "index or alias not found (no such index [rummage-listings])"},
		{"index not found on get", 404, "index_not_found.json", get, ErrIndexNotFound, "index or alias not found"},
		{"index not found on stats", 404, "index_not_found.json", stats, ErrIndexNotFound, "index or alias not found"},
		{"bad credentials", 401, "unauthorized.json", retrieve, ErrUnauthorized, "rejected the credentials (HTTP 401)"},
		{"bad credentials on connect", 401, "unauthorized.json", ping, ErrUnauthorized, "connect: elasticsearch rejected the credentials"},
		{"no permission", 403, "forbidden.json", stats, ErrForbidden, "denied permission (HTTP 403)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, map[string][]reply{
				"POST /rummage-listings/_search": {{c.status, c.file}},
				"GET /rummage-listings/_doc/l-1": {{c.status, c.file}},
				"POST /rummage-listings/_count":  {{c.status, c.file}},
				"GET /rummage-listings/_count":   {{c.status, c.file}},
				"GET /":                          {{c.status, c.file}},
			})
			err := c.call(f.backend(t, nil))
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("err = %v, want %v", err, c.sentinel)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.says) {
				t.Errorf("error %q does not say %q", msg, c.says)
			}
			if strings.ContainsAny(msg, "{}\n") || strings.Contains(msg, "goroutine") {
				t.Errorf("error is not one short sentence: %q", msg)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		u := closedURL(t)
		b, err := New(Config{URLs: []string{u}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Ping(context.Background())
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), u) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not elasticsearch", func(t *testing.T) {
		f := newFake(t, map[string][]reply{"GET /": {{200, "info.json"}}})
		f.product = false
		err := f.backend(t, nil).Ping(context.Background())
		if !errors.Is(err, ErrNotES) {
			t.Fatalf("err = %v, want ErrNotES", err)
		}
	})
	t.Run("old version", func(t *testing.T) {
		f := newFake(t, map[string][]reply{"GET /": {{200, `{"version": {"number": "7.17.1"}}`}}})
		err := f.backend(t, nil).Ping(context.Background())
		if !errors.Is(err, ErrNotES) || !strings.Contains(err.Error(), "need 8") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ok", func(t *testing.T) {
		f := newFake(t, map[string][]reply{"GET /": {{200, "info.json"}}})
		if err := f.backend(t, nil).Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("https to http", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		b, err := New(Config{URLs: []string{strings.Replace(srv.URL, "http:", "https:", 1)}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Ping(context.Background())
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "use an http:// URL") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		defer srv.Close()
		b, err := New(Config{URLs: []string{srv.URL}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Ping(context.Background())
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "CA certificate") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestGetAndStats: found, missing (404 without an error body), and count.
func TestGetAndStats(t *testing.T) {
	f := newFake(t, map[string][]reply{
		"GET /rummage-listings/_doc/l-100": {{200, "get_found.json"}},
		"GET /rummage-listings/_doc/nope":  {{404, "get_missing.json"}},
		"POST /rummage-listings/_count":    {{200, "count.json"}},
		"GET /rummage-listings/_count":     {{200, "count.json"}},
	})
	b := f.backend(t, nil)
	l, err := b.Get(context.Background(), "l-100")
	if err != nil || l.ID != "l-100" || l.Status != "sold" || l.PriceCents != 4800 {
		t.Fatalf("Get = %+v, %v", l, err)
	}
	if _, err := b.Get(context.Background(), "nope"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("Get(nope) err = %v, want query.ErrNotFound", err)
	}
	st, err := b.Stats(context.Background())
	if err != nil || st.Documents != 1234 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
}
