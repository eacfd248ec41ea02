package relevancebench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/affinity"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/internal/searchbench"
	"github.com/rummage/rummage/keys"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/ranking"
	"github.com/rummage/rummage/signals"
	"github.com/rummage/rummage/signals/memory"
)

// The training part: the shoppers' likes and shares into the signals
// store, the index, and the events replayed through the API.

// applySocial applies the likes and shares rows of the training part
// (before the log's split) to store, as the indexer's signals applier
// does with the change stream's rows: signals.Writer.Apply, versioned in
// commit order. They are stamped at, the replay's instant, as the
// training events are (replay): the profiles and trending see the
// training part as one recent stretch, none of it decayed more than the
// rest. The listings' counters in the index are left as the catalog
// generated them (the marketplace's engagement before these shoppers):
// trending and the profiles read the store's rows, not the counters.
func applySocial(ctx context.Context, log *fixtures.ShopperLog, store signals.Writer, at time.Time) (likes, shares int, err error) {
	const batch = 1000
	var b signals.Batch
	version := uint64(0)
	flush := func() error {
		if len(b.Changes) == 0 {
			return nil
		}
		err := store.Apply(ctx, b)
		b.Changes = nil // the store may keep the slice it applied
		return err
	}
	for _, it := range log.Social {
		if !it.At.Before(log.Split) {
			break // time order: the rest is held out
		}
		version++
		user := log.Shoppers[it.Shopper].ID
		switch it.Type {
		case fixtures.InteractionLike:
			b.Changes = append(b.Changes, signals.Change{Version: version, Like: &signals.Like{User: user, Listing: it.Listing, At: at}})
			likes++
		case fixtures.InteractionShare:
			b.Changes = append(b.Changes, signals.Change{Version: version, Share: &signals.Share{ID: int64(version), User: user, Listing: it.Listing, At: at}})
			shares++
		default:
			return 0, 0, fmt.Errorf("relevancebench: social row of type %q", it.Type)
		}
		if len(b.Changes) == batch {
			if err := flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	return likes, shares, flush()
}

// trendingListings is how many listings have a trending score at now (the
// engaged listings trending considers, ranking.TrendingHorizon back).
func trendingListings(ctx context.Context, store *memory.Store, now time.Time) (int, error) {
	top, err := store.TopEngaged(ctx, now.Add(-ranking.TrendingHorizon), now, ranking.TrendingHalfLife, 1<<20)
	return len(top), err
}

// index opens the catalog's index in dir, building it when dir does not
// hold this catalog.
func (c *Config) index(ctx context.Context, dir string) (*embedded.Index, error) {
	marker := fmt.Sprintf("%s/relevancebench-%d-%d-%d", dir, c.Listings, c.Seed, c.Now.Unix())
	idxDir := dir + "/index"
	if _, err := os.Stat(marker); err == nil {
		c.logf("reusing the index in %s", idxDir)
		return embedded.Open(ctx, embedded.Config{Dir: idxDir})
	}
	if err := os.RemoveAll(idxDir); err != nil {
		return nil, err
	}
	c.logf("building an embedded index of %d listings in %s", c.Listings, idxDir)
	x, err := embedded.Open(ctx, embedded.Config{Dir: idxDir})
	if err != nil {
		return nil, err
	}
	next, stop := searchbench.Changes(ctx, fixtures.Options{Seed: c.Seed, Now: c.Now, Count: c.Listings})
	defer stop()
	start := time.Now()
	if _, err := x.Bulk(ctx, next); err != nil {
		x.Close()
		return nil, err
	}
	c.logf("built in %s", time.Since(start).Round(100*time.Millisecond))
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

// replay posts the training part to POST /v1/events of an in-process API
// (batches of 50, an events key speaking for the shoppers) whose producer
// writes to the events topic of an in-process broker, and runs the
// affinity consumer until the profiles hold every accepted event. The
// API accepts "at" only within a day of its clock, and the log spans
// weeks before the catalog's instant: the events are posted without it,
// so the server stamps them now and the profiles decay nothing between
// them (their relative weights are the event types').
func (c *Config) replay(ctx context.Context, log *fixtures.ShopperLog, pz *events.Pseudonymizer, store *memory.Store, x *embedded.Index) (time.Duration, error) {
	const prefix = "relbench"
	topic := events.Topic(prefix)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
	if err != nil {
		return 0, err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: brokers, TopicPrefix: prefix, Partitions: 4, Logger: quiet}, nil)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	ring, _, err := benchKeys(ctx)
	if err != nil {
		return 0, err
	}
	evKey, _, err := ring.Create(ctx, keys.Events, "relevancebench events")
	if err != nil {
		return 0, err
	}
	cfg := api.DefaultConfig()
	cfg.Auth = api.Auth{Keys: ring}
	srv, err := api.New(cfg, x, quiet, api.WithEvents(prod, pz))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	accepted := 0
	const batch = 50
	for i := 0; i < len(log.Train); i += batch {
		var body struct {
			Events []events.Event `json:"events"`
		}
		for _, it := range log.Train[i:min(i+batch, len(log.Train))] {
			body.Events = append(body.Events, events.Event{Type: events.Type(it.Type), User: log.Shoppers[it.Shopper].ID, ListingID: it.Listing, Surface: "search"})
		}
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+evKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var ans struct {
			Accepted int               `json:"accepted"`
			Rejected []json.RawMessage `json:"rejected"`
		}
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &ans) != nil || len(ans.Rejected) > 0 {
			return 0, fmt.Errorf("relevancebench: POST /v1/events: %d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
		}
		accepted += ans.Accepted
	}
	c.logf("posted %d events to /v1/events in %s", accepted, time.Since(start).Round(time.Millisecond))
	src, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: brokers, GroupID: affinity.Group(prefix), Topics: []string{topic},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	cons, err := affinity.New(affinity.Config{}, src, store, x)
	if err != nil {
		return 0, err
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(rctx) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ps, err := store.ProfilePositions(ctx)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, p := range ps {
			n += int(p.Offset + 1)
		}
		if n >= accepted {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("relevancebench: the consumer applied %d of %d events in 5 minutes", n, accepted)
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("relevancebench: consumer stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
