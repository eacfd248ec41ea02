package testredis

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestServerRestartEmpties: the private server answers on its URL, and a
// restart brings it back on the same URL without its keys.
func TestServerRestartEmpties(t *testing.T) {
	ctx := context.Background()
	s := Start(t)
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("after the restart: GET k = %q, %v; want no key", v, err)
	}
}
