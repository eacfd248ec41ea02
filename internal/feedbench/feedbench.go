package feedbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
)

// TargetListings is the catalog size the targets are set for.
const TargetListings = 1_000_000

// DefaultNow is the base instant of the generated catalog and of every
// request.
var DefaultNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// DefaultPartyShares is the mean shares into a past party per matching
// listing: twice the generator's default, so that some past party has
// about 20k shared listings at 1M listings.
const DefaultPartyShares = 2

// Config configures a run.
type Config struct {
	Listings int
	// Closets is the number of sellers (default Listings/10); Follows the
	// expected follows (default 5×Listings).
	Closets, Follows int
	Seed             uint64
	Now              time.Time
	// PartyShares and LivePartyShares are fixtures.Social's knobs (0:
	// DefaultPartyShares and the generator's default).
	PartyShares, LivePartyShares float64

	// DatabaseURL is the scratch database the SQL baselines run on; it is
	// created when missing, and reloaded when it holds another data set
	// (only a database this bench loaded: it refuses any other non-empty
	// one). Reload reloads it regardless.
	DatabaseURL string
	Reload      bool
	// IndexDir holds the embedded index, reused when it was built for the
	// same data set; Rebuild builds it again.
	IndexDir string
	Rebuild  bool
	// SignalsDir is the embedded signals store's directory, missing or
	// empty ("": a temporary one, removed afterwards).
	SignalsDir string
	// SparseShareIDs keeps the generator's share ids in the signals store
	// (listing<<20 | k) instead of numbering the shares 1..n in time
	// order as a bigserial would.
	SparseShareIDs bool

	// Plan measures each scenario on the feed, BaselinePlan on Postgres.
	Plan, BaselinePlan benchkit.Plan
	// Log receives progress lines (nil: none).
	Log io.Writer
	// Only, when set, names the scenarios to run (default all).
	Only []string
	// Profile, when set, is started before the measured feed requests of
	// each scenario (not the loads, not the SQL) and its stop called after
	// them.
	Profile func(scenario string) (stop func() error, err error)
}

func (c *Config) withDefaults() {
	if c.Closets == 0 {
		c.Closets = max(10, c.Listings/10)
	}
	if c.Follows == 0 {
		c.Follows = 5 * c.Listings
	}
	if c.PartyShares == 0 {
		c.PartyShares = DefaultPartyShares
	}
	if c.Now.IsZero() {
		c.Now = DefaultNow
	}
}

// Validate reports a configuration Run cannot run.
func (c *Config) Validate() error {
	switch {
	case c.Listings < 1:
		return errors.New("feedbench: Listings must be at least 1")
	case c.Closets < 0 || c.Follows < 0 || c.PartyShares < 0 || c.LivePartyShares < 0:
		return errors.New("feedbench: Closets, Follows and the party shares must not be negative")
	case c.DatabaseURL == "":
		return errors.New("feedbench: DatabaseURL is required (the SQL baselines run there)")
	case c.IndexDir == "":
		return errors.New("feedbench: IndexDir is required")
	}
	if err := c.Plan.Validate(); err != nil {
		return err
	}
	return c.BaselinePlan.Validate()
}

// options are the generator's options of the data set.
func (c *Config) options() fixtures.Options {
	return fixtures.Options{Seed: c.Seed, Now: c.Now, Count: c.Listings, Sellers: c.Closets,
		Social: &fixtures.Social{Follows: c.Follows, PartyShares: c.PartyShares, LivePartyShares: c.LivePartyShares}}
}

// dataset identifies a generated data set (what a reused database or
// index must have been built from).
type dataset struct {
	Listings        int       `json:"listings"`
	Closets         int       `json:"closets"`
	Follows         int       `json:"follows"`
	Seed            uint64    `json:"seed"`
	Now             time.Time `json:"now"`
	PartyShares     float64   `json:"party_shares"`
	LivePartyShares float64   `json:"live_party_shares"`
	Version         int       `json:"version"`
}

const datasetVersion = 1

func (c *Config) dataset() dataset {
	return dataset{Listings: c.Listings, Closets: c.Closets, Follows: c.Follows, Seed: c.Seed, Now: c.Now.UTC(),
		PartyShares: c.PartyShares, LivePartyShares: c.LivePartyShares, Version: datasetVersion}
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, a...)...)
	}
}

// Run builds (or reuses) the data set in Postgres, the embedded index and
// the signals store, and measures every scenario.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg.dataset(), LoadAvgStart: benchkit.LoadAvg(), Targets: cfg.Listings >= TargetListings}
	c := &cfg

	pg, err := preparePostgres(ctx, c)
	if err != nil {
		return nil, err
	}
	defer pg.close()
	rep.Postgres = pg.load

	x, build, err := prepareIndex(ctx, c)
	if err != nil {
		return nil, err
	}
	defer x.Close()
	rep.Index = build

	dir, cleanup, err := benchkit.WorkDir(c.SignalsDir, "rummage-feedbench-signals-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	st, ds, mem, err := loadSignals(ctx, c, dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rep.Data, rep.Memory = ds.summary, mem

	sc, err := newScenarios(ctx, c, x, st, pg, ds)
	if err != nil {
		return nil, err
	}
	if err := sc.run(ctx, rep); err != nil {
		return nil, err
	}
	rep.LoadAvgEnd = benchkit.LoadAvg()
	return rep, nil
}
