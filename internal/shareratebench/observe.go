package shareratebench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rummage/rummage/internal/devbench"
)

// pageSize is the party feed's first page the pollers read (the API's
// largest).
const pageSize = 100

// sighting is a read that showed a listing at a newer party_shared_at
// than any read before.
type sighting struct {
	at       time.Time // the read's answer arrived
	sharedMs int64
}

// pageRead is one read of the first page.
type pageRead struct {
	at    time.Time
	full  bool  // the page held pageSize hits
	minMs int64 // its oldest party_shared_at
}

// observer polls the party feed's first page and keeps, per listing, the
// reads that showed it newer, and every read's oldest share.
type observer struct {
	api      *devbench.Client
	path     string
	pollers  int
	interval time.Duration

	mu       sync.Mutex
	seen     map[string][]sighting
	reads    []pageRead
	errs     int
	cache    map[string]int // Cache-Status of the reads, by its first word after "rummage;"
	pollTime []time.Duration
}

func newObserver(api *devbench.Client, party string, pollers int, interval time.Duration) *observer {
	return &observer{api: api, path: "/v1/parties/" + url.PathEscape(party) + "/feed?limit=" + strconv.Itoa(pageSize),
		pollers: pollers, interval: interval, seen: map[string][]sighting{}, cache: map[string]int{}}
}

// run polls until ctx ends, the pollers staggered over the interval.
func (o *observer) run(ctx context.Context) {
	var wg sync.WaitGroup
	for p := range o.pollers {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(p) * o.interval / time.Duration(o.pollers))
			for ctx.Err() == nil {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				next = next.Add(o.interval)
				if now := time.Now(); next.Before(now) {
					next = now // a slow read: no catching up in a burst
				}
				o.poll(ctx)
			}
		})
	}
	wg.Wait()
}

type feedPage struct {
	Hits []struct {
		ID            string     `json:"id"`
		PartySharedAt *time.Time `json:"party_shared_at"`
	} `json:"hits"`
}

func (o *observer) poll(ctx context.Context) {
	t0 := time.Now()
	st, cs, body, err := o.api.Get(ctx, o.path)
	at := time.Now()
	if ctx.Err() != nil {
		return
	}
	var page feedPage
	if err == nil && st == http.StatusOK {
		err = json.Unmarshal(body, &page)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pollTime = append(o.pollTime, at.Sub(t0))
	if err != nil || st != http.StatusOK {
		o.errs++
		return
	}
	o.cache[cacheKind(cs)]++
	r := pageRead{at: at, full: len(page.Hits) >= pageSize}
	for i, h := range page.Hits {
		if h.PartySharedAt == nil {
			continue
		}
		ms := h.PartySharedAt.UnixMilli()
		if i == 0 || ms < r.minMs {
			r.minMs = ms
		}
		s := o.seen[h.ID]
		if len(s) == 0 || s[len(s)-1].sharedMs < ms {
			o.seen[h.ID] = append(s, sighting{at: at, sharedMs: ms})
		}
	}
	o.reads = append(o.reads, r)
}

// cacheKind is "hit", "stale", "miss" ... of a Cache-Status, or "none".
func cacheKind(cs string) string {
	rest, ok := strings.CutPrefix(cs, "rummage; ")
	if !ok {
		return "none"
	}
	kind, _, _ := strings.Cut(rest, ";")
	if strings.Contains(rest, "stale") {
		return kind + " (stale)"
	}
	return kind
}

// visible is when a share of listing id created at createdMs and
// committed at committed was first at the top of the feed, the earlier of
// two reads: the first that showed the listing at or after createdMs (at
// the commit when a read before it did: another share of the listing,
// created no earlier, was already shown), and the first after the commit
// whose full page was entirely newer (displaced: a burst pushed the
// listing below the first page before a read saw it there, or a later
// share of it is shown only after it came back up). ok is false when
// neither happened.
func (o *observer) visible(id string, createdMs int64, committed time.Time) (at time.Time, displaced, ok bool) {
	s := o.seen[id]
	if i := sort.Search(len(s), func(i int) bool { return s[i].sharedMs >= createdMs }); i < len(s) {
		at, ok = s[i].at, true
		if at.Before(committed) {
			return committed, false, true
		}
	}
	j := sort.Search(len(o.reads), func(i int) bool { return !o.reads[i].at.Before(committed) })
	for ; j < len(o.reads) && (!ok || o.reads[j].at.Before(at)); j++ {
		if r := o.reads[j]; r.full && r.minMs > createdMs {
			return r.at, true, true
		}
	}
	return at, false, ok
}
