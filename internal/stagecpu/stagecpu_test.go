package stagecpu

import (
	"bytes"
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// spin does n units of work (a fixed amount of CPU, whatever else runs on
// the machine).
func spin(n int) (x uint64) {
	for range n {
		for i := range 100000 {
			x += uint64(i) * (x | 1)
		}
	}
	return x
}

var sink atomic.Uint64 // keeps the work

// unit is about 100 ms of work.
const unit = 700

// TestSplit profiles two labelled stages, one of them in a goroutine it
// started (labels are inherited), and an unlabelled one: Split finds
// each, in proportion to the CPU each burnt.
func TestSplit(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skipf("a CPU profile is already running: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		Do(context.Background(), CDC, func(context.Context) {
			var inner sync.WaitGroup
			inner.Go(func() { sink.Add(spin(4 * unit)) }) // inherits cdc
			inner.Wait()
		})
	})
	wg.Go(func() { Do(context.Background(), Indexer, func(context.Context) { sink.Add(spin(2 * unit)) }) })
	wg.Go(func() { sink.Add(spin(2 * unit)) })
	wg.Wait()
	pprof.StopCPUProfile()
	got, err := Split(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cdc, ix, other := got[CDC], got[Indexer], got[Other]
	t.Logf("cdc %v indexer %v other %v", cdc, ix, other)
	if cdc < 150*time.Millisecond || ix < 50*time.Millisecond || other < 50*time.Millisecond {
		t.Fatalf("split %v: a stage is missing", got)
	}
	if cdc < ix || cdc > 4*ix {
		t.Errorf("cdc %v should be about twice the indexer's %v", cdc, ix)
	}
	if _, err := Split([]byte("not a profile")); err == nil {
		t.Error("garbage accepted")
	}
}
