package purgebench

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
)

// The mix of the writes besides the sales, as shares of them: mostly
// churn that changes what pages show without removing anything.
const (
	mixPrice   = 0.70 // a price change of a seeded listing
	mixLike    = 0.12 // a like (a counter-only change)
	mixShare   = 0.12 // a share, not into a party (counter-only)
	mixListing = 0.06 // a new listing, a copy of a seeded one
)

func mixString() string {
	return fmt.Sprintf("%.0f%% price updates, %.0f%% likes, %.0f%% shares, %.0f%% new listings",
		100*mixPrice, 100*mixLike, 100*mixShare, 100*mixListing)
}

// writes queues the mixed changes (pipeline.LoadConfig.Change).
type writes struct {
	g         *fixtures.Generator
	count     int
	workers   int
	party     string
	partyProb float64 // of a change being a share into the party
	run       int64
	seq       atomic.Int64
}

func newWrites(cfg *Config, party string, rate float64) *writes {
	g, _ := fixtures.NewGenerator(fixtures.Options{Seed: cfg.Seed, Count: cfg.Listings})
	return &writes{g: g, count: cfg.Listings, workers: max(cfg.Workers, 1), party: party, partyProb: cfg.PartyShareRate / rate, run: time.Now().Unix()}
}

// change queues one change into b.
func (w *writes) change(rng *rand.Rand, worker int, b *pgx.Batch) {
	// Each worker changes its own listings: no two transactions wait on
	// each other's rows.
	id := fixtures.ListingID((rng.IntN(max(w.count/w.workers, 1))*w.workers + worker) % w.count)
	user := fmt.Sprintf("pb-u%d", rng.IntN(20000))
	if rng.Float64() < w.partyProb {
		b.Queue(`INSERT INTO shares (user_id, listing_id, party_id) VALUES ($1, $2, $3)`, user, id, w.party)
		return
	}
	switch u := rng.Float64(); {
	case u < mixPrice:
		b.Queue(`UPDATE listings SET price_cents = GREATEST(100, price_cents + $2), updated_at = now() WHERE id = $1`, id, int64(rng.IntN(2001)-1000))
	case u < mixPrice+mixLike:
		b.Queue(`INSERT INTO likes (user_id, listing_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, user, id)
	case u < mixPrice+mixLike+mixShare:
		b.Queue(`INSERT INTO shares (user_id, listing_id) VALUES ($1, $2)`, user, id)
	default:
		l := w.g.Listing(rng.IntN(w.count))
		now := time.Now().UTC()
		l.ID = fmt.Sprintf("pb-%d-%d", w.run, w.seq.Add(1))
		l.Status, l.CreatedAt, l.UpdatedAt = rummage.StatusAvailable, now, now
		l.LikeCount, l.ShareCount, l.LastSharedAt, l.AvailableAt = 0, 0, nil, nil
		fixtures.QueueListingInsert(b, &l)
	}
}
