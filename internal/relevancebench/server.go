package relevancebench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/serve/cache"
	"github.com/rummage/rummage/signals/memory"
)

// The API the bench asks: its handler, its keys, and reading answers.

// server is the API over x and store, personalized at strength, with the
// answer cache in front unless uncached; and a search key's secret.
func server(ctx context.Context, x *embedded.Index, store *memory.Store, pz *events.Pseudonymizer, strength int, uncached bool) (http.Handler, string, error) {
	ring, secret, err := benchKeys(ctx)
	if err != nil {
		return nil, "", err
	}
	cfg := api.DefaultConfig()
	cfg.Signals = store
	cfg.Auth = api.Auth{Keys: ring}
	cfg.Feeds.Personal = feed.PersonalConfig{Profiles: store, Pseudonym: pz.Of, Strength: func(string) int { return strength }}
	var opts []api.Option
	if !uncached {
		ch, err := cache.New(cache.Config{})
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, api.WithMiddleware(ch.Middleware(cache.HTTPConfig{Social: store})))
	}
	srv, err := api.New(cfg, x, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		return nil, "", err
	}
	return srv, secret, nil
}

// benchKeys is the bench's key ring and its search key's secret, one for
// every server of a run.
func benchKeys(ctx context.Context) (*keys.Ring, string, error) {
	keysOnce.Do(func() {
		keysOnce.ring, keysOnce.err = keys.Open(ctx, &keys.MemStore{}, keys.RingConfig{})
		if keysOnce.err == nil {
			keysOnce.secret, _, keysOnce.err = keysOnce.ring.Create(ctx, keys.Search, "relevancebench")
		}
	})
	return keysOnce.ring, keysOnce.secret, keysOnce.err
}

var keysOnce struct {
	sync.Once
	ring   *keys.Ring
	secret string
	err    error
}

// get runs one GET on h and returns the ids of its hits.
func get(h http.Handler, secret, path string, q url.Values) ([]string, error) {
	ids, _, err := getReasons(h, secret, path, q)
	return ids, err
}

// getReasons runs one GET on h and returns the ids of its hits and their
// feed_reason types ("" for none).
func getReasons(h http.Handler, secret, path string, q url.Values) ([]string, []string, error) {
	req := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, nil, fmt.Errorf("relevancebench: %s?%s: %d %s", path, q.Encode(), rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	var a struct {
		Hits []struct {
			ID     string `json:"id"`
			Reason *struct {
				Type string `json:"type"`
			} `json:"feed_reason"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		return nil, nil, err
	}
	ids, reasons := make([]string, len(a.Hits)), make([]string, len(a.Hits))
	for i, h := range a.Hits {
		ids[i] = h.ID
		if h.Reason != nil {
			reasons[i] = h.Reason.Type
		}
	}
	return ids, reasons, nil
}
