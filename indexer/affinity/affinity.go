package affinity

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals"
)

// Profiles is the write side of the profile store (signals.ProfileStore's
// contract): both signals stores implement it.
type Profiles interface {
	// ApplyProfiles applies deltas and positions atomically.
	ApplyProfiles(ctx context.Context, b signals.ProfileBatch) error
	// ProfilePositions returns the events topic positions applied.
	ProfilePositions(ctx context.Context) ([]signals.Position, error)
}

// Group is the consumer group of the affinity consumer under a topic
// prefix: its own, beside the rollups' positions.
func Group(prefix string) string { return prefix + "-affinity" }

// Defaults of Config.
const (
	DefaultBatch          = 1000
	DefaultWait           = 100 * time.Millisecond
	DefaultClickWeight    = 1.0
	DefaultCartWeight     = 3.0
	DefaultPurchaseWeight = 6.0
)

// Config configures a Consumer. Zero values mean the defaults.
type Config struct {
	// Batch and Wait bound one fetch.
	Batch int
	Wait  time.Duration
	// Weights of each event type in a profile: an add-to-cart says more
	// than a click, a purchase most.
	ClickWeight, CartWeight, PurchaseWeight float64
	Logger                                  *slog.Logger
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	c.Batch = cmp.Or(c.Batch, DefaultBatch)
	c.Wait = cmp.Or(c.Wait, DefaultWait)
	c.ClickWeight = cmp.Or(c.ClickWeight, DefaultClickWeight)
	c.CartWeight = cmp.Or(c.CartWeight, DefaultCartWeight)
	c.PurchaseWeight = cmp.Or(c.PurchaseWeight, DefaultPurchaseWeight)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration the consumer cannot run.
func (c Config) Validate() error {
	if c.Batch < 0 || c.Wait < 0 || c.ClickWeight < 0 || c.CartWeight < 0 || c.PurchaseWeight < 0 {
		return errors.New("affinity: batch, wait and weights must not be negative")
	}
	return nil
}

// Consumer applies the events topic to profiles.
type Consumer struct {
	cfg      Config
	src      indexer.Source
	store    Profiles
	listings query.Loader
	applied  map[partition]int64 // the store's positions, read once then kept
}

type partition struct {
	topic string
	part  int
}

// New returns a consumer of src (a kafkabus.Reader of events.Topic in a
// consumer group of its own: the rollups have theirs) into store, looking
// listings up in listings.
func New(cfg Config, src indexer.Source, store Profiles, listings query.Loader) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg.WithDefaults(), src: src, store: store, listings: listings}, nil
}

// Run fetches, applies and commits until ctx ends or an error that a
// retry cannot mend (the caller restarts the role).
func (c *Consumer) Run(ctx context.Context) error {
	for {
		msgs, err := c.src.Fetch(ctx, c.cfg.Batch, c.cfg.Wait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("affinity: %w", err)
		}
		for {
			if err = c.Apply(ctx, msgs); err == nil || ctx.Err() != nil {
				break
			}
			c.cfg.Logger.Warn("affinity: apply failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := c.src.Commit(ctx, msgs); err != nil && ctx.Err() == nil {
			return fmt.Errorf("affinity: commit: %w", err)
		}
	}
}

// Apply applies one batch of events topic messages (in offset order per
// partition) and their positions. Messages the store already holds are
// skipped; undecodable ones are logged and skipped (the API validated
// them before they were written).
func (c *Consumer) Apply(ctx context.Context, msgs []indexer.Message) error {
	if c.applied == nil {
		ps, err := c.store.ProfilePositions(ctx)
		if err != nil {
			return err
		}
		c.applied = map[partition]int64{}
		for _, p := range ps {
			c.applied[partition{p.Topic, p.Partition}] = p.Offset
		}
	}
	type want struct {
		user   string
		weight float64
		at     time.Time
	}
	var evs []want
	var ids []string
	last := map[partition]int64{}
	for _, m := range msgs {
		k := partition{m.Topic, m.Partition}
		if done, ok := c.applied[k]; ok && m.Offset <= done {
			continue
		}
		last[k] = max(last[k], m.Offset)
		var e events.Event
		if err := json.Unmarshal(m.Value, &e); err != nil {
			c.cfg.Logger.Warn("affinity: undecodable event skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			continue
		}
		w := c.weight(e.Type)
		if w == 0 || e.User == "" || e.ListingID == "" {
			continue
		}
		evs = append(evs, want{e.User, w, e.At})
		ids = append(ids, e.ListingID)
	}
	if len(last) == 0 {
		return nil
	}
	b := signals.ProfileBatch{}
	if len(ids) > 0 {
		docs, err := c.listings.Load(ctx, ids)
		if err != nil {
			return fmt.Errorf("affinity: load listings: %w", err)
		}
		for i, d := range docs {
			if d == nil {
				continue // deleted since: nothing to learn
			}
			for _, f := range ranking.FeaturesOf(d.Brand, d.CategoryPath(), d.Size, d.PriceCents, d.SellerID) {
				if f != "" {
					b.Deltas = append(b.Deltas, signals.AffinityDelta{User: evs[i].user, Feature: f, Weight: evs[i].weight, At: evs[i].at})
				}
			}
		}
	}
	for k, off := range last {
		b.Positions = append(b.Positions, signals.Position{Topic: k.topic, Partition: k.part, Offset: off})
	}
	signals.SortPositions(b.Positions)
	if err := c.store.ApplyProfiles(ctx, b); err != nil {
		return err
	}
	for k, off := range last {
		c.applied[k] = off
	}
	return nil
}

func (c *Consumer) weight(t events.Type) float64 {
	switch t {
	case events.Click:
		return c.cfg.ClickWeight
	case events.AddToCart:
		return c.cfg.CartWeight
	case events.Purchase:
		return c.cfg.PurchaseWeight
	}
	return 0
}

// Forgetter removes a profile (signals.ProfileStore.ForgetProfile).
type Forgetter interface {
	ForgetProfile(ctx context.Context, user string) error
}

// Forget removes user's affinity profile (kept under their pseudonym)
// from store: what `rummage users forget` calls. The half of a profile
// that likes, shares and follows give goes with the user's rows; events
// still on the topic for user, applied later, start a new profile.
func Forget(ctx context.Context, store Forgetter, pz *events.Pseudonymizer, user string) error {
	if user == "" {
		return errors.New("affinity: forget: empty user")
	}
	if err := store.ForgetProfile(ctx, pz.Of(user)); err != nil {
		return fmt.Errorf("affinity: forget: %w", err)
	}
	return nil
}
