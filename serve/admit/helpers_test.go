package admit_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/query"
)

// backend answers every retrieval with no hits; hold, when set, is called
// inside Retrieve (to keep a request in flight, or to look at its ctx).
type backend struct {
	mu   sync.Mutex
	last []*query.Retrieval
	hold func(ctx context.Context, r *query.Retrieval) error
}

func (b *backend) Retrieve(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
	b.mu.Lock()
	b.last = append(b.last, r)
	hold := b.hold
	b.mu.Unlock()
	if hold != nil {
		if err := hold(ctx, r); err != nil {
			return nil, err
		}
	}
	return &query.Candidates{}, nil
}

func (b *backend) Load(context.Context, []string) ([]*rummage.Listing, error) { return nil, nil }

func (b *backend) Get(context.Context, string) (*rummage.Listing, error) {
	return nil, query.ErrNotFound
}

func (b *backend) Stats(context.Context) (query.Stats, error) { return query.Stats{}, nil }

// server is the API over b with mw as its middleware, and a client that
// checks every exchange against the OpenAPI document.
func server(t testing.TB, b *backend, mw ...echo.MiddlewareFunc) (*api.Server, *apitest.Client) {
	t.Helper()
	s, err := api.New(api.Config{Auth: api.Auth{Keys: apitest.Shared().Ring}}, b,
		slog.New(slog.NewTextHandler(io.Discard, nil)), api.WithMiddleware(mw...))
	if err != nil {
		t.Fatal(err)
	}
	return s, apitest.NewClient(t, s, apitest.Shared().Search)
}
