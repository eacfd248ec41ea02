package testkit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, "third call", time.Minute, func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
}

// recorder is a testing.TB whose Fatalf and Errorf record instead of
// failing the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestEventuallyFailsPastTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		Eventually(r, "never", 0, func() bool { return false })
	}()
	if !strings.Contains(r.failed, "never: not within") {
		t.Errorf("failure %q, want it to name what it waited for", r.failed)
	}
}

func TestGoStopCancelsAndReportsTheError(t *testing.T) {
	r := &recorder{TB: t}
	stop := Go(context.Background(), r, "loop", func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("boom")
	})
	stop()
	if r.failed != "loop: boom" {
		t.Errorf("failure %q, want \"loop: boom\"", r.failed)
	}
	r.failed = ""
	Go(context.Background(), r, "quiet", func(ctx context.Context) error { <-ctx.Done(); return nil })()
	if r.failed != "" {
		t.Errorf("a loop that returned nil failed the test: %q", r.failed)
	}
}
