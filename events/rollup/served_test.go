package rollup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/searchbench"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
)

// TestServedViewsThroughTheAPI: the whole path of an answer a CDN served.
// The origin answers a search once (its impression goes to the events
// topic); the test then hands that answer's bytes out three more times, as
// a CDN would, and each of the four front ends posts a view with the
// answer's query_id to POST /v1/events. A second origin answer is viewed
// once. Rolled up from the topic, the query has 5 searches (2 origin
// answers and 3 the CDN served), each showing every position of the page,
// and GET /v1/analytics/searches says so.
func TestServedViewsThroughTheAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := migrated(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	const prefix = "served"
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: cluster.ListenAddrs(), TopicPrefix: prefix, Partitions: 2, Logger: quiet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	opts := fixtures.Options{Seed: 3, Now: now, Count: 300}
	x := embeddedtest.Open(t, embedded.Config{})
	next, stop := searchbench.Changes(ctx, opts)
	_, err = x.Bulk(ctx, next)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	g, err := fixtures.NewGenerator(opts)
	if err != nil {
		t.Fatal(err)
	}
	q := ""
	for i := 0; q == "" && i < g.Count(); i++ {
		if l := g.Listing(i); l.Status == "available" && l.AvailableAt == nil {
			q = strings.ToLower(l.Brand)
		}
	}
	k := apitest.NewKeys(t)
	pz, err := events.NewPseudonymizer([]byte("served-views-test-key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Config{Auth: api.Auth{Keys: k.Ring}}, x, quiet, append((&Handlers{Store: st}).Options(), api.WithEvents(prod, pz))...)
	if err != nil {
		t.Fatal(err)
	}
	var rolled atomic.Int64
	cons, err := NewConsumer(Config{Brokers: cluster.ListenAddrs(), TopicPrefix: prefix, Flush: 20 * time.Millisecond, Logger: quiet,
		OnCommit: func(n int, _ time.Duration) { rolled.Add(int64(n)) }}, st)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	defer func() { cancel(); <-done }()

	search := apitest.NewClient(t, s, k.Search)
	type answer struct {
		QueryID string            `json:"query_id"`
		Total   int               `json:"total"`
		Hits    []json.RawMessage `json:"hits"`
	}
	var first, second answer
	body := search.Get(t, "/v1/search?q="+url.QueryEscape(q)).Body
	if err := json.Unmarshal(body, &first); err != nil || first.QueryID == "" || first.Total == 0 {
		t.Fatalf("search %q: %s (%v)", q, body, err)
	}
	if err := json.Unmarshal(search.Get(t, "/v1/search?q="+url.QueryEscape(q)).Body, &second); err != nil || second.QueryID == first.QueryID {
		t.Fatalf("the second origin answer %+v repeats the first's query id", second)
	}
	// The impressions are published off the request path; the views come
	// after them, as a CDN's copies are served after the origin's answer.
	testkit.Eventually(t, "the impressions rolled up", 20*time.Second, func() bool { return rolled.Load() >= 2 })
	// The CDN's three copies are the first answer's bytes: its query id.
	views := []string{first.QueryID, first.QueryID, first.QueryID, first.QueryID, second.QueryID}
	post := apitest.NewClient(t, s, k.Events)
	for i, qid := range views {
		b := fmt.Sprintf(`{"events":[{"type":"view","surface":"search","query_id":%q,"user":"shopper-%d"}]}`, qid, i)
		if r := post.Do(t, http.MethodPost, "/v1/events", []byte(b), apitest.WithHeader("Content-Type", "application/json")); r.Status != http.StatusAccepted {
			t.Fatalf("POST /v1/events: %d %s", r.Status, r.Body)
		}
	}
	want := int64(2 + len(views)) // the origin's two impressions and the views
	testkit.Eventually(t, "every event rolled up", 20*time.Second, func() bool { return rolled.Load() >= want })
	if got := rolled.Load(); got != want {
		t.Fatalf("%d events rolled up, want %d", got, want)
	}
	var sr struct {
		From, To time.Time
		Queries  []QueryStats `json:"queries"`
	}
	apitest.NewClient(t, s, k.Admin).Get(t, "/v1/analytics/searches").Decode(t, &sr)
	if len(sr.Queries) != 1 || sr.Queries[0].Query != events.NormalizeQuery(q) || sr.Queries[0].Searches != 5 || sr.Queries[0].ZeroResults != 0 {
		t.Fatalf("searches of %q: %+v, want 5 (2 origin answers, 3 a CDN served)", q, sr.Queries)
	}
	p := sr.Queries[0].Positions
	if len(p) != min(len(first.Hits), MaxPosition) || p[0].Impressions != 5 || p[len(p)-1].Impressions != 5 {
		t.Errorf("positions %+v, want each of the page's %d shown 5 times", p, len(first.Hits))
	}
}
