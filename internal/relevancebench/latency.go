package relevancebench

import (
	"context"
	"net/url"
	"time"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/signals/memory"
)

// Search latency, anonymous against personalized.

// maxLatencyQueries bounds the distinct queries of the latency runs.
const maxLatencyQueries = 400

// latency measures search anonymous vs personalized, the same held-out
// queries in the same run, on the latency index when given (else the
// run's own), with and without the answer cache.
func (c *Config) latency(ctx context.Context, log *fixtures.ShopperLog, own *embedded.Index, store *memory.Store, pz *events.Pseudonymizer) (*Latency, error) {
	x, listings := own, c.Listings
	if c.LatencyIndexDir != "" {
		c.logf("opening the latency index %s (%d listings)", c.LatencyIndexDir, c.LatencyListings)
		big, err := embedded.Open(ctx, embedded.Config{Dir: c.LatencyIndexDir})
		if err != nil {
			return nil, err
		}
		defer big.Close()
		x, listings = big, c.LatencyListings
	}
	us, _ := units(log, min(c.Units, maxLatencyQueries))
	strength := c.Strengths[len(c.Strengths)-1]
	lat := &Latency{Listings: listings, Strength: strength, Runs: map[string]benchkit.Summary{}}
	for _, uncached := range []bool{false, true} {
		h, secret, err := server(ctx, x, store, pz, strength, uncached)
		if err != nil {
			return nil, err
		}
		name := map[bool]string{false: "cached", true: "uncached"}[uncached]
		c.logf("search latency (%s): %d queries × %d rounds, anonymous then personalized", name, len(us), c.LatencyRounds)
		var a, p []time.Duration
		var ta, tp time.Duration
		for round := 0; round <= c.LatencyRounds; round++ { // round 0 warms up
			for _, u := range us {
				for _, personal := range []bool{false, true} {
					q := url.Values{"q": {u.query}}
					if personal {
						q.Set("user", log.Shoppers[u.shopper].ID)
					}
					start := time.Now()
					if _, err := get(h, secret, "/v1/search", q); err != nil {
						return nil, err
					}
					d := time.Since(start)
					if round == 0 {
						continue
					}
					if personal {
						p, tp = append(p, d), tp+d
					} else {
						a, ta = append(a, d), ta+d
					}
				}
			}
		}
		lat.Runs[name+"_anonymous"] = benchkit.Summarize(a, ta, 1)
		lat.Runs[name+"_personalized"] = benchkit.Summarize(p, tp, 1)
	}
	return lat, nil
}
