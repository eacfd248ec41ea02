package indexer

// These tests drive the loop with an in-test Source and a recorder of Apply
// calls, because their point is the loop's own behaviour (what is committed
// when, coalescing, dead letters, retries). The same paths run against kfake
// and the real embedded backend in indexer/kafkabus's tests.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// journal records, in order, what the loop did.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
	j.mu.Unlock()
}

// flakySink is the fake behind each of the loop's outputs (dead letters,
// signals, invalidations): its first failures calls fail, journaled as
// "<name> failed"; later ones record what they were given, journaled as
// "<name> <n>".
type flakySink[T any] struct {
	j        *journal
	mu       sync.Mutex
	got      []T
	failures int
}

func (s *flakySink[T]) take(name string, items []T, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		s.j.add("%s failed", name)
		return fmt.Errorf("%s: unavailable", name)
	}
	s.got = append(s.got, items...)
	s.j.add("%s %d", name, n)
	return nil
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// fakeSource serves msgs in order, one partition, and records commits.
type fakeSource struct {
	j         *journal
	mu        sync.Mutex
	msgs      []Message
	next      int
	committed int64 // next offset to read after a restart
	commitErr []error
}

func (s *fakeSource) Fetch(ctx context.Context, max int, _ time.Duration) ([]Message, error) {
	for {
		s.mu.Lock()
		if s.next < len(s.msgs) {
			end := min(s.next+max, len(s.msgs))
			out := s.msgs[s.next:end]
			s.next = end
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *fakeSource) Commit(_ context.Context, msgs []Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := nextFailure(&s.commitErr); err != nil {
		s.j.add("commit failed")
		return err
	}
	last := msgs[len(msgs)-1].Offset
	s.committed = last + 1
	s.j.add("commit %d", last)
	return nil
}

// nextFailure pops the first of the failures a fake was told to return,
// or returns nil when none is left.
func nextFailure(q *[]error) error {
	if len(*q) == 0 {
		return nil
	}
	err := (*q)[0]
	*q = (*q)[1:]
	return err
}

func (s *fakeSource) add(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	s.msgs = append(s.msgs, Message{Topic: "rummage.public.listings", Offset: int64(len(s.msgs)), HighWaterMark: int64(len(s.msgs) + 1), Key: k, Value: v})
}

// recorder is a versioned in-memory Applier with injected failures.
type recorder struct {
	j        *journal
	mu       sync.Mutex
	docs     map[string]query.Change
	calls    [][]query.Change
	failures []error                 // returned by the next Apply calls, in order
	reject   func(query.Change) bool // changes rejected with ErrRejected
}

func newRecorder(j *journal) *recorder { return &recorder{j: j, docs: map[string]query.Change{}} }

func (r *recorder) Apply(_ context.Context, batch []query.Change) (query.ApplyStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := nextFailure(&r.failures); err != nil {
		r.j.add("apply failed")
		return query.ApplyStats{}, err
	}
	for _, c := range batch {
		if r.reject != nil && r.reject(c) {
			r.j.add("apply rejected")
			return query.ApplyStats{}, fmt.Errorf("recorder: %s: %w", c.ID, ErrRejected)
		}
	}
	r.calls = append(r.calls, slices.Clone(batch))
	var st query.ApplyStats
	for _, c := range batch {
		if held, ok := r.docs[c.ID]; ok && c.Version < held.Version { // an equal version applies
			st.Stale++
			continue
		}
		r.docs[c.ID] = c
		st.Written++
	}
	r.j.add("apply %d", len(batch))
	return st, nil
}

func (r *recorder) doc(id string) (query.Change, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.docs[id]
	return c, ok
}

// fakeDLQ is the dead-letter queue: it fails the first failures sends.
type fakeDLQ struct{ flakySink[DeadLetter] }

func (d *fakeDLQ) Send(_ context.Context, letters []DeadLetter) error {
	return d.take("dlq", letters, len(letters))
}

func listingEvent(op, id string, lsn uint64, price, shares int64) string {
	row := fmt.Sprintf(`{"id":%q,"seller_id":"s1","title":"Listing %s","price_cents":%d,"share_count":%d,"category":["Women","Dresses"],"images":[],"created_at":"2024-01-02T03:04:05Z"}`, id, id, price, shares)
	if op == "d" {
		return fmt.Sprintf(`{"before":%s,"after":null,"op":"d","ts_ms":1,"source":{"schema":"public","table":"listings","lsn":%d}}`, row, lsn)
	}
	return fmt.Sprintf(`{"before":null,"after":%s,"op":%q,"ts_ms":1,"source":{"schema":"public","table":"listings","lsn":%d}}`, row, op, lsn)
}

func key(id string) string { return fmt.Sprintf(`{"id":%q}`, id) }

type harness struct {
	j   *journal
	src *fakeSource
	rec *recorder
	dlq *fakeDLQ
	ix  *Indexer
	m   *Metrics
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	j := &journal{}
	h := &harness{j: j, src: &fakeSource{j: j}, rec: newRecorder(j), dlq: &fakeDLQ{flakySink[DeadLetter]{j: j}}, m: NewMetrics(nil)}
	cfg.Metrics = h.m
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 4*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ix, err := New(h.src, h.rec, h.dlq, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ix = ix
	return h
}

// run runs the loop until cond holds (polling, generous deadline), then
// stops it.
func (h *harness) run(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ix.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("condition not reached; journal %v", h.j.list())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func (h *harness) committed() int64 {
	h.src.mu.Lock()
	defer h.src.mu.Unlock()
	return h.src.committed
}

func TestCommitOnlyAfterApply(t *testing.T) {
	h := newHarness(t, Config{})
	h.rec.failures = []error{errors.New("disk full"), errors.New("disk full")}
	h.src.add(key("a"), listingEvent("c", "a", 10, 100, 0))
	h.src.add(key("b"), listingEvent("c", "b", 11, 200, 0))
	h.run(t, func() bool { return h.committed() == 2 })
	h.wantJournal(t, "apply failed", "apply failed", "apply 2", "commit 1")
	if c, ok := h.rec.doc("b"); !ok || c.Doc.PriceCents != 200 {
		t.Fatalf("b not applied: %+v", c)
	}
	if got := testutil.ToFloat64(h.m.ApplyRetries); got != 2 {
		t.Fatalf("retries %v", got)
	}
}

func TestApplyNeverSucceedsCommitsNothing(t *testing.T) {
	h := newHarness(t, Config{})
	for range 1000 {
		h.rec.failures = append(h.rec.failures, errors.New("backend down"))
	}
	h.src.add(key("a"), listingEvent("c", "a", 10, 100, 0))
	h.run(t, func() bool { return testutil.ToFloat64(h.m.ApplyRetries) >= 5 })
	if h.committed() != 0 || slices.ContainsFunc(h.j.list(), func(s string) bool { return s != "apply failed" }) {
		t.Fatalf("committed %d, journal %v", h.committed(), h.j.list())
	}
}

func TestPoisonGoesToDeadLetterAndPipelineGoesOn(t *testing.T) {
	h := newHarness(t, Config{BatchSize: 100})
	h.dlq.failures = 1 // the first dead-letter write fails: no commit until it is acked
	h.src.add(key("a"), listingEvent("c", "a", 10, 100, 0))
	h.src.add(key("x"), `{"before":null,"after":`)                                                      // not JSON
	h.src.add(key("y"), `{"after":{"id":"y","seller_id":"s","title":""},"op":"c","source":{"lsn":12}}`) // fails Validate
	h.src.add(key("z"), `{"after":{"id":"z","price_cents":"lots"},"op":"c","source":{"lsn":13}}`)       // does not map
	h.src.add("", `{"before":null,"after":null,"op":"t","source":{"table":"listings","lsn":14}}`)       // truncate
	h.src.add(key("a"), "")                                                                             // tombstone: skipped
	h.src.add(key("b"), listingEvent("c", "b", 15, 300, 0))
	h.run(t, func() bool { return h.committed() == 7 })
	h.wantJournal(t, "apply 2", "dlq failed", "dlq 4", "commit 6")
	var reasons []string
	for _, d := range h.dlq.got {
		reasons = append(reasons, fmt.Sprintf("%d:%s", d.Message.Offset, d.Reason))
	}
	if want := []string{"1:decode", "2:invalid", "3:transform", "4:truncate_unsupported"}; !slices.Equal(reasons, want) {
		t.Fatalf("dead letters %v, want %v", reasons, want)
	}
	if _, ok := h.rec.doc("b"); !ok {
		t.Fatal("the good message after the poison was not applied")
	}
	if got := testutil.ToFloat64(h.m.DeadLetters.WithLabelValues(ReasonDecode)); got != 1 {
		t.Fatalf("dead letter metric %v", got)
	}
	if got := testutil.ToFloat64(h.m.Tombstones); got != 1 {
		t.Fatalf("tombstones %v", got)
	}
}

func TestRejectedChangeIsBisectedOut(t *testing.T) {
	h := newHarness(t, Config{})
	h.rec.reject = func(c query.Change) bool { return c.ID == "bad" }
	for i, id := range []string{"a", "b", "bad", "c", "d"} {
		h.src.add(key(id), listingEvent("c", id, uint64(10+i), 100, 0))
	}
	h.run(t, func() bool { return h.committed() == 5 })
	if len(h.dlq.got) != 1 || h.dlq.got[0].Reason != ReasonRejected || h.dlq.got[0].Message.Offset != 2 {
		t.Fatalf("dead letters %+v", h.dlq.got)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, ok := h.rec.doc(id); !ok {
			t.Fatalf("%s not applied; journal %v", id, h.j.list())
		}
	}
}

func TestCoalesceKeepsNewestPerListing(t *testing.T) {
	const listings, updates = 2000, 20000
	h := newHarness(t, Config{BatchSize: updates})
	lsn := uint64(1000)
	for i := range updates {
		id := fmt.Sprintf("l%d", i%listings)
		lsn++
		h.src.add(key(id), listingEvent("u", id, lsn, 100, int64(i/listings+1)))
	}
	h.run(t, func() bool { return h.committed() == updates })
	if len(h.rec.calls) != 1 || len(h.rec.calls[0]) != listings {
		t.Fatalf("apply calls %d, first of %d changes; want 1 of %d", len(h.rec.calls), len(h.rec.calls[0]), listings)
	}
	for i := range listings {
		c, _ := h.rec.doc(fmt.Sprintf("l%d", i))
		if c.Doc.ShareCount != updates/listings {
			t.Fatalf("l%d share_count %d", i, c.Doc.ShareCount)
		}
	}
	if got := testutil.ToFloat64(h.m.Coalesced); got != updates-listings {
		t.Fatalf("coalesced %v", got)
	}
}

func TestCoalesce(t *testing.T) {
	ch := func(id string, v uint64, price int64) pending {
		return pending{change: query.Change{ID: id, Version: v, Doc: &rummage.Listing{ID: id, PriceCents: price}}}
	}
	seq := func(p pending, s uint32) pending { p.seq = s; return p }
	for _, tc := range []struct {
		name      string
		in        []pending
		want      []string // id:price of the winners, in order
		coalesced int
	}{
		{"distinct", []pending{ch("a", 1, 1), ch("b", 1, 2)}, []string{"a:1", "b:2"}, 0},
		{"newer wins", []pending{ch("a", 1, 1), ch("a", 2, 2)}, []string{"a:2"}, 1},
		{"older later loses", []pending{ch("a", 5, 1), ch("a", 2, 2)}, []string{"a:1"}, 1},
		{"equal version: later message wins (one transaction)", []pending{ch("a", 7, 1), ch("a", 7, 2), ch("a", 7, 3)}, []string{"a:3"}, 2},
		{"equal version: higher seq wins", []pending{seq(ch("a", 7, 1), 2), seq(ch("a", 7, 2), 1)}, []string{"a:1"}, 1},
		{"order of winners", []pending{ch("a", 1, 1), ch("b", 1, 1), ch("a", 2, 9)}, []string{"b:1", "a:9"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, n := coalesce(tc.in)
			var got []string
			for _, p := range out {
				got = append(got, fmt.Sprintf("%s:%d", p.change.ID, p.change.Doc.PriceCents))
			}
			if !slices.Equal(got, tc.want) || n != tc.coalesced {
				t.Fatalf("got %v (%d coalesced), want %v (%d)", got, n, tc.want, tc.coalesced)
			}
		})
	}
}

func TestCommitRetriesThenFails(t *testing.T) {
	h := newHarness(t, Config{CommitAttempts: 3})
	h.src.commitErr = []error{errors.New("rebalance"), errors.New("rebalance"), errors.New("rebalance")}
	h.src.add(key("a"), listingEvent("c", "a", 10, 100, 0))
	err := h.ix.Run(context.Background())
	if err == nil || h.committed() != 0 {
		t.Fatalf("err %v committed %d", err, h.committed())
	}
}

// signalsFake is a trivial signals.Writer: it records the batches it
// applied and fails the first calls when asked. The real stores and their
// version rule are tested in signals/...; this one checks the loop's side.
type signalsFake struct{ flakySink[signals.Batch] }

func (s *signalsFake) Apply(_ context.Context, b signals.Batch) error {
	return s.take("signals", []signals.Batch{b}, len(b.Changes))
}

func (s *signalsFake) Positions(context.Context) ([]signals.Position, error) { return nil, nil }

func (s *signalsFake) applied() ([]signals.Change, []signals.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []signals.Change
	var ps []signals.Position
	for _, b := range s.got {
		cs = append(cs, b.Changes...)
		ps = append(ps, b.Positions...)
	}
	return cs, ps
}

// wantJournal fails t unless the loop did exactly want, in order.
func (h *harness) wantJournal(t *testing.T, want ...string) {
	t.Helper()
	if got := h.j.list(); !slices.Equal(got, want) {
		t.Fatalf("journal %v, want %v", got, want)
	}
}

func (h *harness) addOn(topic string, partition int, key, value string) {
	h.src.mu.Lock()
	h.src.msgs = append(h.src.msgs, Message{Topic: topic, Partition: partition, Offset: int64(len(h.src.msgs)), Key: []byte(key), Value: []byte(value)})
	h.src.mu.Unlock()
}

func TestSocialTablesGoToSignals(t *testing.T) {
	var logs bytes.Buffer
	st := &signalsFake{flakySink[signals.Batch]{failures: 2}}
	h := newHarness(t, Config{Signals: st, Tables: []string{"listings", "sellers", "follows", "parties", "audit"}})
	st.j = h.j
	h.ix.log = slog.New(slog.NewTextHandler(&logs, nil))
	add := h.addOn
	add("p.public.sellers", 0, key("s1"), `{"after":{"id":"s1","username":"ann"},"op":"c","source":{"table":"sellers","lsn":5}}`)
	add("p.public.follows", 1, `{"follower_id":"u1","seller_id":"s1"}`, `{"after":{"follower_id":"u1","seller_id":"s1"},"op":"c","source":{"table":"follows","lsn":6}}`)
	add("p.public.listings", 0, key("a"), listingEvent("c", "a", 6, 100, 0))
	add("p.public.follows", 1, `{"follower_id":"u1","seller_id":"s1"}`, `{"before":{"follower_id":"u1","seller_id":"s1","created_at":"2026-01-02T03:04:05Z"},"op":"d","source":{"table":"follows","lsn":8}}`)
	add("p.public.parties", 0, key("p1"), `{"after":{"id":"p1","name":"n","theme":{"colour":["red"]},"starts_at":"2026-01-02T03:04:05Z","ends_at":"2026-01-02T05:04:05Z"},"op":"c","source":{"table":"parties","lsn":8}}`)
	add("p.public.follows", 0, `{"follower_id":"u2"}`, `{not json`)
	add("p.public.sellers", 0, "", `{"op":"t","source":{"table":"sellers","lsn":9}}`)
	add("p.public.audit", 0, key("x"), `{"after":{"id":"x"},"op":"c","source":{"table":"audit","lsn":9}}`)
	add("p.public.likes", 0, key("x"), `{"after":{"user_id":"u1","listing_id":"l1"},"op":"c","source":{"table":"likes","lsn":9}}`)
	h.run(t, func() bool { return h.committed() == 9 })

	// The store got every good social change, in stream order, with the
	// positions of the social partitions (not of listings, not of tables
	// the indexer does not handle), and only then was the batch committed.
	changes, positions := st.applied()
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%s@%d delete=%v", changeTable(c), c.Version, c.Delete))
	}
	want := []string{"sellers@5 delete=false", "follows@6 delete=false", "follows@8 delete=true", "sellers@9 delete=false"}
	if !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
	if f := changes[2].Follow; f == nil || f.Follower != "u1" || f.At.IsZero() {
		t.Fatalf("the delete does not carry the old row: %s", show(changes[2]))
	}
	if changes[3].Truncate != "sellers" {
		t.Fatalf("truncate: %s", show(changes[3]))
	}
	high := map[string]int64{}
	for _, p := range positions {
		k := fmt.Sprintf("%s/%d", p.Topic, p.Partition)
		high[k] = max(high[k], p.Offset)
	}
	wantHigh := map[string]int64{"p.public.sellers/0": 6, "p.public.follows/1": 3, "p.public.parties/0": 4, "p.public.follows/0": 5}
	if !reflect.DeepEqual(high, wantHigh) {
		t.Fatalf("positions %v, want %v", high, wantHigh)
	}
	ev := h.j.list()
	if i, k := slices.Index(ev, "signals failed"), slices.IndexFunc(ev, func(e string) bool { return strings.HasPrefix(e, "commit") }); i < 0 || k < i ||
		!slices.ContainsFunc(ev[:k], func(e string) bool { return strings.HasPrefix(e, "signals ") && e != "signals failed" }) {
		t.Fatalf("want the failed signals apply retried before the commit: %q", ev)
	}

	// Bad rows: counted by table, logged with their key, dead-lettered, and
	// committed past (the partition moves on).
	for table, n := range map[string]float64{"parties": 1, "follows": 1} {
		if got := testutil.ToFloat64(h.m.BadRows.WithLabelValues(table)); got != n {
			t.Fatalf("bad rows of %s: %v, want %v", table, got, n)
		}
	}
	if len(h.dlq.got) != 2 {
		t.Fatalf("dead letters %+v", h.dlq.got)
	}
	for _, k := range []string{`key="{\"id\":\"p1\"}"`, `key="{\"follower_id\":\"u2\"}"`} {
		if !strings.Contains(logs.String(), k) {
			t.Fatalf("log does not name the key %s:\n%s", k, logs.String())
		}
	}
	if got := testutil.ToFloat64(h.m.Skipped.WithLabelValues("audit")); got != 1 {
		t.Fatalf("skipped audit %v", got)
	}
	if got := testutil.ToFloat64(h.m.Skipped.WithLabelValues("likes")); got != 1 {
		t.Fatalf("skipped likes (not in Tables) %v", got)
	}
	if got := testutil.ToFloat64(h.m.Rows.WithLabelValues("follows")); got != 2 {
		t.Fatalf("rows of follows %v", got)
	}
	if _, ok := h.rec.doc("a"); !ok {
		t.Fatal("the listing was not applied")
	}
}

func TestSocialWithoutStoreCountsAndCommits(t *testing.T) {
	h := newHarness(t, Config{})
	h.addOn("p.public.likes", 0, key("x"), `{"after":{"user_id":"u1","listing_id":"l1"},"op":"c","source":{"table":"likes","lsn":9}}`)
	h.run(t, func() bool { return h.committed() == 1 })
	if got := testutil.ToFloat64(h.m.Rows.WithLabelValues("likes")); got != 1 {
		t.Fatalf("rows of likes %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	testkit.CheckValidate(t, []testkit.ValidateCase[Config]{
		{Name: "defaults", Cfg: Config{}, OK: true},
		{Name: "no listings", Cfg: Config{Tables: []string{"sellers"}}, OK: false},
		{Name: "negative batch", Cfg: Config{BatchSize: -1}, OK: false},
		{Name: "retry max below min", Cfg: Config{RetryMin: time.Second, RetryMax: time.Millisecond}, OK: false},
	})
}

// lostStore is a signals store that lost its data (an emptied Redis).
type lostStore struct{ signalsFake }

func (*lostStore) Apply(context.Context, signals.Batch) error {
	return fmt.Errorf("redis: %w", ErrSignalsLost)
}

func TestSignalsLostStopsTheIndexer(t *testing.T) {
	h := newHarness(t, Config{Signals: &lostStore{}})
	h.addOn("p.public.likes", 0, key("x"), `{"after":{"user_id":"u1","listing_id":"l1"},"op":"c","source":{"table":"likes","lsn":9}}`)
	err := h.ix.Run(context.Background())
	if !errors.Is(err, ErrSignalsLost) || h.committed() != 0 {
		t.Fatalf("Run = %v with %d committed; want ErrSignalsLost and nothing committed", err, h.committed())
	}
}
