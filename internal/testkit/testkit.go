package testkit

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// Go runs run in a goroutine on a context derived from ctx, for a loop the
// test drives from outside (an indexer, a CDC, a refresher). The stop it
// returns cancels that context, waits for run to return and fails t,
// naming what ran, when run returned an error.
func Go(ctx context.Context, t testing.TB, what string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server the test starts (or a port nothing should answer on).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a host:port on 127.0.0.1.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// Serve runs one request through h and returns the recorded answer; header
// is name, value pairs.
func Serve(h http.Handler, method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// ValidateCase is a named configuration and whether its Validate accepts
// it.
type ValidateCase[C interface{ Validate() error }] struct {
	Name string
	Cfg  C
	OK   bool
}

// CheckValidate runs one subtest per case: Validate accepts the
// configuration exactly when the case says so.
func CheckValidate[C interface{ Validate() error }](t *testing.T, cases []ValidateCase[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			if err := tc.Cfg.Validate(); (err == nil) != tc.OK {
				t.Errorf("Validate() = %v, want ok %v", err, tc.OK)
			}
		})
	}
}
