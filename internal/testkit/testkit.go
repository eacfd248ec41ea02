package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for one writer (a logger, a command's
// output) and a reader in other goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// PollInterval is how often Eventually checks its condition.
const PollInterval = 20 * time.Millisecond

// Eventually polls cond every PollInterval until it holds and returns how
// long that took; if within passes first it fails t, naming what it
// waited for. The deadline bounds a wait for something asynchronous (a
// change to arrive through Kafka); it asserts nothing about speed.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return EventuallyEvery(t, what, within, PollInterval, cond)
}

// EventuallyEvery is Eventually polling every interval, for a condition
// that is costly to check (one that reads a whole topic back).
func EventuallyEvery(t testing.TB, what string, within, every time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(every)
	}
	return time.Since(start)
}
