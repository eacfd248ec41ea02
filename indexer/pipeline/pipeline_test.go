package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/query/embedded"
)

// TestNewFailsCleanly: when a step after the broker's start fails (here
// the CDC's check of a Postgres nobody listens on), New returns that error
// and closes what it started, rather than panicking in its cleanup.
func TestNewFailsCleanly(t *testing.T) {
	ctx := context.Background()
	x, err := embedded.Open(ctx, embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0") // a free port, closed again: nobody listens there
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := New(ctx, Config{DatabaseURL: "postgres://postgres@" + addr + "/none?sslmode=disable&connect_timeout=2",
		Index: x, KafkaDir: t.TempDir(), Tables: rummage.Tables(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		p.Close()
		t.Fatal("New succeeded without a database")
	}
	if p != nil || !strings.Contains(err.Error(), addr) && !strings.Contains(err.Error(), "connect") {
		t.Errorf("New = %v, %v; want nil and the connection's error", p, err)
	}
}
