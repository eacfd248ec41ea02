package embedded

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

func TestProf(t *testing.T) {
	dir := os.Getenv("PROF_DIR")
	if dir == "" {
		t.Skip()
	}
	ctx := context.Background()
	s := time.Now()
	x, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("reopen %v %s\n", time.Since(s), rss())
	defer x.Close()
	req := benchRequests(&testing.B{})[os.Getenv("PROF_REQ")]
	for i := 0; i < 5; i++ {
		x.Search(ctx, req)
	}
	f, _ := os.Create("/tmp/prof.out")
	pprof.StartCPUProfile(f)
	s = time.Now()
	n := 100
	for i := 0; i < n; i++ {
		if _, err := x.Search(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	pprof.StopCPUProfile()
	fmt.Printf("avg %v %s\n", time.Since(s)/time.Duration(n), rss())
}
