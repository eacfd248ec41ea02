package eventbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/events/rollup"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
	"github.com/rummage/rummage/keys"
)

// Config of a run.
type Config struct {
	Batch      int           // events per request (50)
	Clients    int           // concurrent HTTP clients (32)
	Duration   time.Duration // per scenario (10 s)
	Partitions int           // of the events topic (8)
	// DatabaseURL, when set, also measures the rollup consumer's lag at
	// LagRate events/s for Duration (in a schema migrated there).
	DatabaseURL string
	LagRate     int
	Log         io.Writer
}

// Validate checks c after defaults.
func (c *Config) Validate() error {
	if c.Batch == 0 {
		c.Batch = 50
	}
	if c.Clients == 0 {
		c.Clients = 32
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.LagRate == 0 {
		c.LagRate = 5000
	}
	if c.Batch < 1 || c.Batch > events.MaxBatch || c.Clients < 1 || c.Duration < 0 || c.Partitions < 1 || c.LagRate < 0 {
		return fmt.Errorf("eventbench: batch 1..%d, clients, partitions and the lag rate positive", events.MaxBatch)
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// Scenario is one measured ingest.
type Scenario struct {
	Name         string           `json:"name"`
	Requests     benchkit.Summary `json:"requests"`
	EventsPerSec float64          `json:"events_per_s"`
	CPUPerEvent  float64          `json:"cpu_us_per_event"` // the whole process (server and load generator)
	Acked        int64            `json:"events_acked"`
}

// Lag is the rollup consumer under a paced load.
type Lag struct {
	Rate    int     `json:"offered_events_per_s"`
	Events  int64   `json:"events_rolled_up"`
	Batches int     `json:"batches"`
	P50MS   float64 `json:"lag_p50_ms"`
	P99MS   float64 `json:"lag_p99_ms"`
	MaxMS   float64 `json:"lag_max_ms"`
	// DrainMS is from the last acknowledged event to its rollup commit.
	DrainMS float64 `json:"drain_ms"`
}

// Result of a run.
type Result struct {
	Config    Config     `json:"-"`
	Batch     int        `json:"batch"`
	Clients   int        `json:"clients"`
	Scenarios []Scenario `json:"scenarios"`
	Ratio     float64    `json:"kafka_vs_discard"`
	Lag       *Lag       `json:"rollup,omitempty"`
}

// WriteText prints r.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "event ingest: POST /v1/events, %d events per request, %d clients, loopback HTTP\n", r.Batch, r.Clients)
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "  %-8s %8.0f events/s  %6.2f cpu-µs/event  requests p50 %s p99 %s  (%d events acknowledged)\n",
			s.Name, s.EventsPerSec, s.CPUPerEvent, benchkit.FormatDuration(s.Requests.P50), benchkit.FormatDuration(s.Requests.P99), s.Acked)
	}
	fmt.Fprintf(w, "  kafka / discard throughput: %.2f\n", r.Ratio)
	if l := r.Lag; l != nil {
		fmt.Fprintf(w, "rollup lag at %d events/s offered: p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d batches (%d events); last event → committed %.0f ms\n",
			l.Rate, l.P50MS, l.P99MS, l.MaxMS, l.Batches, l.Events, l.DrainMS)
	}
}

type discard struct{}

func (discard) Publish(context.Context, []events.Event) error { return nil }
func (discard) Impression(events.Event)                       {}

// bodies are request bodies of batch events (a few, reused).
func bodies(batch int) [][]byte {
	var out [][]byte
	types := []string{"view", "click", "click", "add_to_cart", "like", "share", "purchase"}
	for v := range 16 {
		var b bytes.Buffer
		b.WriteString(`{"events":[`)
		for i := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":%q,"user":"shopper%d","listing_id":"l%07d","query_id":"q%d","position":%d,"surface":"search"}`,
				types[(v+i)%len(types)], (v*batch+i)%5000, (v*7919+i*104729)%1000000, v, i%24+1)
		}
		b.WriteString(`]}`)
		out = append(out, b.Bytes())
	}
	return out
}

// server starts the API on loopback with sink; stop shuts it down.
func server(sink api.EventSink, ring *keys.Ring) (addr string, stop func(), err error) {
	ps, err := events.NewPseudonymizer([]byte("eventbench-pseudonym-key"))
	if err != nil {
		return "", nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := api.New(api.Config{Auth: api.Auth{Keys: ring}}, nil, log, api.WithEvents(sink, ps))
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	return ln.Addr().String(), func() { cancel(); <-done }, nil
}

// load posts batches to addr per plan; pace > 0 spaces each client's
// requests to offer pace events/s overall.
func load(ctx context.Context, c *Config, addr, key string, pace int) (benchkit.Summary, error) {
	bs := bodies(c.Batch)
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.Clients, MaxConnsPerHost: c.Clients}}
	defer cl.CloseIdleConnections()
	url := "http://" + addr + "/v1/events"
	var every time.Duration
	start := time.Now()
	if pace > 0 {
		every = time.Duration(float64(time.Second) * float64(c.Batch) / float64(pace))
	}
	return benchkit.Run(ctx, benchkit.Plan{Duration: c.Duration, Concurrency: c.Clients, Warmup: 20}, func(ctx context.Context, i int) error {
		if every > 0 {
			if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
				time.Sleep(d)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bs[i%len(bs)]))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("POST /v1/events: %d", resp.StatusCode)
		}
		return nil
	})
}

func scenario(name string, c *Config, s benchkit.Summary) Scenario {
	n := int64(s.N) * int64(c.Batch)
	sc := Scenario{Name: name, Requests: s, Acked: n}
	if s.Elapsed > 0 {
		sc.EventsPerSec = float64(n) / s.Elapsed.Seconds()
	}
	sc.CPUPerEvent = float64(s.CPUPerOp.Microseconds()) / float64(c.Batch)
	if s.CPUPerOp > 0 {
		sc.CPUPerEvent = float64(s.CPUPerOp.Nanoseconds()) / 1000 / float64(c.Batch)
	}
	return sc
}

// Run runs the scenarios.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ring, err := keys.Open(ctx, &keys.MemStore{}, keys.RingConfig{})
	if err != nil {
		return nil, err
	}
	key, _, err := ring.Create(ctx, keys.Events, "eventbench")
	if err != nil {
		return nil, err
	}
	res := &Result{Config: c, Batch: c.Batch, Clients: c.Clients}

	// Baseline: the API's own work, the topic replaced by a discard.
	fmt.Fprintf(c.Log, "eventbench: discard sink, %s\n", c.Duration)
	addr, stop, err := server(discard{}, ring)
	if err != nil {
		return nil, err
	}
	s, err := load(ctx, &c, addr, key, 0)
	stop()
	if err != nil {
		return nil, err
	}
	res.Scenarios = append(res.Scenarios, scenario("discard", &c, s))

	// Kafka: the in-process broker with its log on disk.
	dir, err := os.MkdirTemp("", "rummage-eventbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(c.Partitions))
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	// A topic of its own per run: offsets a database keeps of an earlier
	// run's topic do not apply to it.
	prefix := fmt.Sprintf("eventbench%d", time.Now().UnixNano())
	p, err := events.NewProducer(events.ProducerConfig{Brokers: brokers, TopicPrefix: prefix, Partitions: c.Partitions}, nil)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.EnsureTopic(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Log, "eventbench: kafka (kfake, log in %s), %s\n", dir, c.Duration)
	addr, stop, err = server(p, ring)
	if err != nil {
		return nil, err
	}
	defer stop()
	s, err = load(ctx, &c, addr, key, 0)
	if err != nil {
		return nil, err
	}
	res.Scenarios = append(res.Scenarios, scenario("kafka", &c, s))
	if res.Scenarios[0].EventsPerSec > 0 {
		res.Ratio = res.Scenarios[1].EventsPerSec / res.Scenarios[0].EventsPerSec
	}
	if c.DatabaseURL == "" {
		return res, nil
	}

	// The rollup consumer from the topic's start (what the kafka scenario
	// wrote is caught up first), then beside a paced load.
	if err := fixtures.Migrate(ctx, c.DatabaseURL); err != nil {
		return nil, err
	}
	st, err := rollup.OpenStore(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var mu sync.Mutex
	var lags []time.Duration
	var rolled int64
	var measuring bool
	cons, err := rollup.NewConsumer(rollup.Config{Brokers: brokers, TopicPrefix: prefix, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnCommit: func(n int, lag time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			rolled += int64(n)
			if measuring {
				lags = append(lags, lag)
			}
		}}, st)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = cons.Run(cctx) }()
	caughtUp := func(want int64) bool {
		mu.Lock()
		defer mu.Unlock()
		return rolled >= want
	}
	total := res.Scenarios[1].Acked + 20*int64(c.Batch) // the warm-up too
	fmt.Fprintf(c.Log, "eventbench: rolling up the %d events written\n", total)
	catchUpBy := time.Now().Add(2 * time.Minute)
	for !caughtUp(total) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(catchUpBy) {
			return nil, errors.New("eventbench: the rollups did not catch up with the topic within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	measuring = true
	mu.Unlock()
	fmt.Fprintf(c.Log, "eventbench: rollup lag at %d events/s, %s\n", c.LagRate, c.Duration)
	s, err = load(ctx, &c, addr, key, c.LagRate)
	if err != nil {
		return nil, err
	}
	last := time.Now()
	total += int64(s.N+20) * int64(c.Batch)
	deadline := time.Now().Add(time.Minute)
	for !caughtUp(total) {
		if time.Now().After(deadline) {
			return nil, errors.New("eventbench: the rollups did not catch up within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	drain := time.Since(last)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lags)
	l := &Lag{Rate: c.LagRate, Events: int64(s.N) * int64(c.Batch), Batches: len(lags), DrainMS: float64(drain.Microseconds()) / 1000}
	if len(lags) > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		l.P50MS, l.P99MS, l.MaxMS = ms(benchkit.Percentile(lags, 50)), ms(benchkit.Percentile(lags, 99)), ms(lags[len(lags)-1])
	}
	res.Lag = l
	return res, nil
}
