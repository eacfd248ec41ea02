package benchkit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // any order
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(lat, 2*time.Second, 1)
	if s.N != 100 || s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond || s.Max != 100*time.Millisecond {
		t.Errorf("summary = %+v", s)
	}
	if s.QPS != 50 {
		t.Errorf("QPS = %v, want 50", s.QPS)
	}
	if s := Summarize([]time.Duration{7}, 0, 1); s.P50 != 7 || s.P99 != 7 {
		t.Errorf("one sample: %+v", s)
	}
	if s := Summarize(nil, time.Second, 1); s.N != 0 {
		t.Errorf("no samples: %+v", s)
	}
}

func TestRunIterations(t *testing.T) {
	seen := make(chan int, 100)
	s, err := Run(context.Background(), Plan{Iterations: 40, Concurrency: 3, Warmup: 2}, func(_ context.Context, i int) error {
		seen <- i
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 40 || s.Concurrency != 3 {
		t.Errorf("summary = %+v", s)
	}
	close(seen)
	got := map[int]bool{}
	for i := range seen {
		got[i] = true
	}
	if len(got) != 42 { // warm-up 0,1 then 2..41
		t.Errorf("op indexes: %d distinct, want 42", len(got))
	}
}

func TestRunStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Run(context.Background(), Plan{Iterations: 10}, func(_ context.Context, i int) error {
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if _, err := Run(context.Background(), Plan{}, nil); err == nil {
		t.Error("empty plan accepted")
	}
}

func TestRunDurationMinIterations(t *testing.T) {
	s, err := Run(context.Background(), Plan{Duration: time.Nanosecond, MinIterations: 5}, func(context.Context, int) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if s.N < 5 {
		t.Errorf("N = %d, want >= 5", s.N)
	}
}

func TestParseStatus(t *testing.T) {
	m, err := parseStatus([]byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 1<<20 || m.HWM != 2<<20 {
		t.Errorf("mem = %+v", m)
	}
	if _, err := parseStatus([]byte("VmRSS: 1 kB\n")); err == nil {
		t.Error("missing VmHWM accepted")
	}
	if m, err := ProcMem(0); err != nil || m.RSS <= 0 {
		t.Errorf("ProcMem(0) = %+v, %v", m, err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Microsecond:   "850µs",
		2345 * time.Microsecond:  "2.35ms",
		12340 * time.Microsecond: "12.3ms",
		250 * time.Millisecond:   "250ms",
		1250 * time.Millisecond:  "1.25s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// pid (comm with a space and a paren) state ppid ... utime=150 stime=50
	line := []byte("42 (rum mage) R 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 1000 0 0\n")
	d, err := parseStatCPU(line)
	if err != nil || d != 2*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 2s", d, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Fatal("no error on garbage")
	}
}

// TestOffer: every arrival comes, none before its instant, and the last
// about when the schedule says.
func TestOffer(t *testing.T) {
	start := time.Now().Add(10 * time.Millisecond)
	n, rate := 50, 1000.0
	got := 0
	for k := range Offer(context.Background(), start, rate, n) {
		if now := time.Now(); now.Before(Due(start, rate, k)) {
			t.Fatalf("arrival %d at %v, before its instant %v", k, now, Due(start, rate, k))
		}
		if k != got {
			t.Fatalf("arrival %d, want %d", k, got)
		}
		got++
	}
	if got != n {
		t.Fatalf("%d arrivals, want %d", got, n)
	}
	if late := time.Since(Due(start, rate, n-1)); late > time.Second {
		t.Errorf("the last arrival came %v after its instant", late)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	left := 0
	for range Offer(ctx, time.Now().Add(time.Hour), rate, 10) {
		left++
	}
	if left != 0 {
		t.Errorf("%d arrivals after the context ended", left)
	}
}
