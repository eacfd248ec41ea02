package redisstore

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rummage/rummage/signals"
)

// The benchmarks load their data once (in the parent benchmark) and
// report what a request costs; BenchmarkMemory reports the bytes Redis
// holds per share and per follow. Run them with
//
//	go test ./signals/redisstore -run '^$' -bench . -benchtime 2s
//
// (BenchmarkMemory loads 600k rows once: add -benchtime 1x for it alone).

// cpu is the CPU time used so far by Redis (INFO cpu) and by this
// process: on a shared machine the CPU a request costs says more than its
// wall time.
func cpu(b *testing.B, s *Store) (redisSec, selfSec float64) {
	info, err := s.c.Info(ctx, "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			redisSec += f
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	selfSec = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	return redisSec, selfSec
}

// reportCPU reports the CPU per op since (r0, c0).
func reportCPU(b *testing.B, s *Store, r0, c0 float64) {
	r1, c1 := cpu(b, s)
	b.ReportMetric((r1-r0)*1e3/float64(b.N), "redis-cpu-ms/op")
	b.ReportMetric((c1-c0)*1e3/float64(b.N), "client-cpu-ms/op")
}

// loader applies changes in batches of 5,000, with increasing versions.
type loader struct {
	b     testing.TB
	s     *Store
	v     uint64
	batch []signals.Change
}

func (l *loader) add(c signals.Change) {
	l.v++
	c.Version = l.v
	l.batch = append(l.batch, c)
	if len(l.batch) == 5000 {
		l.flush()
	}
}

func (l *loader) flush() {
	if len(l.batch) > 0 {
		apply(l.b, l.s, l.batch...)
		l.batch = l.batch[:0]
	}
}

var benchNow = time.Date(2026, 11, 2, 20, 0, 0, 0, time.UTC)

// BenchmarkSharedBy merges the share timelines of 1,000 and 5,000 followed
// closets (of 5,000 with 20 shares each over the last 30 days), with the
// following feed's limit (50,000).
func BenchmarkSharedBy(b *testing.B) {
	s := openTest(b)
	l := &loader{b: b, s: s}
	r := rand.New(rand.NewPCG(1, 2))
	const closets, perCloset = 5000, 20
	ids := make([]string, closets)
	id := int64(0)
	for c := range closets {
		ids[c] = fmt.Sprintf("closet%05d", c)
		for range perCloset {
			id++
			at := benchNow.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour))))
			l.add(signals.Change{Share: &signals.Share{ID: id, User: ids[c], Listing: fmt.Sprintf("L%07d", r.IntN(500000)), At: at}})
		}
	}
	l.flush()
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("closets=%d", n), func(b *testing.B) {
			got := 0
			r0, c0 := cpu(b, s)
			for b.Loop() {
				out, err := s.SharedBy(ctx, ids[:n], benchNow.Add(-30*24*time.Hour), benchNow, 50000)
				if err != nil {
					b.Fatal(err)
				}
				got = out.Len()
			}
			reportCPU(b, s, r0, c0)
			b.ReportMetric(float64(got), "listings")
		})
	}
}

// BenchmarkPartyShares reads a party of 20,000 shared listings (100,000
// shares over its 2 hours, Zipf over the listings), at its end (one round
// trip), pinned 10 s before (a next page) and pinned at its first hour
// (the worst: the listings re-shared since, most of them, are read from
// the party's history; two round trips).
func BenchmarkPartyShares(b *testing.B) {
	s := openTest(b)
	l := &loader{b: b, s: s}
	r := rand.New(rand.NewPCG(3, 4))
	const listings, shares = 20000, 100000
	z := rand.NewZipf(r, 1.1, 1, listings-1)
	start := benchNow.Add(-2 * time.Hour)
	for i := range shares {
		li := z.Uint64()
		if i%5 == 0 { // every listing at least once
			li = uint64(i / 5)
		}
		at := start.Add(time.Duration(i) * (2 * time.Hour) / shares)
		l.add(signals.Change{Share: &signals.Share{ID: int64(i + 1), User: "u" + strconv.Itoa(r.IntN(20000)),
			Listing: fmt.Sprintf("L%07d", li), Party: "big", At: at}})
	}
	l.flush()
	for _, c := range []struct {
		name string
		to   time.Time
	}{{"at end", benchNow}, {"pinned 10s before the end", benchNow.Add(-10 * time.Second)}, {"pinned at 1h", start.Add(time.Hour)}} {
		b.Run(c.name, func(b *testing.B) {
			var got, n int
			r0, c0 := cpu(b, s)
			for b.Loop() {
				out, count, err := s.PartyShares(ctx, "big", start, c.to)
				if err != nil {
					b.Fatal(err)
				}
				got, n = len(out), count
			}
			reportCPU(b, s, r0, c0)
			b.ReportMetric(float64(got), "listings")
			b.ReportMetric(float64(n), "shares")
		})
	}
	// Trending's refresh over the same data: every engagement of the
	// horizon is read (the feed refreshes it every 30 s, not per request).
	b.Run("TopEngaged", func(b *testing.B) {
		r0, c0 := cpu(b, s)
		for b.Loop() {
			if _, err := s.TopEngaged(ctx, benchNow.Add(-24*time.Hour), benchNow, time.Hour, 1000); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, s, r0, c0)
	})
}

// BenchmarkMemory loads 200,000 party shares (20,000 listings Zipf, 20,000
// users, one party), 200,000 closet shares (no party) and 200,000 follows
// (20,000 users, 10 closets each of 5,000, Zipf in-degree), each under
// its own prefix, and reports Redis's bytes per row: MEMORY USAGE summed
// over the prefix's keys (exact: SAMPLES 0).
func BenchmarkMemory(b *testing.B) {
	const rows = 200000
	measure := func(b *testing.B, unit string, load func(l *loader, r *rand.Rand)) {
		s := openTest(b)
		l := &loader{b: b, s: s}
		load(l, rand.New(rand.NewPCG(5, 6)))
		l.flush()
		used, by := prefixBytes(b, s)
		for kind, n := range by {
			b.Logf("%-12s %6.1f B/%s", kind, float64(n)/rows, unit)
		}
		b.ReportMetric(float64(used)/rows, "B/"+unit)
		b.ReportMetric(float64(used)/(1<<20), "MiB")
	}
	start := benchNow.Add(-2 * time.Hour)
	b.Run("party shares", func(b *testing.B) {
		measure(b, "share", func(l *loader, r *rand.Rand) {
			z := rand.NewZipf(r, 1.1, 1, 19999)
			for i := range rows {
				l.add(signals.Change{Share: &signals.Share{ID: int64(i + 1), User: "u" + strconv.Itoa(r.IntN(20000)),
					Listing: fmt.Sprintf("L%07d", z.Uint64()), Party: "big", At: start.Add(time.Duration(i) * 2 * time.Hour / rows)}})
			}
		})
	})
	b.Run("closet shares", func(b *testing.B) {
		measure(b, "share", func(l *loader, r *rand.Rand) {
			for i := range rows {
				u := r.IntN(10000)
				l.add(signals.Change{Share: &signals.Share{ID: int64(i + 1), User: "u" + strconv.Itoa(u),
					Listing: fmt.Sprintf("L%07d", u*50+r.IntN(50)), At: start.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour))))}})
			}
		})
	})
	b.Run("follows", func(b *testing.B) {
		measure(b, "follow", func(l *loader, r *rand.Rand) {
			z := rand.NewZipf(r, 1.2, 1, 4999)
			for u := range rows / 10 {
				seen := map[uint64]bool{}
				for len(seen) < 10 {
					c := z.Uint64()
					if seen[c] {
						continue
					}
					seen[c] = true
					l.add(signals.Change{Follow: &signals.Follow{Follower: "u" + strconv.Itoa(u), Seller: "c" + strconv.FormatUint(c, 10),
						At: start.Add(-time.Duration(r.Int64N(int64(300 * 24 * time.Hour))))}})
				}
			}
		})
	})
}

// prefixBytes sums MEMORY USAGE over the data keys of s's prefix (its
// epoch and positions aside), in all and by kind of key (its name with
// the ids left out: {P:u:*}:sh, {P}:s:*, ...).
func prefixBytes(b *testing.B, s *Store) (int64, map[string]int64) {
	keys := prefixKeys(b, s.c, s.prefix)
	var total int64
	by := map[string]int64{}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		var kinds []string
		cmds, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[:n] {
				if !strings.HasSuffix(k, "}:epoch") && !strings.HasSuffix(k, "}:pos") {
					p.MemoryUsage(ctx, k, 0)
					kinds = append(kinds, keyKind(k, s.prefix))
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		for i, c := range cmds {
			v := c.(*redis.IntCmd).Val()
			total += v
			by[kinds[i]] += v
		}
		keys = keys[n:]
	}
	return total, by
}

func keyKind(k, prefix string) string {
	k = strings.TrimPrefix(k, "{"+prefix)
	tag, rest, _ := strings.Cut(k, "}")
	if t, _, ok := strings.Cut(tag, ":"); ok || tag != "" {
		_, kind, _ := strings.Cut(tag, ":")
		kind, _, _ = strings.Cut(kind, ":")
		tag = t + ":" + kind
	}
	if strings.HasPrefix(rest, ":s:") {
		rest = ":s:*"
	}
	return "{" + tag + "}" + rest
}

// BenchmarkApplyShares applies party shares (Zipf over 20,000 listings,
// 20,000 users) in batches of 500: one op is one share; the CPU figures
// are the signals stage's cost per share.
func BenchmarkApplyShares(b *testing.B) {
	s := openTest(b)
	l := &loader{b: b, s: s}
	r := rand.New(rand.NewPCG(7, 8))
	z := rand.NewZipf(r, 1.1, 1, 19999)
	start := benchNow.Add(-2 * time.Hour)
	id := int64(0)
	r0, c0 := cpu(b, s)
	for b.Loop() {
		id++
		l.add(signals.Change{Share: &signals.Share{ID: id, User: "u" + strconv.Itoa(r.IntN(20000)),
			Listing: fmt.Sprintf("L%07d", z.Uint64()), Party: "big", At: start.Add(time.Duration(id) * time.Millisecond)}})
		if len(l.batch) == 500 {
			l.flush()
		}
	}
	l.flush()
	r1, c1 := cpu(b, s)
	b.ReportMetric((r1-r0)*1e6/float64(b.N), "redis-cpu-µs/share")
	b.ReportMetric((c1-c0)*1e6/float64(b.N), "client-cpu-µs/share")
}
