package pgcdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/internal/testkit"
	"github.com/rummage/rummage/internal/testpg"
)

// memSink keeps every event it acknowledged, in order.
type memSink struct {
	mu     sync.Mutex
	events []change.Event
	fail   error // returned (once) instead of storing, when set
}

func (s *memSink) Write(ctx context.Context, evs []change.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		err := s.fail
		s.fail = nil
		return err
	}
	s.events = append(s.events, evs...)
	return nil
}

func (s *memSink) snapshot() []change.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// waitFor polls until cond holds for the events so far (generous deadline:
// "eventually" conditions, not timings).
func (s *memSink) waitFor(t *testing.T, what string, cond func([]change.Event) bool) []change.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := s.snapshot()
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			for _, e := range evs {
				t.Logf("event: %s %s.%s key=%s lsn=%d seq=%d before=%.200s after=%.200s", e.Op, e.Source.Schema, e.Source.Table, e.Key, e.Source.LSN, e.Source.Seq, e.Before, e.After)
			}
			t.Fatalf("timed out waiting for %s (%d events)", what, len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newDB returns a fresh database with Rummage's schema and a connection.
func newDB(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := testpg.New(t, testpg.Options{Logical: true})
	ctx := context.Background()
	conn := testpg.Connect(t, dsn)
	for _, sql := range migrations(t) {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("apply schema: %v", err)
		}
	}
	return dsn, conn
}

// migrations returns the SQL of every migration in fixtures/migrations, in
// the order they apply: the default table list (rummage.Tables) names
// tables of later migrations than 0001.
func migrations(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../fixtures/migrations/*.sql")
	if err != nil || len(files) < 3 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	slices.Sort(files)
	out := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// running is a CDC started in the background.
type running struct {
	cdc    *CDC
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config, sink Sink) *running {
	t.Helper()
	if cfg.Linger == 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 200 * time.Millisecond
	}
	cfg.MinBackoff, cfg.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	if cfg.Slot == "" {
		cfg.Slot = slotFor(t, cfg.DatabaseURL)
	}
	c, err := New(cfg, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cdc: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("CDC did not stop")
	}
	return nil
}

// waitStreaming waits until the CDC holds its slot (the snapshot is done and
// replication has started).
func waitStreaming(t *testing.T, db *pgx.Conn) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var active bool
		// A slot is active while it is still being created, before its
		// consistent point (and the snapshot's) is known: a write then
		// would land in the snapshot. confirmed_flush_lsn is set once the
		// point is found; what is written after it comes by the stream.
		err := db.QueryRow(context.Background(), `SELECT coalesce(bool_or(active AND confirmed_flush_lsn IS NOT NULL), false) FROM pg_replication_slots
			WHERE slot_name = current_database()`).Scan(&active)
		if err != nil {
			t.Fatal(err)
		}
		if active {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("CDC never started streaming")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func findFirst(evs []change.Event, table string, op change.Op, key string) *change.Event {
	for i := range evs {
		if e := &evs[i]; e.Source.Table == table && e.Op == op && string(e.Key) == key {
			return e
		}
	}
	return nil
}

func count(evs []change.Event, table string, op change.Op) int {
	n := 0
	for _, e := range evs {
		if e.Source.Table == table && e.Op == op {
			n++
		}
	}
	return n
}

func find(evs []change.Event, table string, op change.Op, key string) *change.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if e := &evs[i]; e.Source.Table == table && e.Op == op && string(e.Key) == key {
			return e
		}
	}
	return nil
}

func field(t *testing.T, row json.RawMessage, name string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(row, &m); err != nil {
		t.Fatalf("row %s: %v", row, err)
	}
	v, ok := m[name]
	if !ok {
		return "<absent>"
	}
	return string(v)
}

func TestSnapshotThenStream(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `INSERT INTO sellers (id, username) VALUES ('s1', 'ann'), ('s2', 'bob')`)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, category, price_cents, images, created_at)
		VALUES ('l1', 's1', 'Red dress', '{Women,Dresses}', 4800, '[{"url":"u","width":1,"height":2}]', '2024-03-01T12:00:00Z'),
		       ('l2', 's2', 'Boots', '{Women,Shoes}', 9000, '[]', '2024-03-02T12:00:00Z')`)
	testpg.Exec(t, db, `INSERT INTO likes (user_id, listing_id) VALUES ('u1', 'l1')`)

	sink := &memSink{}
	start(t, Config{DatabaseURL: dsn}, sink)
	evs := sink.waitFor(t, "snapshot", func(evs []change.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].Source.Snapshot == change.SnapshotLast
	})
	if len(evs) != 5 {
		t.Fatalf("snapshot: %d events, want 5", len(evs))
	}
	snapLSN := evs[0].Source.LSN
	for _, e := range evs {
		if e.Op != change.OpRead || e.Before != nil || e.Source.LSN != snapLSN || !e.Source.Snapshot.InSnapshot() {
			t.Fatalf("snapshot event %+v", e)
		}
	}
	l1 := find(evs, "listings", change.OpRead, `{"id":"l1"}`)
	if l1 == nil {
		t.Fatal("no snapshot event for l1")
	}
	for name, want := range map[string]string{
		"price_cents": `4800`, "category": `["Women","Dresses"]`, "images": `[{"url":"u","width":1,"height":2}]`,
		"created_at": `"2024-03-01T12:00:00Z"`, "available_at": `null`, "status": `"available"`,
	} {
		if got := field(t, l1.After, name); got != want {
			t.Errorf("snapshot l1.%s = %s, want %s", name, got, want)
		}
	}
	if find(evs, "likes", change.OpRead, `{"user_id":"u1","listing_id":"l1"}`) == nil {
		t.Error("composite key: no likes event keyed {user_id, listing_id}")
	}

	// The stream: insert, update, deletes under FULL and DEFAULT, a
	// multi-row transaction (a like and a listing update in one simple
	// query: one implicit transaction), and a truncate.
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, price_cents) VALUES ('l3', 's1', 'Hat', 1500)`)
	testpg.Exec(t, db, `UPDATE listings SET price_cents = 4000, status = 'sold' WHERE id = 'l1'`)
	testpg.Exec(t, db, `DELETE FROM listings WHERE id = 'l2'`)
	testpg.Exec(t, db, `DELETE FROM sellers WHERE id = 's2'`)
	testpg.Exec(t, db, `INSERT INTO likes (user_id, listing_id) VALUES ('u2', 'l1'); UPDATE listings SET description = 'liked twice' WHERE id = 'l1'`)
	testpg.Exec(t, db, `TRUNCATE parties`)
	evs = sink.waitFor(t, "stream", func(evs []change.Event) bool { return count(evs, "parties", change.OpTruncate) == 1 })

	c := find(evs, "listings", change.OpCreate, `{"id":"l3"}`)
	if c == nil || c.Before != nil || field(t, c.After, "title") != `"Hat"` || c.Source.LSN <= snapLSN || c.Source.Snapshot != change.SnapshotFalse {
		t.Fatalf("insert event %+v", c)
	}
	u := findFirst(evs, "listings", change.OpUpdate, `{"id":"l1"}`)
	if u == nil || field(t, u.Before, "price_cents") != `4800` || field(t, u.After, "price_cents") != `4000` ||
		field(t, u.After, "status") != `"sold"` || field(t, u.After, "images") != `[{"url":"u","width":1,"height":2}]` {
		t.Fatalf("update event %+v", u)
	}
	if u.Source.LSN <= c.Source.LSN {
		t.Errorf("versions not increasing: update %d after insert %d", u.Source.LSN, c.Source.LSN)
	}
	d := find(evs, "listings", change.OpDelete, `{"id":"l2"}`)
	if d == nil || d.After != nil || field(t, d.Before, "title") != `"Boots"` {
		t.Fatalf("FULL delete event %+v", d)
	}
	ds := find(evs, "sellers", change.OpDelete, `{"id":"s2"}`)
	if ds == nil || string(ds.Before) != `{"id":"s2"}` {
		t.Fatalf("DEFAULT delete event (key only) %+v", ds)
	}
	like := find(evs, "likes", change.OpCreate, `{"user_id":"u2","listing_id":"l1"}`)
	var trig *change.Event
	for i := range evs {
		if e := &evs[i]; e.Op == change.OpUpdate && string(e.Key) == `{"id":"l1"}` && field(t, e.After, "description") == `"liked twice"` {
			trig = e
		}
	}
	if like == nil || trig == nil || like.Source.LSN != trig.Source.LSN || like.Source.TxID != trig.Source.TxID || trig.Source.Seq <= like.Source.Seq {
		t.Fatalf("a like and the listing update after it in one transaction should share its LSN, ordered by seq: %+v %+v", like, trig)
	}
	tr := find(evs, "parties", change.OpTruncate, "")
	if tr == nil || tr.Before != nil || tr.After != nil {
		t.Fatalf("truncate %+v", tr)
	}
	for _, e := range evs {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := change.Unmarshal(e.Key, b)
		if err != nil || back.Op != e.Op || back.Version() != e.Version() {
			t.Fatalf("envelope round trip: %v %s", err, b)
		}
	}
}

// TestSnapshotDuringWrites starts the CDC while rows are being inserted and
// updated: replaying the events by version must give exactly the rows in
// Postgres — each change lands in the snapshot or in the stream.
func TestSnapshotDuringWrites(t *testing.T) {
	dsn, db := newDB(t)
	ctx := context.Background()
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, price_cents)
		SELECT 'l' || g, 's1', 'item ' || g, g FROM generate_series(1, 3000) g`)

	writerCtx, stopWriter := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			wdone <- err
			return
		}
		defer conn.Close(ctx)
		for i := 1; writerCtx.Err() == nil; i++ {
			_, err := conn.Exec(ctx, `INSERT INTO listings (id, seller_id, title, price_cents) VALUES ($1, 's2', 'new', $2)`, fmt.Sprintf("n%d", i), i)
			if err == nil {
				_, err = conn.Exec(ctx, `UPDATE listings SET price_cents = price_cents + 1000000 WHERE id = $1`, fmt.Sprintf("l%d", 1+(i*7)%3000))
			}
			if err == nil && i%5 == 0 {
				_, err = conn.Exec(ctx, `DELETE FROM listings WHERE id = $1`, fmt.Sprintf("l%d", 1+(i*13)%3000))
			}
			if err != nil {
				wdone <- err
				return
			}
		}
		wdone <- nil
	}()
	time.Sleep(100 * time.Millisecond) // let some writes precede the slot
	sink := &memSink{}
	start(t, Config{DatabaseURL: dsn, Tables: []string{"listings"}}, sink)
	sink.waitFor(t, "snapshot end", func(evs []change.Event) bool {
		return slices.ContainsFunc(evs, func(e change.Event) bool { return e.Source.Snapshot == change.SnapshotLast })
	})
	sink.waitFor(t, "streamed writes", func(evs []change.Event) bool { return count(evs, "listings", change.OpCreate) >= 20 })
	stopWriter()
	if err := <-wdone; err != nil {
		t.Fatal(err)
	}
	var walLSN string
	if err := db.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&walLSN); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	rows, err := db.Query(ctx, `SELECT id, price_cents FROM listings`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var p int64
		if err := rows.Scan(&id, &p); err != nil {
			t.Fatal(err)
		}
		want[id] = fmt.Sprint(p)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// Wait until the stream is past the last write: the same rows, by version.
	var got map[string]string
	sink.waitFor(t, "index equal to the table", func(evs []change.Event) bool {
		got = materialize(t, evs)
		return mapsEqual(got, want)
	})
}

type version struct {
	lsn uint64
	seq uint32
}

func (v version) less(o version) bool { return v.lsn < o.lsn || (v.lsn == o.lsn && v.seq < o.seq) }

// materialize applies events by version, as the indexer does: an event
// older than what a key already has is dropped.
func materialize(t *testing.T, evs []change.Event) map[string]string {
	type doc struct {
		v     version
		price string
		gone  bool
	}
	docs := map[string]*doc{}
	for _, e := range evs {
		var k struct{ ID string }
		if err := json.Unmarshal(e.Key, &k); err != nil {
			t.Fatalf("key %s: %v", e.Key, err)
		}
		v := version{e.Source.LSN, e.Source.Seq}
		if d := docs[k.ID]; d != nil && !d.v.less(v) {
			continue
		}
		d := &doc{v: v, gone: e.Op == change.OpDelete}
		if !d.gone {
			d.price = field(t, e.After, "price_cents")
		}
		docs[k.ID] = d
	}
	out := map[string]string{}
	for id, d := range docs {
		if !d.gone {
			out[id] = d.price
		}
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestToastUnchangedKept(t *testing.T) {
	dsn, db := newDB(t)
	sink := &memSink{}
	start(t, Config{DatabaseURL: dsn}, sink)
	waitStreaming(t, db)
	// Random text does not compress, so 20 KB goes out of line (TOAST).
	big := strings.Repeat("x", 0)
	for i := 0; len(big) < 20000; i++ {
		big += fmt.Sprintf("%08x", uint32(i*2654435761))
	}
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, description) VALUES ('big', 's1', 'Big', $1)`, big)
	testpg.Exec(t, db, `INSERT INTO sellers (id, username, display_name) VALUES ('sbig', 'bigshop', $1)`, big)
	testpg.Exec(t, db, `UPDATE listings SET price_cents = 1 WHERE id = 'big'`)
	testpg.Exec(t, db, `UPDATE sellers SET username = 'bigshop2' WHERE id = 'sbig'`) // REPLICA IDENTITY DEFAULT: no old row
	evs := sink.waitFor(t, "updates", func(evs []change.Event) bool {
		return count(evs, "listings", change.OpUpdate) == 1 && count(evs, "sellers", change.OpUpdate) == 1
	})
	u := find(evs, "listings", change.OpUpdate, `{"id":"big"}`)
	if got := field(t, u.After, "description"); got != `"`+big+`"` {
		t.Fatalf("listing description after update: %.40s... (len %d), want the 20 KB text", got, len(got))
	}
	s := find(evs, "sellers", change.OpUpdate, `{"id":"sbig"}`)
	if got := field(t, s.After, "display_name"); got != `"`+big+`"` {
		t.Fatalf("seller display_name after update: %.40s... (len %d)", got, len(got))
	}
	if s.Before != nil {
		t.Errorf("DEFAULT identity update should have no before image, got %s", s.Before)
	}
}

func TestAddColumnWhileRunning(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('a', 's1', 'A')`)
	sink := &memSink{}
	start(t, Config{DatabaseURL: dsn}, sink)
	sink.waitFor(t, "snapshot", func(evs []change.Event) bool { return len(evs) == 1 })
	testpg.Exec(t, db, `UPDATE listings SET price_cents = 5 WHERE id = 'a'`)
	testpg.Exec(t, db, `ALTER TABLE listings ADD COLUMN badge text NOT NULL DEFAULT 'new'`)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title, badge) VALUES ('b', 's1', 'B', 'hot')`)
	testpg.Exec(t, db, `UPDATE listings SET price_cents = 6 WHERE id = 'a'`)
	evs := sink.waitFor(t, "events after ALTER", func(evs []change.Event) bool { return len(evs) == 4 })
	if got := field(t, evs[1].After, "badge"); got != "<absent>" {
		t.Errorf("before ALTER: badge = %s", got)
	}
	if got := field(t, evs[2].After, "badge"); got != `"hot"` {
		t.Errorf("insert after ALTER: badge = %s", got)
	}
	if got := field(t, evs[3].After, "badge"); got != `"new"` {
		t.Errorf("update after ALTER: badge = %s", got)
	}
}

var errCrash = errors.New("injected crash")

// waitCrash waits for r to stop with the injected crash.
func waitCrash(t *testing.T, r *running) {
	t.Helper()
	select {
	case err := <-r.done:
		close(r.done)
		if !errors.Is(err, errCrash) {
			t.Fatalf("Run = %v, want the injected crash", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hook did not stop the CDC")
	}
}

// TestCrashBetweenAckAndConfirm stops the CDC after Kafka (the sink) acked
// a transaction but before its LSN was confirmed: the restarted CDC sends
// it again — duplicates, never loss — and takes no second snapshot.
func TestCrashBetweenAckAndConfirm(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('a', 's1', 'A')`)
	sink := &memSink{}
	var armed sync.Mutex
	crash := false
	cfg := Config{DatabaseURL: dsn, Hooks: Hooks{AfterAck: func(uint64) error {
		armed.Lock()
		defer armed.Unlock()
		if crash {
			return errCrash
		}
		return nil
	}}}
	r := start(t, cfg, sink)
	sink.waitFor(t, "snapshot", func(evs []change.Event) bool { return len(evs) == 1 })
	// The snapshot's own confirm runs the hook too: arm it only once
	// streaming has started, so the crash hits the insert below.
	waitStreaming(t, db)
	armed.Lock()
	crash = true
	armed.Unlock()
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('b', 's1', 'B')`)
	waitCrash(t, r)
	if n := count(sink.snapshot(), "listings", change.OpCreate); n != 1 {
		t.Fatalf("before restart: %d creates acked, want 1", n)
	}
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('c', 's1', 'C')`)

	cfg.Hooks = Hooks{}
	start(t, cfg, sink)
	evs := sink.waitFor(t, "replay and new rows", func(evs []change.Event) bool {
		return find(evs, "listings", change.OpCreate, `{"id":"c"}`) != nil
	})
	if n := count(evs, "listings", change.OpCreate); n != 3 { // b twice (acked, not confirmed), c once
		t.Errorf("creates = %d, want 3 (b duplicated, c once)", n)
	}
	if n := count(evs, "listings", change.OpRead); n != 1 {
		t.Errorf("snapshot rows = %d, want 1 (no second snapshot)", n)
	}
	// The snapshot is stored as done, with a confirmed position to resume
	// from (TestResumeSkipsConfirmed checks the resume itself).
	st, err := loadState(context.Background(), db, StateTable, slotFor(t, dsn))
	if err != nil || !st.found || !st.snapshotDone || st.confirmed == 0 {
		t.Fatalf("state %+v %v", st, err)
	}
}

// TestCrashAfterSnapshotAck stops the CDC after Kafka acked the whole
// snapshot but before it was stored as done. Rows deleted before the restart
// must still reach Kafka as deletes: the restarted CDC finishes the snapshot
// on the same slot and streams from its point, instead of taking a new slot
// whose snapshot no longer holds those rows (they would linger downstream).
func TestCrashAfterSnapshotAck(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('a', 's1', 'A'), ('b', 's1', 'B')`)
	sink := &memSink{}
	cfg := Config{DatabaseURL: dsn, Hooks: Hooks{AfterAck: func(uint64) error { return errCrash }}}
	r := start(t, cfg, sink)
	waitCrash(t, r)
	first := sink.snapshot()
	if n := count(first, "listings", change.OpRead); n != 2 {
		t.Fatalf("first snapshot acked %d rows, want 2", n)
	}
	testpg.Exec(t, db, `DELETE FROM listings WHERE id = 'a'`)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('c', 's1', 'C')`)

	cfg.Hooks = Hooks{}
	start(t, cfg, sink)
	evs := sink.waitFor(t, "the delete of a", func(evs []change.Event) bool {
		return find(evs, "listings", change.OpDelete, `{"id":"a"}`) != nil
	})
	snapLSN := findFirst(first, "listings", change.OpRead, `{"id":"a"}`).Source.LSN
	if d := find(evs, "listings", change.OpDelete, `{"id":"a"}`); d.Source.LSN <= snapLSN {
		t.Errorf("delete at LSN %d, not after the snapshot's %d", d.Source.LSN, snapLSN)
	}
	if e := find(evs[len(first):], "listings", change.OpRead, `{"id":"b"}`); e == nil || e.Source.LSN != snapLSN {
		t.Errorf("second copy of b = %+v, want an r event at the slot's LSN %d", e, snapLSN)
	}
	if e := find(evs[len(first):], "listings", change.OpRead, `{"id":"a"}`); e != nil {
		t.Errorf("the deleted row a was copied again: %+v", e)
	}
}

// TestResumeSkipsConfirmed: after a clean stop the CDC resumes after its own
// confirmed LSN; transactions whose commit starts below it are never sent again, even if
// the slot were to replay them (as after a Postgres restart).
func TestResumeSkipsConfirmed(t *testing.T) {
	dsn, db := newDB(t)
	sink := &memSink{}
	r := start(t, Config{DatabaseURL: dsn}, sink)
	waitStreaming(t, db)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('a', 's1', 'A')`)
	sink.waitFor(t, "a", func(evs []change.Event) bool { return len(evs) == 1 })
	// The sink has a; the CDC confirms it on its next status round (under
	// load that can come after the sink's write): wait for it, the premise
	// of this test.
	testkit.Eventually(t, "a confirmed", 10*time.Second, func() bool {
		st, err := loadState(context.Background(), db, StateTable, slotFor(t, dsn))
		return err == nil && st.confirmed != 0
	})
	r.stop(t)
	// Rewind the slot's idea of progress as a Postgres crash can, by
	// recreating it further back is not possible; instead simulate a
	// rewind for the CDC: it must skip by its stored LSN alone.
	st, err := loadState(context.Background(), db, StateTable, slotFor(t, dsn))
	if err != nil || st.confirmed == 0 {
		t.Fatalf("state %+v %v", st, err)
	}
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) VALUES ('b', 's1', 'B')`)
	start(t, Config{DatabaseURL: dsn}, sink)
	evs := sink.waitFor(t, "b", func(evs []change.Event) bool { return len(evs) >= 2 })
	time.Sleep(300 * time.Millisecond)
	evs = sink.snapshot()
	if len(evs) != 2 || string(evs[1].Key) != `{"id":"b"}` {
		t.Fatalf("after resume: %d events, want a then b once each", len(evs))
	}
}

// TestIdleAdvancesSlot: writes to tables outside the publication must not
// make the slot retain WAL: with nothing in flight, keepalives move the
// confirmed position forward.
func TestIdleAdvancesSlot(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `CREATE TABLE unrelated (id serial PRIMARY KEY, v text)`)
	sink := &memSink{}
	start(t, Config{DatabaseURL: dsn}, sink)
	waitStreaming(t, db)
	ctx := context.Background()
	var target string
	deadline := time.Now().Add(30 * time.Second)
	for {
		testpg.Exec(t, db, `INSERT INTO unrelated (v) SELECT 'x' FROM generate_series(1, 100)`)
		if target == "" {
			if err := db.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&target); err != nil {
				t.Fatal(err)
			}
		}
		var ok bool
		err := db.QueryRow(ctx, `SELECT coalesce(confirmed_flush_lsn >= $1::pg_lsn, false) FROM pg_replication_slots WHERE slot_name = current_database()`, target).Scan(&ok)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never confirmed past %s while idle", target)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(sink.snapshot()); n != 0 {
		t.Fatalf("unpublished table produced %d events", n)
	}
}

func TestMissingTables(t *testing.T) {
	dsn := testpg.New(t, testpg.Options{Logical: true})
	c, err := New(Config{DatabaseURL: dsn, Slot: slotFor(t, dsn)}, &memSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Run(ctx); !errors.Is(err, ErrMissingTables) {
		t.Fatalf("Run = %v, want ErrMissingTables", err)
	}
}

func TestConfigValidate(t *testing.T) {
	testkit.CheckValidate(t, []testkit.ValidateCase[Config]{
		{Name: "defaults", Cfg: Config{DatabaseURL: "postgres://x"}, OK: true},
		{Name: "no url", Cfg: Config{}, OK: false},
		{Name: "bad slot", Cfg: Config{DatabaseURL: "x", Slot: "Bad-Slot"}, OK: false},
		{Name: "schema table", Cfg: Config{DatabaseURL: "x", Tables: []string{"shop.listings"}}, OK: true},
		{Name: "bad table", Cfg: Config{DatabaseURL: "x", Tables: []string{"a.b.c"}}, OK: false},
		{Name: "bad prefix", Cfg: Config{DatabaseURL: "x", TopicPrefix: "a b"}, OK: false},
	})
}

func TestSnapshotFunc(t *testing.T) {
	dsn, db := newDB(t)
	testpg.Exec(t, db, `INSERT INTO listings (id, seller_id, title) SELECT 'l' || g, 's', 't' FROM generate_series(1, 250) g`)
	var n int
	var last change.Event
	lsn, err := Snapshot(context.Background(), dsn, SnapshotOptions{Tables: []string{"listings", "sellers"}, BatchSize: 100}, func(_ context.Context, evs []change.Event) error {
		n += len(evs)
		last = evs[len(evs)-1]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 250 || lsn == 0 || last.Source.LSN != lsn || last.Source.Snapshot != change.SnapshotLast {
		t.Fatalf("rows %d lsn %d last %+v", n, lsn, last.Source)
	}
	var slots int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE database = current_database()`).Scan(&slots); err != nil {
		t.Fatal(err)
	}
	if slots != 0 {
		t.Fatalf("Snapshot left %d slots behind", slots)
	}
}

// slotFor names the slot of a test after its database (unique per test, see
// testpg.New). Slot names are server-wide and other packages' tests
// replicate from the same server at the same time, so a shared default
// name would collide.
func slotFor(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// testSlot names a slot for a test that does not look it up again.
func testSlot() string { return fmt.Sprintf("pgcdc_test_%08x", rand.Uint32()) }
