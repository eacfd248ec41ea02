package signalstest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage/signals"
)

// Stream is a deterministic stream of n changes over small id spaces, in
// batches, as the CDC would publish them: versions increase with the
// stream, rows are inserted, updated and deleted (a delete carries the row
// as it was, REPLICA IDENTITY FULL), and now and then a table is
// truncated. Each batch carries the position of its last change.
func Stream(seed uint64, n int) []signals.Batch {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	id := func(prefix string, k int) string { return fmt.Sprintf("%s%d", prefix, r.IntN(k)) }
	inst := func() time.Time { return T0.Add(time.Duration(r.IntN(180*60*1000)) * time.Millisecond) }
	var (
		out   []signals.Batch
		cur   signals.Batch
		v     uint64 = 100
		share int64
		live  = map[string]*liveRows{} // by table
	)
	rows := func(table string) *liveRows {
		if live[table] == nil {
			live[table] = &liveRows{at: map[string]int{}}
		}
		return live[table]
	}
	for i := 0; i < n; i++ {
		v += uint64(1 + r.IntN(3))
		var c signals.Change
		var table, key string
		switch k := r.IntN(100); {
		case k < 35:
			share++
			sid := share
			if share > 5 && r.IntN(5) == 0 { // an update of an earlier share
				sid = 1 + r.Int64N(share-1)
			}
			party := ""
			if r.IntN(3) > 0 {
				party = id("p", 3)
			}
			c = Share(v, sid, id("u", 8), id("l", 12), party, inst())
			table, key = signals.TableShares, fmt.Sprint(sid)
		case k < 60:
			c = Like(v, id("u", 8), id("l", 12), inst())
			table, key = signals.TableLikes, c.Like.User+"/"+c.Like.Listing
		case k < 80:
			c = Follow(v, id("u", 8), id("u", 8), inst())
			table, key = signals.TableFollows, c.Follow.Follower+"/"+c.Follow.Seller
		case k < 86:
			c = Block(v, id("u", 8), id("u", 8), inst())
			table, key = signals.TableBlocks, c.Block.User+"/"+c.Block.Seller
		case k < 91:
			status := signals.SellerActive
			if r.IntN(3) == 0 {
				status = signals.SellerSuspended
			}
			c = Seller(v, id("u", 8), status)
			table, key = signals.TableSellers, c.Seller.ID
		case k < 94:
			start := inst()
			c = Party(v, id("p", 3), fmt.Sprintf("Party %d", i), start, start.Add(2*time.Hour), theme)
			table, key = signals.TableParties, c.Party.ID
		case k < 99: // a delete of a live row of any table
			tables := []string{signals.TableShares, signals.TableShares, signals.TableShares, signals.TableLikes, signals.TableFollows, signals.TableBlocks, signals.TableSellers, signals.TableParties}
			lr := rows(tables[r.IntN(len(tables))])
			if len(lr.keys) == 0 {
				continue
			}
			row := lr.take(r.IntN(len(lr.keys)))
			c = Del(v, row)
		default:
			tables := []string{signals.TableFollows, signals.TableLikes, signals.TableShares, signals.TableBlocks}
			c = Truncate(v, tables[r.IntN(len(tables))])
			delete(live, c.Truncate)
		}
		if key != "" {
			rows(table).put(key, c)
		}
		cur.Changes = append(cur.Changes, c)
		if r.IntN(6) == 0 || i == n-1 {
			cur.Positions = []signals.Position{{Topic: "rummage.social", Partition: r.IntN(3), Offset: int64(i)}}
			out = append(out, cur)
			cur = signals.Batch{}
		}
	}
	if len(cur.Changes) > 0 {
		out = append(out, cur)
	}
	return out
}

// liveRows are the rows of a table Stream has inserted and not deleted, in
// an order of their own (so that picking one is deterministic).
type liveRows struct {
	keys []string
	rows []signals.Change
	at   map[string]int
}

func (l *liveRows) put(key string, c signals.Change) {
	if i, ok := l.at[key]; ok {
		l.rows[i] = c
		return
	}
	l.at[key] = len(l.keys)
	l.keys = append(l.keys, key)
	l.rows = append(l.rows, c)
}

func (l *liveRows) take(i int) signals.Change {
	c, last := l.rows[i], len(l.keys)-1
	delete(l.at, l.keys[i])
	if i != last {
		l.keys[i], l.rows[i] = l.keys[last], l.rows[last]
		l.at[l.keys[i]] = i
	}
	l.keys, l.rows = l.keys[:last], l.rows[:last]
	return c
}

// Dump is every answer of the Reader over the ids Stream uses, at a few
// instants, as text: two stores holding the same state dump the same.
func Dump(ctx context.Context, s signals.Reader) (string, error) {
	var b strings.Builder
	ids := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	users, listings, ps := ids("u", 8), ids("l", 12), ids("p", 3)
	w := func(what string, v any, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fmt.Fprintf(&b, "%s = %v\n", what, v)
		return nil
	}
	sorted := func(xs []string, err error) ([]string, error) {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs, err
	}
	sel, err := s.Sellers(ctx, users)
	if err := w("sellers", sel, err); err != nil {
		return "", err
	}
	sus, err := sorted(s.Suspended(ctx))
	if err := w("suspended", sus, err); err != nil {
		return "", err
	}
	fol, err := s.Followers(ctx, users)
	for _, u := range users {
		if fol[u] == 0 {
			delete(fol, u)
		}
	}
	if err := w("followers", fol, err); err != nil {
		return "", err
	}
	pp, err := s.Parties(ctx)
	if err != nil {
		return "", fmt.Errorf("parties: %w", err)
	}
	for _, p := range pp {
		th, _ := json.Marshal(p.Theme)
		fmt.Fprintf(&b, "party %s %q %s..%s %s\n", p.ID, p.Name, rel(p.StartsAt), rel(p.EndsAt), th)
	}
	for _, u := range users {
		bl, err := sorted(s.Blocked(ctx, u))
		if err := w("blocked "+u, bl, err); err != nil {
			return "", err
		}
		f, err := s.Following(ctx, u, time.Time{}, 0)
		if err := w("following "+u, f, err); err != nil {
			return "", err
		}
	}
	cs, err := s.Counters(ctx, listings)
	if err != nil {
		return "", fmt.Errorf("counters: %w", err)
	}
	for _, l := range listings {
		c := cs[l]
		fmt.Fprintf(&b, "counters %s = %d likes, %d shares, last %s\n", l, c.Likes, c.Shares, rel(c.LastSharedAt))
	}
	for _, at := range []time.Time{M(30), M(90), M(200)} {
		since := at.Add(-75 * time.Minute)
		for _, u := range users {
			a, err := s.Activity(ctx, u, since, at, 5)
			if err := w(fmt.Sprintf("activity %s %v", u, at.Sub(T0)), las(a, false), err); err != nil {
				return "", err
			}
		}
		sb, err := s.SharedBy(ctx, users[:5], since, at, 7)
		if err := w(fmt.Sprintf("shared by %v", at.Sub(T0)), las(sb.Sorted(users[:5]), true), err); err != nil {
			return "", err
		}
		for _, p := range ps {
			l, n, err := s.PartyShares(ctx, p, since, at)
			if err := w(fmt.Sprintf("party shares %s %v (%d)", p, at.Sub(T0), n), las(l, false), err); err != nil {
				return "", err
			}
		}
		top, err := s.TopEngaged(ctx, since, at, time.Hour, 6)
		for i := range top {
			top[i].Score = float64(int64(top[i].Score*1e9)) / 1e9
		}
		if err := w(fmt.Sprintf("top engaged %v", at.Sub(T0)), top, err); err != nil {
			return "", err
		}
		eng, err := s.Engagers(ctx, listings, since, at)
		if err != nil {
			return "", err
		}
		for _, l := range listings {
			us := make([]string, len(eng[l]))
			for i, u := range eng[l] {
				us[i] = fmt.Sprintf("%s@%v", u.User, u.At.Sub(T0))
			}
			slices.Sort(us)
			fmt.Fprintf(&b, "engagers %s %v = %v\n", l, at.Sub(T0), us)
		}
	}
	return b.String(), nil
}

func applyAll(ctx context.Context, t *testing.T, s signals.Store, bs []signals.Batch) {
	t.Helper()
	for i, b := range bs {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
}

func dump(ctx context.Context, t *testing.T, s signals.Reader) string {
	t.Helper()
	d, err := Dump(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testReplay applies a stream, then replays it from the middle and from the
// start (as an applier does after a crash or a retried batch): the state
// must not move. With Reopen, it also reopens between the replays.
func testReplay(t *testing.T, h Harness) {
	ctx := context.Background()
	bs := Stream(7, 1500)
	c := open(t, h)
	applyAll(ctx, t, c.s, bs)
	want := dump(ctx, t, c.s)
	if !strings.Contains(want, "party shares p") || strings.Count(want, "[]") > strings.Count(want, "\n")/2 {
		t.Fatalf("the stream left too little state to compare:\n%s", want)
	}
	applyAll(ctx, t, c.s, bs[len(bs)/2:])
	if got := dump(ctx, t, c.s); got != want {
		t.Errorf("replay from the middle moved the state:\n%s", diff(want, got))
	}
	if h.Reopen != nil {
		c.reopen(t)
		if got := dump(ctx, t, c.s); got != want {
			t.Errorf("reopening moved the state:\n%s", diff(want, got))
		}
	}
	applyAll(ctx, t, c.s, bs)
	if got := dump(ctx, t, c.s); got != want {
		t.Errorf("replay from the start moved the state:\n%s", diff(want, got))
	}
	// The same stream in one batch lands in the same state.
	one := signals.Batch{}
	for _, b := range bs {
		one.Changes = append(one.Changes, b.Changes...)
	}
	d := open(t, h)
	applyAll(ctx, t, d.s, []signals.Batch{one})
	if got := dump(ctx, t, d.s); got != want {
		t.Errorf("the stream in one batch differs from it in %d batches:\n%s", len(bs), diff(want, got))
	}
}

// testConcurrent reads while a writer applies a stream; the end state is
// the one the stream gives alone. Run it with -race.
func testConcurrent(t *testing.T, h Harness) {
	ctx := context.Background()
	bs := Stream(11, 800)
	ref := open(t, h)
	applyAll(ctx, t, ref.s, bs)
	want := dump(ctx, t, ref.s)

	c := open(t, h)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := Dump(ctx, c.s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i, b := range bs {
		if err := c.s.Apply(ctx, b); err != nil {
			t.Errorf("batch %d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reader: %v", err)
	}
	if got := dump(ctx, t, c.s); got != want {
		t.Errorf("state after concurrent reads differs:\n%s", diff(want, got))
	}
}

// diff is the lines of two dumps that differ.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "- %s\n+ %s\n", w, g)
		}
	}
	return b.String()
}
