package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/signals"
)

// The benchmarks' data set, scaled by RUMMAGE_SIGNALS_SHARES (default 1M
// shares and as many follows): 100k closets, 1M listings, shares Zipf over
// listings, 70% into one of 20 parties (party p0 the biggest), follows with
// a Zipf in-degree (a few closets with most followers).
type dataSet struct {
	shares, follows int
	closets         int
	listings        int
	start           time.Time
}

func benchData() dataSet {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("RUMMAGE_SIGNALS_SHARES")); err == nil && v > 0 {
		n = v
	}
	return dataSet{shares: n, follows: n, closets: 100_000, listings: 1_000_000, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (d dataSet) listing(i uint64) string { return "listing-" + strconv.FormatUint(i, 36) }
func (d dataSet) closet(i uint64) string  { return "closet-" + strconv.FormatUint(i, 36) }

// load applies the data set's shares (and follows, with follows) in
// batches of 10k, each share 100 ms after the previous one.
func (d dataSet) load(b testing.TB, s *Store, shares, follows bool) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	zl := rand.NewZipf(r, 1.1, 4, uint64(d.listings-1))
	zc := rand.NewZipf(r, 1.2, 4, uint64(d.closets-1))
	var v uint64
	batch := make([]signals.Change, 0, 10_000)
	flush := func() {
		if err := s.Apply(ctx, signals.Batch{Changes: batch}); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	if shares {
		for i := 0; i < d.shares; i++ {
			v++
			party := ""
			if r.IntN(10) < 7 {
				party = "party-" + strconv.Itoa(int(zc.Uint64()%20))
			}
			batch = append(batch, signals.Change{Version: v, Share: &signals.Share{
				ID: int64(i + 1), User: d.closet(r.Uint64N(uint64(d.closets))), Listing: d.listing(zl.Uint64()),
				Party: party, At: d.start.Add(time.Duration(i) * 100 * time.Millisecond)}})
			if len(batch) == cap(batch) {
				flush()
			}
		}
	}
	if follows {
		for i := 0; i < d.follows; i++ {
			v++
			batch = append(batch, signals.Change{Version: v, Follow: &signals.Follow{
				Follower: d.closet(r.Uint64N(uint64(d.closets))), Seller: d.closet(zc.Uint64()),
				At: d.start.Add(time.Duration(i) * time.Second)}})
			if len(batch) == cap(batch) {
				flush()
			}
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory loads the data set and reports the heap it takes: bytes
// per share and per follow beyond the interned ids, and the ids' own cost
// per distinct id. Run it with -benchtime=1x.
//
//	go test ./signals/memory -run '^$' -bench Memory -benchtime 1x
func BenchmarkMemory(b *testing.B) {
	d := benchData()
	for b.Loop() {
		// The ids alone: every closet, listing and party interned.
		base := heapNow()
		s, _ := Open("")
		for i := 0; i < d.listings; i++ {
			s.st.intern(d.listing(uint64(i)))
		}
		for i := 0; i < d.closets; i++ {
			s.st.intern(d.closet(uint64(i)))
		}
		for i := 0; i < 20; i++ {
			s.st.intern("party-" + strconv.Itoa(i))
		}
		names := heapNow()
		d.load(b, s, true, false)
		shares := heapNow()
		d.load(b, s, false, true)
		follows := heapNow()
		nf := 0 // distinct follows (a Zipf draw repeats some pairs)
		for _, n := range s.st.followers {
			nf += int(n)
		}
		ids := d.listings + d.closets + 20
		b.ReportMetric(float64(names-base)/float64(ids), "B/id")
		b.ReportMetric(float64(shares-names)/float64(d.shares), "B/share")
		b.ReportMetric(float64(follows-shares)/float64(nf), "B/follow")
		b.ReportMetric(float64(follows-base)/(1<<20), "MiB-total")
		fmt.Fprintf(os.Stderr, "signals memory: %d shares, %d follows, %d ids: %.1f B/share, %.1f B/follow, %.1f B/id, %.0f MiB in all\n",
			d.shares, nf, ids, float64(shares-names)/float64(d.shares), float64(follows-shares)/float64(nf),
			float64(names-base)/float64(ids), float64(follows-base)/(1<<20))
		runtime.KeepAlive(s)
	}
}

var loaded struct {
	once sync.Once
	s    *Store
	d    dataSet
}

// loadedStore is the data set loaded once for the read benchmarks, plus a
// user following 1,000 and one following 5,000 closets.
func loadedStore(b *testing.B) (*Store, dataSet) {
	loaded.once.Do(func() {
		d := benchData()
		s, _ := Open("")
		d.load(b, s, true, true)
		var cs []signals.Change
		for i := 0; i < 5000; i++ {
			at := d.start.Add(time.Duration(i) * time.Second)
			cs = append(cs, signals.Change{Version: 1 << 40, Follow: &signals.Follow{Follower: "fan-5000", Seller: d.closet(uint64(i * 17 % d.closets)), At: at}})
			if i < 1000 {
				cs = append(cs, signals.Change{Version: 1 << 40, Follow: &signals.Follow{Follower: "fan-1000", Seller: d.closet(uint64(i * 31 % d.closets)), At: at}})
			}
		}
		if err := s.Apply(context.Background(), signals.Batch{Changes: cs}); err != nil {
			b.Fatal(err)
		}
		loaded.s, loaded.d = s, d
	})
	return loaded.s, loaded.d
}

func (d dataSet) end() time.Time {
	return d.start.Add(time.Duration(d.shares) * 100 * time.Millisecond)
}

// BenchmarkPartyShares reads the biggest party's feed as of its end (the
// first page) and as of its middle (a page of a walk begun then: every
// listing shared since is read back along its chain).
func BenchmarkPartyShares(b *testing.B) {
	s, d := loadedStore(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		to   time.Time
	}{{"first page", d.end().Add(time.Millisecond)}, {"as of the middle", d.start.Add(d.end().Sub(d.start) / 2)}} {
		b.Run(tc.name, func(b *testing.B) {
			var n, shares int
			cpuLoop(b, func() {
				l, c, err := s.PartyShares(ctx, "party-0", d.start, tc.to)
				if err != nil {
					b.Fatal(err)
				}
				n, shares = len(l), c
			})
			b.ReportMetric(float64(n), "listings")
			b.ReportMetric(float64(shares), "shares")
		})
	}
}

// BenchmarkSharedBy merges the share timelines of the closets a user
// follows (the following feed's 30 days, at most 50k).
func BenchmarkSharedBy(b *testing.B) {
	s, d := loadedStore(b)
	ctx := context.Background()
	for _, fan := range []string{"fan-1000", "fan-5000"} {
		b.Run(fan, func(b *testing.B) {
			closets, err := s.Following(ctx, fan, time.Time{}, 0)
			if err != nil {
				b.Fatal(err)
			}
			var n int
			cpuLoop(b, func() {
				l, err := s.SharedBy(ctx, closets, d.end().Add(-30*24*time.Hour), d.end(), 50_000)
				if err != nil {
					b.Fatal(err)
				}
				n = l.Len()
			})
			b.ReportMetric(float64(n), "listings")
		})
	}
}

// BenchmarkTopEngaged is the trending source: the last 24 hours of likes
// and shares, decayed with a one-hour half-life.
func BenchmarkTopEngaged(b *testing.B) {
	s, d := loadedStore(b)
	ctx := context.Background()
	cpuLoop(b, func() {
		if _, err := s.TopEngaged(ctx, d.end().Add(-24*time.Hour), d.end(), time.Hour, 500); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkFollowing reads whom a user following 5,000 closets follows.
func BenchmarkFollowing(b *testing.B) {
	s, _ := loadedStore(b)
	ctx := context.Background()
	cpuLoop(b, func() {
		if _, err := s.Following(ctx, "fan-5000", time.Time{}, 0); err != nil {
			b.Fatal(err)
		}
	})
}

// cpuLoop runs f as the benchmark's loop and reports its process CPU time
// per call too: on a machine shared with other work it is steadier than
// the wall time.
func cpuLoop(b *testing.B, f func()) {
	c0, n := benchkit.ProcessCPU(), 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(benchkit.ProcessCPU()-c0)/float64(n)/1e3, "cpu-µs/op")
}

// BenchmarkRecovery loads the data set into a store on disk, snapshots it,
// and reports the snapshot's size and time and the time a restart takes
// to recover from it (with the log tail of one more batch).
//
//	go test ./signals/memory -run '^$' -bench Recovery -benchtime 1x
func BenchmarkRecovery(b *testing.B) {
	d := benchData()
	for b.Loop() {
		dir := b.TempDir()
		s, err := OpenConfig(Config{Dir: dir, SnapshotBytes: 1 << 40})
		if err != nil {
			b.Fatal(err)
		}
		c0, t0 := benchkit.ProcessCPU(), time.Now()
		d.load(b, s, true, true)
		load, loadCPU := time.Since(t0), benchkit.ProcessCPU()-c0
		c0, t0 = benchkit.ProcessCPU(), time.Now()
		if err := s.Snapshot(); err != nil {
			b.Fatal(err)
		}
		snap, snapCPU := time.Since(t0), benchkit.ProcessCPU()-c0
		if err := s.Apply(context.Background(), signals.Batch{Changes: []signals.Change{{Version: 1 << 50, Follow: &signals.Follow{Follower: "a", Seller: "b", At: d.start}}}}); err != nil {
			b.Fatal(err)
		}
		s.Close()
		fi, _ := os.Stat(dir + "/" + snapshotName)
		c0, t0 = benchkit.ProcessCPU(), time.Now()
		r, err := OpenConfig(Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		rec, recCPU := time.Since(t0), benchkit.ProcessCPU()-c0
		if rr := r.Recovery(); !rr.Snapshot || rr.Records != 1 {
			b.Fatalf("recovery %+v", rr)
		}
		r.Close()
		b.ReportMetric(float64(fi.Size())/(1<<20), "snapshot-MiB")
		b.ReportMetric(rec.Seconds(), "recover-s")
		fmt.Fprintf(os.Stderr, "signals memory on disk: %d shares + %d follows applied in %v (%v CPU, fsync per 10k batch); snapshot %.0f MiB in %v (%v CPU); recovery %v (%v CPU)\n",
			d.shares, d.follows, load.Round(time.Millisecond), loadCPU.Round(time.Millisecond), float64(fi.Size())/(1<<20),
			snap.Round(time.Millisecond), snapCPU.Round(time.Millisecond), rec.Round(time.Millisecond), recCPU.Round(time.Millisecond))
	}
}

// BenchmarkPartySharesLarge is a party with 200k shared listings (1M
// shares, Zipf over them), its first page and a page of a walk begun
// 10 seconds (10k shares) earlier.
func BenchmarkPartySharesLarge(b *testing.B) {
	const shares, listings = 1_000_000, 200_000
	s, _ := Open("")
	d := benchData()
	r := rand.New(rand.NewPCG(3, 4))
	z := rand.NewZipf(r, 1.05, 2, listings-1)
	var batch []signals.Change
	seen := map[uint64]bool{}
	for i := 0; i < shares; i++ {
		l := z.Uint64()
		if i < listings { // every listing at least once
			l = uint64(i)
		}
		seen[l] = true
		batch = append(batch, signals.Change{Version: uint64(i + 1), Share: &signals.Share{ID: int64(i + 1),
			User: d.closet(r.Uint64N(100_000)), Listing: d.listing(l), Party: "big", At: d.start.Add(time.Duration(i) * time.Millisecond)}})
		if len(batch) == 10_000 {
			if err := s.Apply(context.Background(), signals.Batch{Changes: batch}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	end := d.start.Add(shares * time.Millisecond)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		to   time.Time
	}{{"first page", end.Add(time.Millisecond)}, {"walk begun 10s before", end.Add(-10 * time.Second)}} {
		b.Run(tc.name, func(b *testing.B) {
			var n int
			cpuLoop(b, func() {
				l, _, err := s.PartyShares(ctx, "big", d.start, tc.to)
				if err != nil {
					b.Fatal(err)
				}
				n = len(l)
			})
			b.ReportMetric(float64(n), "listings")
		})
	}
}

// BenchmarkApplyListingOrder applies 100k shares into one party in
// listing order, as a snapshot of the shares table arrives (each listing's
// shares in turn, their instants all over the window): out of order for
// the party's log and the sharers' timelines.
func BenchmarkApplyListingOrder(b *testing.B) {
	const n, listings = 100_000, 5_000
	r := rand.New(rand.NewPCG(5, 5))
	cs := make([]signals.Change, n)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range cs {
		l := i * listings / n // listing order
		cs[i] = signals.Change{Version: uint64(i + 1), Share: &signals.Share{ID: int64(i + 1), User: "u" + strconv.Itoa(r.IntN(200)),
			Listing: "l" + strconv.Itoa(l), Party: "p", At: start.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))}}
	}
	for b.Loop() {
		s, _ := Open("")
		for i := 0; i < n; i += 10_000 {
			if err := s.Apply(context.Background(), signals.Batch{Changes: cs[i : i+10_000]}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/share")
}
