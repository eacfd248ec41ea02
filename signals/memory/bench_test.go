package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

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
		d.follows = nf
		ids := d.listings + d.closets + 20
		b.ReportMetric(float64(names-base)/float64(ids), "B/id")
		b.ReportMetric(float64(shares-names)/float64(d.shares), "B/share")
		b.ReportMetric(float64(follows-shares)/float64(d.follows), "B/follow")
		b.ReportMetric(float64(follows-base)/(1<<20), "MiB-total")
		fmt.Fprintf(os.Stderr, "signals memory: %d shares, %d follows, %d ids: %.1f B/share, %.1f B/follow, %.1f B/id, %.0f MiB in all\n",
			d.shares, d.follows, ids, float64(shares-names)/float64(d.shares), float64(follows-shares)/float64(d.follows),
			float64(names-base)/float64(ids), float64(follows-base)/(1<<20))
		runtime.KeepAlive(s)
	}
}
