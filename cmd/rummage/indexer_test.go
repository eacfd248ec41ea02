package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestIndexerStopsWhenItsAPIDies: rummage indexer --addr exits with an
// error when its API server stops (here: its listener fails), instead of
// indexing on without the API it was asked to serve.
func TestIndexerStopsWhenItsAPIDies(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	defer c.Close()
	listened := make(chan net.Listener, 1)
	hooks := indexerHooks{listen: func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err == nil {
			listened <- ln
		}
		return ln, err
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- indexerMain(ctx, []string{"--brokers", c.ListenAddrs()[0], "--index-dir", filepath.Join(t.TempDir(), "index"),
			"--addr", "127.0.0.1:0", "--metrics-addr", "", "--partitions", "1"}, hooks)
	}()
	var ln net.Listener
	select {
	case ln = <-listened:
	case err := <-done:
		t.Fatalf("indexer ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("indexer did not listen in 30s")
	}
	// The API answers: the indexer runs with it.
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("API not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ln.Close() // the API server's listener dies
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "api") {
			t.Fatalf("indexer ended with %v, want the API's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the indexer went on without its API")
	}
}
