package reconcile_test

// The crash-safety test of issue 3 §5, grown by issue 9 §6: Postgres →
// pgcdc → Kafka (kfake) → indexer → embedded index and signals store, all
// real and in process, while a writer streams listing and social changes,
// the CDC and the indexer are killed at random points many times, Postgres
// crashes and restarts once, and the index is reopened from disk. It runs
// on both signals stores: the embedded one, reopened from its directory by
// every indexer incarnation, and Redis, on a redis-server of the test's
// own that is restarted empty under a running indexer (which must stop
// with ErrSignalsLost and, restarted, rebuild from the social topics).
// Afterwards reconcile must find nothing lost and nothing stale in the
// index nor in the signals store, and every party feed and the watched
// users' following feeds must equal their SQL answers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/indexer/pgcdc"
	"github.com/rummage/rummage/indexer/reconcile"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/internal/testredis"
	"github.com/rummage/rummage/query/embedded"
)

// errKill is what an injected crash returns.
var errKill = errors.New("injected crash")

const (
	crashPrefix = "crash"
	crashGroup  = "crash-indexer"
)

// crashPlan sizes the test. CI runs the full plan; -short scales it down.
type crashPlan struct {
	seedRows, changes, minKills int
}

// killLog records every injected crash, for the failure message.
type killLog struct {
	start time.Time
	mu    sync.Mutex
	lines []string
}

func (k *killLog) add(format string, args ...any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lines = append(k.lines, fmt.Sprintf("%7.3fs ", time.Since(k.start).Seconds())+fmt.Sprintf(format, args...))
}

func (k *killLog) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.lines, "\n")
}

// crashRig is the pipeline under test and its kill switches.
type crashRig struct {
	t        *testing.T
	plan     crashPlan
	seed     uint64
	dsn      string
	brokers  []string
	indexDir string
	log      *slog.Logger
	kills    *killLog

	killing atomic.Bool // while true, incarnations are killed

	cdcAckKills, cdcCancels  atomic.Int64
	ixCommitKills, ixCancels atomic.Int64
	reopens, cdcRuns, ixRuns atomic.Int64
	written, txs, failedTx   atomic.Int64
	restarts                 atomic.Int64

	store                      crashStore
	world                      *socialWorld
	redisDue                   atomic.Bool // the writer is far enough: restart Redis at the next commit
	awaitLost                  atomic.Bool // Redis was restarted: no kills until the indexer says so
	storeOpens                 atomic.Int64
	redisRestarts, signalsLost atomic.Int64
	lostAtOpen                 atomic.Int64 // the restart found by the next open rather than by Apply (a race with a kill)

	idxMu sync.Mutex
	index *embedded.Index

	cdcReg     *prometheus.Registry
	cdcMetrics *pgcdc.Metrics
	ixMetrics  *indexer.Metrics
	dlq        *countingDLQ
}

func (r *crashRig) quotasMet() bool {
	k := int64(r.plan.minKills)
	return r.cdcAckKills.Load() >= k && r.cdcCancels.Load() >= k && r.ixCommitKills.Load() >= k &&
		r.ixCancels.Load() >= k && r.reopens.Load() >= 1 && r.restarts.Load() >= 1 &&
		(r.store.restart == nil || r.signalsLost.Load()+r.lostAtOpen.Load() >= 1)
}

func (r *crashRig) summary() string {
	return fmt.Sprintf("seed %d, %s signals: %d changes committed in %d transactions (%d transactions failed), CDC runs %d (killed after Kafka ack %d, cancelled %d), "+
		"indexer runs %d (killed before commit %d, cancelled %d), index reopened %d times, signals store opened %d times, Postgres restarted %d times, "+
		"Redis restarted %d times, signals lost %d times (found on open %d times)",
		r.seed, r.store.name, r.written.Load(), r.txs.Load(), r.failedTx.Load(), r.cdcRuns.Load(), r.cdcAckKills.Load(), r.cdcCancels.Load(),
		r.ixRuns.Load(), r.ixCommitKills.Load(), r.ixCancels.Load(), r.reopens.Load(), r.storeOpens.Load(), r.restarts.Load(),
		r.redisRestarts.Load(), r.signalsLost.Load(), r.lostAtOpen.Load())
}

func TestCrashSafety(t *testing.T) {
	plan := crashPlan{seedRows: 1000, changes: 10000, minKills: 10}
	if testing.Short() {
		plan = crashPlan{seedRows: 300, changes: 1500, minKills: 3}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RUMMAGE_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("RUMMAGE_CRASH_SEED: %v", err)
		}
	}
	t.Run("memory", func(t *testing.T) { crashSafety(t, plan, seed, memoryStore(t.TempDir())) })
	t.Run("redis", func(t *testing.T) { crashSafety(t, plan, seed, redisStore(testredis.Start(t))) })
}

func crashSafety(t *testing.T, plan crashPlan, seed uint64, store crashStore) {
	cluster := testpg.NewCluster(t)
	ctx := context.Background()
	dsn := cluster.URL()
	if err := fixtures.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	gen, err := fixtures.NewGenerator(fixtures.Options{Seed: seed, Count: plan.seedRows + plan.changes, Sellers: 200,
		Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	world := newSocialWorld(gen, plan.seedRows, rand.New(rand.NewPCG(seed, 4)))
	{
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fixtures.CopySellers(ctx, conn, gen, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := fixtures.CopyListingRange(ctx, conn, gen, 0, plan.seedRows, nil); err != nil {
			t.Fatal(err)
		}
		if err := world.seed(ctx, conn); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)

	logs := &tailBuffer{max: 300}
	r := &crashRig{
		t: t, plan: plan, seed: seed, dsn: dsn, brokers: kc.ListenAddrs(), indexDir: t.TempDir(),
		log:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		kills:     &killLog{start: time.Now()},
		cdcReg:    prometheus.NewRegistry(),
		ixMetrics: indexer.NewMetrics(prometheus.NewRegistry()),
		store:     store, world: world,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s\nrerun with RUMMAGE_CRASH_SEED=%d\ninjected crashes:\n%s\nlast pipeline log lines:\n%s",
				r.summary(), seed, r.kills, logs)
		}
	})
	r.cdcMetrics = pgcdc.NewMetrics(r.cdcReg)
	r.index = r.openIndex()
	dlq, err := kafkabus.NewDeadLetterWriter(r.brokers, kafkabus.DeadLetterTopic(crashPrefix))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	r.dlq = &countingDLQ{DeadLetterSink: dlq}

	r.killing.Store(true)
	pipeCtx, stopPipe := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- r.superviseCDC(pipeCtx, rand.New(rand.NewPCG(seed, 1))) }()
	go func() { defer wg.Done(); errs <- r.superviseIndexer(pipeCtx, rand.New(rand.NewPCG(seed, 2))) }()

	// The writer runs until it has committed plan.changes changes and every
	// kill quota is met; halfway, Postgres crashes and restarts.
	half := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() { writerDone <- r.write(pipeCtx, gen, rand.New(rand.NewPCG(seed, 3)), half) }()
	select {
	case <-half:
	case err := <-writerDone:
		t.Fatalf("writer ended before the restart: %v", err)
	}
	r.kills.add("postgres: immediate shutdown and restart")
	cluster.Restart(t, testpg.Immediate)
	r.restarts.Add(1)
	if err := <-writerDone; err != nil {
		stopPipe()
		wg.Wait()
		t.Fatalf("writer: %v", err)
	}
	r.killing.Store(false)
	r.kills.add("writer done, kills stop: %s", r.summary())

	// Drain: every message committed by the consumer group and the index in
	// step with Postgres. The writer's last transactions may hold social
	// changes only (a party's theme), which the listings' reconcile does not
	// see: a last commit that changes a listing marks the end of the stream.
	// Once the index holds it, the CDC has published everything committed
	// before it (it publishes in commit order), and a consumer lag of zero
	// measured after that means every topic was applied up to it.
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `UPDATE listings SET price_cents = price_cents + 1, updated_at = now() WHERE id = (SELECT min(id) FROM listings)`); err != nil {
		t.Fatalf("the end marker: %v", err)
	}
	positions := kafkabus.NewPositions(r.brokers, crashGroup, kafkabus.TableTopics(crashPrefix, rummage.Tables()))
	defer positions.Close()
	var last *reconcile.Report
	var lastLag int64
	deadline := time.Now().Add(120 * time.Second)
	for {
		select {
		case err := <-errs:
			t.Fatalf("pipeline: %v", err)
		default:
		}
		last, err = reconcile.Run(ctx, db, r.currentIndex(), reconcile.Options{Keep: 20, Counters: true})
		if err != nil {
			t.Fatal(err)
		}
		if last.InSync() {
			if lastLag, err = groupLag(ctx, positions); err == nil && lastLag == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline did not drain: consumer lag %d (%v), reconcile: %s%s\n%s", lastLag, err, reportText(last), explain(ctx, db, last)+topicEvents(r.brokers, last), r.summary())
		}
		time.Sleep(250 * time.Millisecond)
	}
	stopPipe()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("pipeline: %v", err)
		}
	}

	// The final word from disk: reopen the index and reconcile again.
	if err := r.index.Close(); err != nil {
		t.Fatal(err)
	}
	x := r.openIndex()
	defer x.Close()
	rep, err := reconcile.Run(ctx, db, x, reconcile.Options{Keep: 20, Counters: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InSync() {
		t.Fatalf("after reopening the index: %s%s", reportText(rep), explain(ctx, db, rep))
	}

	// The social state, from the store as a restart opens it: the store
	// against Postgres, then the feeds read through it against SQL.
	st, err := r.store.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	srep, err := reconcile.Signals(ctx, db, st, now)
	if err != nil {
		t.Fatal(err)
	}
	if !srep.InSync() {
		t.Fatalf("signals: %s\n  %s", srep.Summary(), strings.Join(srep.Differences, "\n  "))
	}
	diffs, compared, err := compareFeeds(ctx, db, x, st, r.world.watched, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("feeds differ from postgres (compared %s):\n  %s", compared, strings.Join(diffs, "\n  "))
	}
	if n := r.dlq.n.Load(); n != 0 {
		t.Fatalf("%d dead letters: every change should have applied", n)
	}
	if r.written.Load() < int64(plan.changes) || !r.quotasMet() {
		t.Fatalf("the plan was not carried out: %s", r.summary())
	}
	var rows int64
	if err := db.QueryRow(ctx, "SELECT count(*) FROM listings").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; %d listings, in sync (%s); signals in sync (%s); feeds equal to SQL (%s); CDC skipped %v transactions below its confirmed LSN, indexer dropped %v stale changes",
		r.summary(), rows, rep.Summary(), srep.Summary(), compared, counterValue(r.cdcReg, "rummage_cdc_skipped_transactions_total"), testutil.ToFloat64(r.ixMetrics.Stale))
}

// counterValue reads a counter of reg by name (0 when absent).
func counterValue(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

func (r *crashRig) openIndex() *embedded.Index {
	x, err := embedded.Open(context.Background(), embedded.Config{Dir: r.indexDir})
	if err != nil {
		r.t.Fatalf("open index: %v", err)
	}
	return x
}

func (r *crashRig) currentIndex() *embedded.Index {
	r.idxMu.Lock()
	defer r.idxMu.Unlock()
	return r.index
}

// superviseCDC runs CDC incarnations until ctx ends. While killing, each
// one dies at a random point: an error from Hooks.AfterAck on its k-th call
// (after Kafka acknowledged a batch, before the confirmed LSN is stored and
// sent), or a plain cancellation after a random delay.
func (r *crashRig) superviseCDC(ctx context.Context, rng *rand.Rand) error {
	for ctx.Err() == nil {
		run := r.cdcRuns.Add(1)
		w, err := kafkabus.NewWriter(kafkabus.WriterConfig{Brokers: r.brokers, TopicPrefix: crashPrefix, Partitions: 4,
			MaxAttempts: 3, WriteTimeout: 5 * time.Second, Logger: r.log})
		if err != nil {
			return err
		}
		rctx, cancel := context.WithCancel(ctx)
		ackKill := rng.IntN(2) == 0
		killAt := 1 + rng.IntN(8)
		delay := time.Duration(100+rng.IntN(1200)) * time.Millisecond
		acks := 0
		hooks := pgcdc.Hooks{AfterAck: func(lsn uint64) error {
			acks++
			if ackKill && acks == killAt && r.killing.Load() {
				r.cdcAckKills.Add(1)
				r.kills.add("cdc run %d: killed at ack %d (commit LSN %X), before its confirm", run, acks, lsn)
				return errKill
			}
			return nil
		}}
		var timer *time.Timer
		if !ackKill {
			timer = time.AfterFunc(delay, func() {
				if r.killing.Load() {
					r.cdcCancels.Add(1)
					r.kills.add("cdc run %d: cancelled after %v", run, delay)
					cancel()
				}
			})
		}
		c, err := pgcdc.New(pgcdc.Config{DatabaseURL: r.dsn, TopicPrefix: crashPrefix, MaxBatch: 200, Linger: 5 * time.Millisecond,
			StatusInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			Logger: r.log, Hooks: hooks}, w, r.cdcMetrics)
		if err != nil {
			cancel()
			w.Close()
			return err
		}
		err = c.Run(rctx)
		if timer != nil {
			timer.Stop()
		}
		cancel()
		w.Close()
		if err != nil && !errors.Is(err, errKill) {
			return fmt.Errorf("cdc run %d: %w", run, err)
		}
	}
	return nil
}

// superviseIndexer runs indexer incarnations until ctx ends. While killing,
// each one dies at a random point: on its k-th offset commit (after the
// batch was applied, before the commit reaches Kafka), or by a plain
// cancellation after a random delay. After some kills the index is closed
// and reopened from disk.
func (r *crashRig) superviseIndexer(ctx context.Context, rng *rand.Rand) error {
	for ctx.Err() == nil {
		run := r.ixRuns.Add(1)
		// Each incarnation opens the signals store as a restarted process
		// does, and reads from their start the social topics it holds no
		// position of (all of them after Redis was emptied).
		st, err := r.store.open(ctx)
		if err != nil {
			return fmt.Errorf("indexer run %d: open signals: %w", run, err)
		}
		r.storeOpens.Add(1)
		topics := kafkabus.TableTopics(crashPrefix, rummage.Tables())
		fromStart, err := indexer.RewindTopics(ctx, st, topics)
		if err != nil {
			st.Close()
			return err
		}
		if len(fromStart) > 0 {
			r.kills.add("indexer run %d: signals store holds no position of %d topics: reading them from their start", run, len(fromStart))
			if r.awaitLost.Load() {
				// The incarnation under which Redis restarted ended on a
				// kill that raced the restart: this open found the loss.
				r.lostAtOpen.Add(1)
				r.awaitLost.Store(false)
			}
		}
		reader, err := kafkabus.NewReader(ctx, kafkabus.ReaderConfig{Brokers: r.brokers, GroupID: crashGroup,
			Topics: topics, FromStart: fromStart, CreateTopics: true, Partitions: 4,
			SessionTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 3 * time.Second,
			MaxWait: 50 * time.Millisecond, Logger: r.log})
		if err != nil {
			st.Close()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		rctx, cancel := context.WithCancel(ctx)
		src := &killSource{Source: reader, before: func() error { return r.maybeRestartRedis(rctx, run) }}
		commitKill := rng.IntN(2) == 0
		if commitKill {
			src.killAt = 1 + rng.IntN(6)
			src.kill = func(n int) bool {
				if !r.killing.Load() || r.awaitLost.Load() {
					return false
				}
				r.ixCommitKills.Add(1)
				r.kills.add("indexer run %d: killed at commit %d, after its Apply", run, n)
				cancel()
				return true
			}
		}
		var timer *time.Timer
		if !commitKill {
			delay := time.Duration(200+rng.IntN(1500)) * time.Millisecond
			timer = time.AfterFunc(delay, func() {
				if r.killing.Load() && !r.awaitLost.Load() {
					r.ixCancels.Add(1)
					r.kills.add("indexer run %d: cancelled after %v", run, delay)
					cancel()
				}
			})
		}
		x := r.currentIndex()
		ix, err := indexer.New(src, x, r.dlq, indexer.Config{BatchSize: 300, BatchWait: 20 * time.Millisecond,
			RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond, Signals: st, Metrics: r.ixMetrics, Logger: r.log})
		if err != nil {
			cancel()
			reader.Close()
			st.Close()
			return err
		}
		err = ix.Run(rctx)
		killed := rctx.Err() != nil && ctx.Err() == nil
		if timer != nil {
			timer.Stop()
		}
		cancel()
		reader.Close()
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close signals: %w", cerr)
		}
		if errors.Is(err, indexer.ErrSignalsLost) && r.awaitLost.Load() {
			// What a supervisor does with this error: start again.
			r.signalsLost.Add(1)
			r.awaitLost.Store(false)
			r.kills.add("indexer run %d: stopped on %v", run, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("indexer run %d: %w", run, err)
		}
		// Reopen from disk after the first kill and then now and then: what
		// Apply acknowledged must be there, with its versions.
		if killed && r.killing.Load() && (r.reopens.Load() == 0 || rng.IntN(4) == 0) {
			if err := x.Close(); err != nil {
				return fmt.Errorf("close index: %w", err)
			}
			nx, err := embedded.Open(context.Background(), embedded.Config{Dir: r.indexDir})
			if err != nil {
				return fmt.Errorf("reopen index: %w", err)
			}
			r.idxMu.Lock()
			r.index = nx
			r.idxMu.Unlock()
			r.reopens.Add(1)
			r.kills.add("indexer run %d: index closed and reopened from disk", run)
		}
	}
	return nil
}

// killSource is the indexer's Source with a crash point between Apply and
// the offset commit: on the killAt-th Commit, if kill agrees, the commit
// never reaches Kafka.
type killSource struct {
	indexer.Source
	killAt, commits int
	kill            func(n int) bool
	before          func() error // at every Commit, first
}

func (s *killSource) Commit(ctx context.Context, msgs []indexer.Message) error {
	if s.before != nil {
		if err := s.before(); err != nil {
			return err
		}
	}
	s.commits++
	if s.commits == s.killAt && s.kill != nil && s.kill(s.commits) {
		return errKill
	}
	return s.Source.Commit(ctx, msgs)
}

// maybeRestartRedis restarts Redis, once, when the writer is far enough:
// from the Commit of a running indexer, so that the store it holds has
// read its positions (and its epoch) from the Redis that is lost, and its
// next Apply must find out. Kills stop until it has.
func (r *crashRig) maybeRestartRedis(ctx context.Context, run int64) error {
	if r.store.restart == nil || !r.redisDue.Load() || r.redisRestarts.Load() > 0 || ctx.Err() != nil {
		return nil
	}
	r.awaitLost.Store(true)
	r.redisRestarts.Add(1)
	r.kills.add("indexer run %d: redis-server killed and restarted empty, before a commit", run)
	if err := r.store.restart(); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	return nil
}

// countingDLQ counts dead letters on their way to the topic.
type countingDLQ struct {
	indexer.DeadLetterSink
	n atomic.Int64
}

func (d *countingDLQ) Send(ctx context.Context, letters []indexer.DeadLetter) error {
	if err := d.DeadLetterSink.Send(ctx, letters); err != nil {
		return err
	}
	d.n.Add(int64(len(letters)))
	return nil
}

// write streams changes into Postgres in transactions of 1 to 8 changes:
// inserts (some re-using deleted ids), price and status updates, deletes,
// shares and likes (which bump counters on the listing through triggers),
// and pairs that change one listing twice in one transaction (two events
// with one commit LSN); and, for nearly half of the changes, the social
// ones of socialWorld.socialOp. At three quarters it asks for the Redis
// restart (maybeRestartRedis). It reconnects through the Postgres restart; a
// transaction whose outcome is unknown is not counted, since reconcile
// compares with whatever Postgres holds. The bookkeeping of live ids is
// optimistic: a wrong guess only makes a statement change nothing or a
// transaction fail. It closes half when half of the changes are in.
func (r *crashRig) write(ctx context.Context, gen *fixtures.Generator, rng *rand.Rand, half chan<- struct{}) error {
	live := make([]int, 0, r.plan.seedRows+r.plan.changes) // generator indexes of live listings
	for i := range r.plan.seedRows {
		live = append(live, i)
	}
	var deleted []int
	next := r.plan.seedRows
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	halfDone := false
	zipfParty := rand.NewZipf(rng, 1.1, 1, uint64(gen.Count()-1))
	zipfCloset := rand.NewZipf(rng, 1.2, 1, uint64(gen.SellerCount()-1))
	deadline := time.Now().Add(10 * time.Minute)
	for uniq := 0; r.written.Load() < int64(r.plan.changes) || !r.quotasMet(); {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up: %s", r.summary())
		}
		if !halfDone && r.written.Load() >= int64(r.plan.changes/2) {
			halfDone = true
			close(half)
		}
		if r.written.Load() >= int64(r.plan.changes*3/4) {
			r.redisDue.Store(true)
		}
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := pgx.Connect(cctx, r.dsn)
			cancel()
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			conn = c
		}
		pick := func() (int, string) {
			k := rng.IntN(len(live))
			return k, fixtures.ListingID(live[k])
		}
		n := 1 + rng.IntN(8)
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := pgx.BeginFunc(opCtx, conn, func(tx pgx.Tx) error {
			for range n {
				uniq++
				var err error
				if rng.IntN(100) < 45 {
					if err := r.world.socialOp(opCtx, tx, rng, zipfParty, zipfCloset, rng.IntN(100)); err != nil {
						return err
					}
					continue
				}
				switch op := rng.IntN(100); {
				case op < 20 || len(live) < 10: // insert a new listing, or bring a deleted id back
					idx := next
					if len(deleted) > 0 && rng.IntN(5) == 0 {
						k := rng.IntN(len(deleted))
						idx = deleted[k]
						deleted[k] = deleted[len(deleted)-1]
						deleted = deleted[:len(deleted)-1]
					} else if next < gen.Count() {
						next++
					} else {
						continue
					}
					live = append(live, idx)
					_, err = fixtures.CopyListingRange(opCtx, conn, gen, idx, idx+1, nil)
				case op < 45:
					_, id := pick()
					_, err = tx.Exec(opCtx, `UPDATE listings SET price_cents = $2, updated_at = now() WHERE id = $1`, id, 100+rng.IntN(100000))
				case op < 60:
					_, id := pick()
					_, err = tx.Exec(opCtx, `UPDATE listings SET status = $2, updated_at = now() WHERE id = $1`, id, rummage.Statuses()[rng.IntN(len(rummage.Statuses()))])
				case op < 70:
					k, id := pick()
					deleted = append(deleted, live[k])
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
					_, err = tx.Exec(opCtx, `DELETE FROM listings WHERE id = $1`, id)
				case op < 88:
					_, id := pick()
					_, err = tx.Exec(opCtx, `INSERT INTO shares (user_id, listing_id) VALUES ($1, $2)`, fmt.Sprintf("u%d", rng.IntN(500)), id)
				case op < 94:
					_, id := pick()
					_, err = tx.Exec(opCtx, `INSERT INTO likes (user_id, listing_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, fmt.Sprintf("u%d", uniq), id)
				default: // one listing changed twice in one transaction: two events, one LSN
					_, id := pick()
					if _, err = tx.Exec(opCtx, `UPDATE listings SET price_cents = price_cents + 1, updated_at = now() WHERE id = $1`, id); err == nil {
						_, err = tx.Exec(opCtx, `INSERT INTO shares (user_id, listing_id) VALUES ('u-twice', $1)`, id)
					}
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.failedTx.Add(1)
			conn.Close(context.Background())
			conn = nil
			continue
		}
		r.written.Add(int64(n))
		r.txs.Add(1)
	}
	if !halfDone {
		close(half)
	}
	return nil
}

// explain adds, for each listing of a failed report, its shares: "u-twice"
// marks a transaction that changed the listing twice (two events sharing one
// commit LSN).
func explain(ctx context.Context, db *pgx.Conn, rep *reconcile.Report) string {
	if rep == nil {
		return ""
	}
	var b strings.Builder
	for _, d := range rep.Differences {
		rows, err := db.Query(ctx, `SELECT user_id FROM shares WHERE listing_id = $1 ORDER BY id`, d.ID)
		if err != nil {
			return err.Error()
		}
		users, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "\n  %s shares by %v", d.ID, users)
	}
	return b.String()
}

// topicEvents lists, for each id of a failed report, the listing events the
// topic holds for it (partition/offset, op, lsn/seq, price, shares).
func topicEvents(brokers []string, rep *reconcile.Report) string {
	if rep == nil || len(rep.Differences) == 0 {
		return ""
	}
	want := map[string]bool{}
	for _, d := range rep.Differences {
		want[d.ID] = true
	}
	topic := change.Topic(crashPrefix, "public", "listings")
	out := map[string][]string{}
	dc, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialContext(context.Background(), "tcp", brokers[0])
	if err != nil {
		return err.Error()
	}
	parts, err := dc.ReadPartitions(topic)
	dc.Close()
	if err != nil {
		return err.Error()
	}
	for _, part := range parts {
		p := part.ID
		pc, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialLeader(context.Background(), "tcp", brokers[0], topic, p)
		if err != nil {
			return err.Error()
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			pc.Close()
			return err.Error()
		}
		pc.Seek(0, kafka.SeekAbsolute)
		for off := int64(0); off < last; off++ {
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			m, err := pc.ReadMessage(1 << 20)
			if err != nil {
				pc.Close()
				return err.Error()
			}
			e, err := change.Unmarshal(m.Key, m.Value)
			if err != nil {
				continue
			}
			row := e.After
			if row == nil {
				row = e.Before
			}
			l, _ := indexer.DecodeListing(row)
			if want[l.ID] {
				out[l.ID] = append(out[l.ID], fmt.Sprintf("%d/%d %s lsn %X seq %d price %d shares %d status %s",
					m.Partition, m.Offset, e.Op, e.Source.LSN, e.Source.Seq, l.PriceCents, l.ShareCount, l.Status))
			}
		}
		pc.Close()
	}
	var b strings.Builder
	for _, d := range rep.Differences {
		fmt.Fprintf(&b, "\n  %s events:\n    %s", d.ID, strings.Join(out[d.ID], "\n    "))
	}
	return b.String()
}

// groupLag is how many messages of the topics the group has not committed.
func groupLag(ctx context.Context, p *kafkabus.Positions) (int64, error) {
	end, committed, err := p.Positions(ctx)
	if err != nil {
		return 0, err
	}
	var lag int64
	for tp, e := range end {
		lag += max(e-committed[tp], 0)
	}
	return lag, nil
}

func reportText(rep *reconcile.Report) string {
	if rep == nil {
		return "(not run)"
	}
	var b strings.Builder
	b.WriteString(rep.Summary())
	for _, d := range rep.Differences {
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	return b.String()
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.lines = append(b.lines, l)
	}
	if over := len(b.lines) - b.max; over > 0 {
		b.lines = append(b.lines[:0], b.lines[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

var _ io.Writer = (*tailBuffer)(nil)
