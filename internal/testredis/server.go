package testredis

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
)

// Server is a redis-server a test started for itself, on a free port of
// 127.0.0.1, keeping nothing on disk (--save "" --appendonly no): a restart
// is an emptied Redis. It is stopped when the test ends.
type Server struct {
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server found on PATH. Without one the test is
// Unavailable (skipped, or failed under CI=true).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testpg.Unavailable(t, "no redis-server on PATH to start a private Redis: %v", err)
	}
	s := &Server{bin: bin, port: testkit.FreePort(t), dir: t.TempDir()}
	t.Cleanup(s.stop)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Restart kills the server (SIGKILL, as a crash would) and starts it
// again on the same port, empty. It returns an error rather than failing
// the test: it is meant to be called from the goroutines of the system
// under test. It must not run concurrently with itself.
func (s *Server) Restart() error {
	s.stop()
	return s.start()
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--loglevel", "warning")
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testredis: start %s: %w", s.bin, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	var werr error
	go func(done chan struct{}) { werr = cmd.Wait(); close(done) }(s.done)
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			s.cmd = nil
			return fmt.Errorf("testredis: redis-server on port %d exited: %v", s.port, werr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testredis: redis-server on port %d does not answer: %w", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill() // our own child, by its pid
	<-s.done             // reaped: the port is free again
	s.cmd = nil
}
