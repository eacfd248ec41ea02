package embedded

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/fixtures"
)

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", ")
}

func TestScale(t *testing.T) {
	dir := os.Getenv("SCALE_DIR")
	if dir == "" {
		t.Skip()
	}
	n := 1000000
	fmt.Sscan(os.Getenv("SCALE_N"), &n)
	ctx := context.Background()
	_, statErr := os.Stat(dir)
	start := time.Now()
	x, err := Open(ctx, Config{Dir: dir, BaselineFacetFields: os.Getenv("SCALE_BASELINE") != "", Progress: func(p Progress) {
		if p.Done%200000 < 10000 {
			fmt.Printf("%s %d %v\n", p.Phase, p.Done, p.Elapsed)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("open %v, %s\n", time.Since(start), rss())
	if statErr != nil {
		g, _ := fixtures.NewGenerator(fixtures.Options{Seed: 1, Now: benchNow, Count: n})
		start = time.Now()
		if _, err := x.Bulk(ctx, generated(g)); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		fmt.Printf("bulk %d in %v = %.0f/s, %s\n", n, el, float64(n)/el.Seconds(), rss())
	}
	runtime.GC()
	fmt.Printf("after GC: %s\n", rss())
	reqs := benchRequests(&testing.B{})
	names := make([]string, 0, len(reqs))
	for k := range reqs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, base := range []bool{false, true} {
		if base && !x.baseline {
			continue
		}
		for _, name := range names {
			req := reqs[name]
			var d []time.Duration
			total := 0
			for i := 0; i < 60; i++ {
				s := time.Now()
				var err error
				if base {
					r, e := x.SearchBleveFacets(ctx, req)
					err = e
					if e == nil {
						total = r.Total
					}
				} else {
					r, e := x.Search(ctx, req)
					err = e
					if e == nil {
						total = r.Total
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				d = append(d, time.Since(s))
			}
			slices.Sort(d)
			fmt.Printf("baseline=%v %-14s hits=%7d p50=%8v p99=%8v\n", base, name, total, d[len(d)/2].Round(10*time.Microsecond), d[len(d)*99/100].Round(10*time.Microsecond))
		}
	}
	fmt.Printf("end: %s\n", rss())
	x.Close()
}
