package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/signals"
)

func TestSignalsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--signals", "cassandra"}, "cassandra"},
		{[]string{"--signals", "redis", "--redis-url", "http://127.0.0.1:6379"}, "redisstore"},
		{[]string{"--signals", "redis", "--redis-prefix", "a:b"}, "prefix"},
	} {
		var out bytes.Buffer
		if err := serveMain(context.Background(), tc.args, &out); !errors.Is(err, errUsage) || !strings.Contains(out.String(), tc.want) {
			t.Errorf("serve %q: %v, output %q; want a usage error naming %q", tc.args, err, out.String(), tc.want)
		}
		if err := devMain(context.Background(), append([]string{"--database-url", "x"}, tc.args...), &testkit.SyncBuffer{}, devHooks{}); !errors.Is(err, errUsage) {
			t.Errorf("dev %q: %v, want a usage error", tc.args, err)
		}
	}
	f := &signalsFlags{kind: signalsMemory}
	if err := f.validate("data/dev/"); err != nil || f.dir != "data/dev-signals" {
		t.Errorf("memory: dir %q, %v; want data/dev-signals beside the index", f.dir, err)
	}
}

// TestRedisEmptiedStopsTheIndexer: the Redis store's "emptied" error is the
// indexer's ErrSignalsLost, which stops it rather than retrying forever.
func TestRedisEmptiedStopsTheIndexer(t *testing.T) {
	ctx := context.Background()
	prefix := testredis.Prefix(t, "cmd-test")
	f := &signalsFlags{kind: signalsRedis, redisURL: testredis.URL(), redisPrefix: prefix}
	store, err := f.open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	opt, err := redis.ParseURL(testredis.URL())
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opt)
	defer admin.Close()
	like := signals.Batch{Changes: []signals.Change{{Version: 1, Like: &signals.Like{User: "u1", Listing: "l1", At: time.Now()}}},
		Positions: []signals.Position{{Topic: "t.public.likes", Partition: 0, Offset: 0}}}
	if err := store.Apply(ctx, like); err != nil {
		t.Fatal(err)
	}
	if err := admin.Del(ctx, "{"+prefix+"}:epoch").Err(); err != nil {
		t.Fatal(err)
	}
	like.Changes[0].Version = 2
	if err := store.Apply(ctx, like); !errors.Is(err, indexer.ErrSignalsLost) {
		t.Fatalf("Apply on an emptied Redis: %v, want indexer.ErrSignalsLost", err)
	}
}
