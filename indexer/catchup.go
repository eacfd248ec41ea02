package indexer

import (
	"context"
	"sync"
	"time"
)

// TopicPartition names one partition of a change topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Positions reads, per partition of the change topics, the end of the log
// (the offset the next message will get) and the position the indexer's
// consumer group has committed (the next offset it will read).
// kafkabus.Positions implements it.
type Positions interface {
	Positions(ctx context.Context) (end, committed map[TopicPartition]int64, err error)
}

// CatchUp tells when an indexer that (re)starts has caught up: it records
// the end of the log at start, and is caught up once the committed
// positions reach it, or once the lag is at most MaxLag. It then stays
// caught up: a burst later is lag to report, not a reason to leave a load
// balancer's rotation. /readyz asks it (api.WithReadiness).
type CatchUp struct {
	src    Positions
	maxLag int64
	every  time.Duration

	mu       sync.Mutex
	target   map[TopicPartition]int64
	caughtUp bool
	checked  time.Time
	lag      int64
}

// NewCatchUp returns a CatchUp over src; maxLag 0 means the log end seen
// at start must be reached.
func NewCatchUp(src Positions, maxLag int64) *CatchUp {
	return &CatchUp{src: src, maxLag: maxLag, every: time.Second}
}

// Start records the end of the log to catch up with. Call it when the
// process starts, before the indexer runs; without it the first Check
// records it.
func (c *CatchUp) Start(ctx context.Context) error {
	end, _, err := c.src.Positions(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.target = end
	c.mu.Unlock()
	return nil
}

// Check returns the lag (events in the log not committed yet) and whether
// the indexer has caught up. It asks src at most once a second; readiness
// probes may call it as often as they like.
func (c *CatchUp) Check(ctx context.Context) (lag int64, caughtUp bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checked.IsZero() && time.Since(c.checked) < c.every {
		return c.lag, c.caughtUp, nil
	}
	end, committed, err := c.src.Positions(ctx)
	if err != nil {
		return 0, c.caughtUp, err
	}
	if c.target == nil {
		c.target = end
	}
	lag = 0
	for tp, e := range end {
		lag += max(e-committed[tp], 0)
	}
	if !c.caughtUp {
		reached := true
		for tp, e := range c.target {
			reached = reached && committed[tp] >= e
		}
		c.caughtUp = reached || (c.maxLag > 0 && lag <= c.maxLag)
	}
	c.lag, c.checked = lag, time.Now()
	return lag, c.caughtUp, nil
}
