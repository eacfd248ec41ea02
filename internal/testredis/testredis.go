package testredis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/internal/testpg"
)

// URL is the Redis tests use: $RUMMAGE_REDIS_URL, or the local one.
func URL() string {
	if u := os.Getenv("RUMMAGE_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Prefix returns a fresh key prefix (name-<random>) whose keys, as the
// signals Redis store lays them out ({P}... and {P:...}), are deleted
// when the test ends. Without Redis the test is Unavailable.
func Prefix(t testing.TB, name string) string {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", opt.Addr, time.Second)
	if err != nil {
		testpg.Unavailable(t, "no Redis at %s: %v", opt.Addr, err)
	}
	c.Close()
	prefix := fmt.Sprintf("%s-%08x", name, rand.Uint32())
	t.Cleanup(func() { Delete(t, prefix) })
	return prefix
}

// Delete deletes every key of prefix: to the store there, an emptied Redis.
func Delete(t testing.TB, prefix string) {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	for _, pattern := range []string{"{" + prefix + "}*", "{" + prefix + ":*"} {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
}
