package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// ListingsTable is the table whose rows are index documents.
const ListingsTable = rummage.ListingsTable

// Defaults of Config, named for the flags of cmd/rummage.
const (
	// DefaultBatchSize bounds a batch under a backlog (the initial snapshot,
	// a restart behind): large batches spread the fixed cost of a durable
	// index write (docs/pipeline.md).
	DefaultBatchSize = 20000
	// DefaultBatchWait is how long a batch waits for company after its
	// first message: the latency a light stream pays for coalescing.
	DefaultBatchWait = 50 * time.Millisecond
)

// Config tunes the loop. The zero value of each field means its default.
type Config struct {
	// Tables the indexer handles; events of other tables are counted and
	// skipped. Default rummage.Tables(). Must include listings.
	Tables []string
	// BatchSize is the most messages per batch (default DefaultBatchSize)
	// and BatchWait how long a batch may wait to fill after its first
	// message (default DefaultBatchWait): the latency/throughput trade-off
	// of coalescing.
	BatchSize int
	BatchWait time.Duration
	// RetryMin and RetryMax bound the exponential backoff between attempts of
	// a failed Apply, row store write, dead-letter write or commit (defaults
	// 100ms and 10s).
	RetryMin, RetryMax time.Duration
	// CommitAttempts is how many times a failed offset commit is tried
	// before Run returns the error (default 5). Apply and dead-letter writes
	// are retried without limit: giving up on them would mean skipping.
	CommitAttempts int
	// Signals receives the changes of the social tables (IsSocialTable)
	// with the stream positions they bring their partitions to; nil counts
	// and drops them (metric rummage_indexer_rows_total). Its Apply is
	// retried without limit, like the backend's. When it is also a
	// CounterSource and the backend a query.CounterWriter, the listings'
	// counters are derived from it (see counters.go).
	Signals signals.Writer
	// Invalidator hears of every batch's changes once they are applied;
	// nil: none.
	Invalidator Invalidator
	// Metrics; nil creates unregistered ones.
	Metrics *Metrics
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if len(c.Tables) == 0 {
		c.Tables = rummage.Tables()
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.CommitAttempts == 0 {
		c.CommitAttempts = 5
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks the configuration after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.BatchSize < 1:
		return errors.New("indexer: batch size must be at least 1")
	case c.BatchWait < 0:
		return errors.New("indexer: batch wait must not be negative")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return errors.New("indexer: need 0 < retry min <= retry max")
	case c.CommitAttempts < 1:
		return errors.New("indexer: commit attempts must be at least 1")
	case !slices.Contains(c.Tables, ListingsTable):
		return fmt.Errorf("indexer: tables %v must include %s", c.Tables, ListingsTable)
	}
	return nil
}

// Indexer is the consume-transform-apply loop; see the package doc for its
// protocol. Run it once; it is not safe to call Run concurrently.
type Indexer struct {
	cfg     Config
	src     Source
	backend Applier
	dlq     DeadLetterSink
	m       *Metrics
	log     *slog.Logger
	tables  map[string]bool
	counts  *counters // nil: the listings keep the counters they arrive with
}

// New returns an indexer reading src, writing listings to backend and
// messages it gives up on to dlq.
func New(src Source, backend Applier, dlq DeadLetterSink, cfg Config) (*Indexer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil || backend == nil || dlq == nil {
		return nil, errors.New("indexer: source, backend and dead-letter sink are required")
	}
	cfg = cfg.withDefaults()
	ix := &Indexer{cfg: cfg, src: src, backend: backend, dlq: dlq, m: cfg.Metrics, log: cfg.Logger, tables: map[string]bool{},
		counts: newCounters(cfg.Signals, backend)}
	for _, t := range cfg.Tables {
		ix.tables[t] = true
	}
	return ix, nil
}

// Run processes batches until ctx is done (then it returns nil) or the
// source or an offset commit fails for good. Whatever was fetched but not
// committed when it returns is delivered again to the next run.
//
// Fetching and decoding run on their own goroutine, ahead of applying: while
// the backend writes a batch (mostly waiting for its segment to reach the
// disk), what arrives meanwhile is fetched and decoded into the next batch,
// which grows up to BatchSize. Under a backlog batches therefore grow, and
// the fixed cost of a durable write is spread over more changes; when the
// stream is light, a batch is what arrived within BatchWait. Batches are
// still applied and committed one at a time, in order.
func (ix *Indexer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := &batchQueue{max: ix.cfg.BatchSize}
	q.cond = sync.NewCond(&q.mu)
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ix.fetchLoop(ctx, q)
	}()
	defer wg.Wait()
	defer cancel()
	for {
		d, err := q.take(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := ix.applyBatch(ctx, d); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// batchQueue is the next batch, filled by the fetching goroutine and taken
// whole by the applying one.
type batchQueue struct {
	max  int
	mu   sync.Mutex
	cond *sync.Cond
	next decoded
	err  error // the fetch failed; returned once next is taken
}

// room waits until the next batch has room (or ctx is done) and returns how
// many messages it can still take.
func (q *batchQueue) room(ctx context.Context) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.next.msgs) >= q.max && ctx.Err() == nil {
		q.cond.Wait()
	}
	return q.max - len(q.next.msgs)
}

// add appends a decoded chunk of messages to the next batch.
func (q *batchQueue) add(d decoded) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next.append(d)
	q.cond.Broadcast()
}

func (q *batchQueue) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.err = err
	q.cond.Broadcast()
}

// take waits for a non-empty batch (or the fetch error, or ctx) and takes
// it.
func (q *batchQueue) take(ctx context.Context) (decoded, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.next.msgs) == 0 && q.err == nil && ctx.Err() == nil {
		q.cond.Wait()
	}
	if len(q.next.msgs) == 0 {
		if err := ctx.Err(); err != nil {
			return decoded{}, err
		}
		return decoded{}, q.err
	}
	d := q.next
	q.next = decoded{}
	q.cond.Broadcast()
	return d, nil
}

// fetchLoop fetches and decodes into q until ctx is done or Fetch fails.
func (ix *Indexer) fetchLoop(ctx context.Context, q *batchQueue) {
	for {
		n := q.room(ctx)
		if ctx.Err() != nil {
			return
		}
		msgs, err := ix.src.Fetch(ctx, n, ix.cfg.BatchWait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			q.fail(fmt.Errorf("indexer: fetch: %w", err))
			return
		}
		q.add(ix.decode(msgs))
	}
}

// pending is a listing change and the batch position of its message.
type pending struct {
	change query.Change
	seq    uint32 // source.seq: the order within the transaction, 0 when unset
	msg    int
}

// batchResult tells what one batch did; applyBatch gathers its dead
// letters in it.
type batchResult struct {
	Messages, Changes, Coalesced int
	Apply                        query.ApplyStats
	DeadLetters                  []DeadLetter
}

// decoded is a batch after step 1: what its messages mean.
type decoded struct {
	msgs     []Message
	listings []pending
	social   []signals.Change
	changed  []Changed // every change of a handled table, for the Invalidator
	dead     []DeadLetter
	lastLSN  map[string]uint64
}

// append adds the messages (and what they decoded to) of o after those of
// d.
func (d *decoded) append(o decoded) {
	if len(d.msgs) == 0 {
		*d = o
		return
	}
	base := len(d.msgs)
	d.msgs = append(d.msgs, o.msgs...)
	for _, p := range o.listings {
		p.msg += base
		d.listings = append(d.listings, p)
	}
	d.social = append(d.social, o.social...)
	d.changed = append(d.changed, o.changed...)
	d.dead = append(d.dead, o.dead...)
	for t, lsn := range o.lastLSN {
		d.lastLSN[t] = max(d.lastLSN[t], lsn)
	}
}

// decodeParallelMin is the batch size from which decoding is split across
// the CPUs: JSON decoding is most of the loop's own CPU time.
const decodeParallelMin = 512

// decode runs step 1 of the protocol: it decodes and transforms every
// message, in parallel for large batches, keeping the message order.
func (ix *Indexer) decode(msgs []Message) decoded {
	parts := 1
	if len(msgs) >= decodeParallelMin {
		parts = min(runtime.GOMAXPROCS(0), len(msgs)/(decodeParallelMin/2))
	}
	out := make([]decoded, parts)
	chunk := (len(msgs) + parts - 1) / parts
	var wg sync.WaitGroup
	for w := range parts {
		lo, hi := w*chunk, min((w+1)*chunk, len(msgs))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[w] = ix.decodeRange(msgs, lo, hi)
		}()
	}
	wg.Wait()
	d := out[0]
	d.msgs = msgs
	if d.lastLSN == nil {
		d.lastLSN = map[string]uint64{}
	}
	for _, o := range out[1:] {
		d.listings = append(d.listings, o.listings...)
		d.social = append(d.social, o.social...)
		d.changed = append(d.changed, o.changed...)
		d.dead = append(d.dead, o.dead...)
		for t, lsn := range o.lastLSN {
			d.lastLSN[t] = max(d.lastLSN[t], lsn)
		}
	}
	return d
}

// decodeRange decodes msgs[lo:hi]; pending.msg indexes msgs.
func (ix *Indexer) decodeRange(msgs []Message, lo, hi int) decoded {
	d := decoded{lastLSN: map[string]uint64{}}
	for i := lo; i < hi; i++ {
		msg := msgs[i]
		e, err := DecodeEvent(msg.Topic, msg.Key, msg.Value)
		if errors.Is(err, ErrTombstone) {
			ix.m.Tombstones.Inc()
			continue
		}
		if err != nil {
			d.dead = append(d.dead, ix.badRow(msg, topicTable(msg.Topic), ReasonDecode, err))
			continue
		}
		table := e.Source.Table
		ix.m.Events.WithLabelValues(table, string(e.Op)).Inc()
		if ix.cfg.Invalidator != nil && ix.tables[table] {
			d.changed = append(d.changed, Changed{Table: table, Before: e.Before, After: e.After})
		}
		switch {
		case !ix.tables[table]:
			ix.m.Skipped.WithLabelValues(table).Inc()
			continue
		case table == ListingsTable:
			c, reason, err := listingChange(e)
			if err != nil {
				d.dead = append(d.dead, ix.badRow(msg, table, reason, err))
				continue
			}
			d.listings = append(d.listings, pending{change: c, seq: e.Source.Seq, msg: i})
		case IsSocialTable(table):
			c, err := SocialChange(e)
			if err != nil {
				d.dead = append(d.dead, ix.badRow(msg, table, ReasonTransform, err))
				continue
			}
			d.social = append(d.social, c)
		default:
			ix.m.Skipped.WithLabelValues(table).Inc()
			continue
		}
		d.lastLSN[table] = max(d.lastLSN[table], e.Version())
	}
	return d
}

// applyBatch runs steps 2-6 of the protocol on a decoded batch.
func (ix *Indexer) applyBatch(ctx context.Context, d decoded) (batchResult, error) {
	msgs, listings, lastLSN := d.msgs, d.listings, d.lastLSN
	res := batchResult{Messages: len(msgs), DeadLetters: d.dead}
	ix.m.BatchSize.Observe(float64(len(msgs)))

	// 2. Coalesce.
	changes, coalesced := coalesce(listings)
	res.Changes, res.Coalesced = len(changes), coalesced
	ix.m.Coalesced.Add(float64(coalesced))

	// 3 and 4 at once: the listings to the backend and the social changes
	// to the signals store, two independent stores each waiting for its
	// disk (or network).
	social := ix.applySignals(ctx, d)
	if len(changes) > 0 {
		if ix.counts != nil {
			if err := ix.retry(ctx, "counters read", func() error { return ix.counts.fill(ctx, changes) }); err != nil {
				<-social
				return res, err
			}
		}
		start := time.Now()
		rejected, err := ix.apply(ctx, changes, &res.Apply)
		if err != nil {
			<-social
			return res, err
		}
		ix.m.ApplySeconds.Observe(time.Since(start).Seconds())
		ix.m.Written.Add(float64(res.Apply.Written))
		ix.m.Stale.Add(float64(res.Apply.Stale))
		for _, p := range rejected {
			res.DeadLetters = append(res.DeadLetters, DeadLetter{Message: msgs[p.msg], Reason: ReasonRejected, Err: p.err.Error()})
		}
	}
	if err := <-social; err != nil {
		return res, err
	}
	if ix.counts != nil {
		if err := ix.retry(ctx, "counters write", func() error { return ix.counts.refresh(ctx, d.social) }); err != nil {
			return res, err
		}
	}

	// 4b. Invalidations, once what they are about can be read.
	if ix.cfg.Invalidator != nil && len(d.changed) > 0 {
		if err := ix.retry(ctx, "invalidation", func() error { return ix.cfg.Invalidator.Invalidate(ctx, d.changed) }); err != nil {
			return res, err
		}
	}

	// 5. Dead letters, acknowledged before the commit moves past them.
	if len(res.DeadLetters) > 0 {
		for _, d := range res.DeadLetters {
			ix.log.Warn("indexer: dead letter", "reason", d.Reason, "error", d.Err, "key", string(d.Message.Key),
				"topic", d.Message.Topic, "partition", d.Message.Partition, "offset", d.Message.Offset)
		}
		if err := ix.retry(ctx, "dead-letter write", func() error { return ix.dlq.Send(ctx, res.DeadLetters) }); err != nil {
			return res, err
		}
		for _, d := range res.DeadLetters {
			ix.m.DeadLetters.WithLabelValues(d.Reason).Inc()
		}
	}

	// 6. Commit.
	var err error
	for attempt := 0; attempt < ix.cfg.CommitAttempts; attempt++ {
		if err = ix.src.Commit(ctx, msgs); err == nil {
			break
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		ix.m.ApplyRetries.Inc()
		ix.log.Warn("indexer: commit failed; retrying", "attempt", attempt+1, "error", err)
		if werr := sleep(ctx, ix.backoff(attempt)); werr != nil {
			return res, werr
		}
	}
	if err != nil {
		return res, fmt.Errorf("indexer: commit offsets: %w", err)
	}
	ix.m.Batches.Inc()
	for table, lsn := range lastLSN {
		ix.m.LastAppliedLSN.WithLabelValues(table).Set(float64(lsn))
	}
	ix.observeLag(msgs)
	return res, nil
}

// badRow is the dead letter of a message the indexer cannot use, counted
// by table (rummage_indexer_bad_rows_total; the table of its topic when the
// envelope did not decode).
func (ix *Indexer) badRow(msg Message, table, reason string, err error) DeadLetter {
	ix.m.BadRows.WithLabelValues(table).Inc()
	return DeadLetter{Message: msg, Reason: reason, Err: err.Error()}
}

// observeLag sets, per partition, how far the committed position is behind
// the high-water mark seen at fetch time.
func (ix *Indexer) observeLag(msgs []Message) {
	type tp struct {
		topic string
		part  int
	}
	last := map[tp]Message{}
	for _, m := range msgs {
		k := tp{m.Topic, m.Partition}
		if prev, ok := last[k]; !ok || m.Offset > prev.Offset {
			last[k] = m
		}
	}
	for k, m := range last {
		if m.HighWaterMark > 0 {
			ix.m.ConsumerLag.WithLabelValues(k.topic, strconv.Itoa(k.part)).Set(float64(max(m.HighWaterMark-m.Offset-1, 0)))
		}
	}
}

type rejectedChange struct {
	pending
	err error
}

// apply writes changes, retrying transient errors with backoff without limit
// and bisecting a batch the backend rejects as invalid down to the changes
// at fault, which it returns. It fails only when ctx is done.
func (ix *Indexer) apply(ctx context.Context, changes []pending, stats *query.ApplyStats) ([]rejectedChange, error) {
	var rejected []rejectedChange
	var do func(part []pending) error
	do = func(part []pending) error {
		batch := make([]query.Change, len(part))
		for i, p := range part {
			batch[i] = p.change
		}
		for attempt := 0; ; attempt++ {
			st, err := ix.backend.Apply(ctx, batch)
			if err == nil {
				stats.Written += st.Written
				stats.Stale += st.Stale
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if IsPermanent(err) {
				if len(part) == 1 {
					rejected = append(rejected, rejectedChange{part[0], err})
					return nil
				}
				mid := len(part) / 2
				if err := do(part[:mid]); err != nil {
					return err
				}
				return do(part[mid:])
			}
			ix.m.ApplyRetries.Inc()
			ix.log.Warn("indexer: apply failed; retrying the batch", "changes", len(batch), "attempt", attempt+1, "error", err)
			if err := sleep(ctx, ix.backoff(attempt)); err != nil {
				return err
			}
		}
	}
	return rejected, do(changes)
}

// ErrSignalsLost is signals.ErrLost, wrapped by an error of the signals
// store's Apply: the store lost its data under the running indexer (a
// Redis emptied or replaced), and no retry can succeed, since the committed
// offsets are past rows it no longer holds. Run returns the error; the
// next start finds the store without positions and reads the social topics
// from their start (RewindTopics).
var ErrSignalsLost = signals.ErrLost

// ErrRejected marks a change the backend refuses for what it is, not for a
// passing condition: retrying it cannot succeed. A backend wraps it (or
// returns a *rummage.FieldError or *query.InvalidError) to have the indexer
// dead-letter the change instead of retrying.
var ErrRejected = errors.New("change rejected")

// IsPermanent reports whether an Apply error means the batch holds a change
// the backend will never accept (see ErrRejected); anything else is taken as
// transient and retried.
func IsPermanent(err error) bool {
	var fe *rummage.FieldError
	var ie *query.InvalidError
	return errors.Is(err, ErrRejected) || errors.As(err, &fe) || errors.As(err, &ie)
}

// retry runs f until it succeeds or ctx is done, with backoff.
func (ix *Indexer) retry(ctx context.Context, what string, f func() error) error {
	return ix.retryUnless(ctx, what, f, nil)
}

// retryUnless is retry, giving up at once on an error final says cannot
// pass by retrying.
func (ix *Indexer) retryUnless(ctx context.Context, what string, f func() error, final func(error) bool) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if final != nil && final(err) {
			return fmt.Errorf("indexer: %s: %w", what, err)
		}
		ix.m.ApplyRetries.Inc()
		ix.log.Warn("indexer: "+what+" failed; retrying", "attempt", attempt+1, "error", err)
		if err := sleep(ctx, ix.backoff(attempt)); err != nil {
			return err
		}
	}
}

func (ix *Indexer) backoff(attempt int) time.Duration {
	d := ix.cfg.RetryMin
	for i := 0; i < attempt && d < ix.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, ix.cfg.RetryMax)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// listingChange maps a listings event to a versioned change, or says why it
// cannot (a Reason* code and the error).
func listingChange(e change.Event) (query.Change, string, error) {
	switch e.Op {
	case change.OpTruncate:
		return query.Change{}, ReasonTruncateUnsupported, errors.New(
			"truncate of listings: the backend has no delete-all-below-version action; the index keeps the rows until a reindex (rummage reconcile lists them)")
	case change.OpDelete:
		id, err := keyID(e.Before, e.Key)
		if err != nil {
			return query.Change{}, ReasonTransform, err
		}
		if id == "" {
			return query.Change{}, ReasonInvalid, &rummage.FieldError{Field: "id", Message: "is required"}
		}
		return query.Change{ID: id, Version: e.Version(), Delete: true}, "", nil
	}
	l, err := DecodeListing(e.After)
	if err != nil {
		return query.Change{}, ReasonTransform, err
	}
	if l.ID == "" {
		if l.ID, err = keyID(nil, e.Key); err != nil {
			return query.Change{}, ReasonTransform, err
		}
	}
	if err := l.Validate(); err != nil {
		return query.Change{}, ReasonInvalid, err
	}
	return query.Change{ID: l.ID, Version: e.Version(), Doc: &l}, "", nil
}

// coalesce keeps one change per listing id: the highest (version, seq),
// and among equal ones (one transaction, seq unset) the later message, which
// a row's partition order makes the later change. It returns them in the
// order of the winners' messages, and how many changes were superseded.
func coalesce(in []pending) ([]pending, int) {
	winner := make(map[string]int, len(in))
	for i, p := range in {
		j, ok := winner[p.change.ID]
		if !ok {
			winner[p.change.ID] = i
			continue
		}
		w := in[j]
		if p.change.Version > w.change.Version || p.change.Version == w.change.Version && p.seq >= w.seq {
			winner[p.change.ID] = i
		}
	}
	out := make([]pending, 0, len(winner))
	for i, p := range in {
		if winner[p.change.ID] == i {
			out = append(out, p)
		}
	}
	return out, len(in) - len(out)
}
