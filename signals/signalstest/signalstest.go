package signalstest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/signals"
)

// Harness opens stores for the suite.
type Harness struct {
	// Open returns a new, empty store; the suite closes it (t.Cleanup is fine too).
	Open func(t *testing.T) signals.Store
	// Reopen, when set, closes s and opens the same data again (durability, recovery).
	Reopen func(t *testing.T, s signals.Store) signals.Store
}

// Run runs every scenario on a new store; with Reopen, every scenario runs
// a second time reopening the store after each batch, and the positions and
// recovery cases run too.
func Run(t *testing.T, h Harness) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			runScenario(t, h, sc, false)
		})
		if h.Reopen != nil {
			t.Run(sc.name+"/reopened", func(t *testing.T) {
				runScenario(t, h, sc, true)
			})
		}
	}
	t.Run("positions", func(t *testing.T) { testPositions(t, h) })
	t.Run("replay converges", func(t *testing.T) { testReplay(t, h) })
	t.Run("concurrent readers and writer", func(t *testing.T) { testConcurrent(t, h) })
	runProfiles(t, h)
}

// T0 is the suite's origin of time; every instant is a whole number of
// minutes (or milliseconds) after it.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// M is the instant min minutes after T0.
func M(min int) time.Time { return T0.Add(time.Duration(min) * time.Minute) }

// The changes scenarios are written with.

// Share is an insert of shares row id.
func Share(v uint64, id int64, user, listing, party string, at time.Time) signals.Change {
	return signals.Change{Version: v, Share: &signals.Share{ID: id, User: user, Listing: listing, Party: party, At: at}}
}

// Like is an insert of a like.
func Like(v uint64, user, listing string, at time.Time) signals.Change {
	return signals.Change{Version: v, Like: &signals.Like{User: user, Listing: listing, At: at}}
}

// Follow is an insert of a follow.
func Follow(v uint64, follower, seller string, at time.Time) signals.Change {
	return signals.Change{Version: v, Follow: &signals.Follow{Follower: follower, Seller: seller, At: at}}
}

// Block is an insert of a block.
func Block(v uint64, user, seller string, at time.Time) signals.Change {
	return signals.Change{Version: v, Block: &signals.Block{User: user, Seller: seller, At: at}}
}

// Seller is an insert of a seller with status.
func Seller(v uint64, id, status string) signals.Change {
	return signals.Change{Version: v, Seller: &signals.Seller{ID: id, Username: "u_" + id, DisplayName: "Closet " + strings.ToUpper(id), Status: status}}
}

// Party is an insert of a party over [starts, ends).
func Party(v uint64, id, name string, starts, ends time.Time, theme signals.Theme) signals.Change {
	return signals.Change{Version: v, Party: &signals.Party{ID: id, Name: name, Theme: theme, StartsAt: starts, EndsAt: ends}}
}

// Del is c as a delete at version v (the deleted row is c's).
func Del(v uint64, c signals.Change) signals.Change {
	c.Version, c.Delete = v, true
	return c
}

// Truncate truncates table at version v.
func Truncate(v uint64, table string) signals.Change {
	return signals.Change{Version: v, Truncate: table}
}

// A step of a scenario: a batch to apply or a check of one Reader call.
type step interface {
	run(ctx context.Context, t *testing.T, s signals.Store) error
}

type scenario struct {
	name  string
	steps []step
}

// apply is a batch (without positions) as a step.
type apply []signals.Change

func (a apply) run(ctx context.Context, t *testing.T, s signals.Store) error {
	if err := s.Apply(ctx, signals.Batch{Changes: a}); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

func runScenario(t *testing.T, h Harness, sc scenario, reopen bool) {
	ctx := context.Background()
	c := open(t, h)
	for i, st := range sc.steps {
		if err := st.run(ctx, t, c.s); err != nil {
			t.Errorf("step %d (%T): %v", i, st, err)
		}
		if _, ok := st.(apply); ok && reopen {
			c.reopen(t)
		}
	}
}

// current is the store a test works on; Reopen replaces it, and the test
// closes the last one.
type current struct {
	h Harness
	s signals.Store
}

func open(t *testing.T, h Harness) *current {
	c := &current{h: h, s: h.Open(t)}
	t.Cleanup(func() { c.s.Close() })
	return c
}

func (c *current) reopen(t *testing.T) { c.s = c.h.Reopen(t, c.s) }

// forget forgets a user (signals.Forgetter, which every store implements)
// and checks how many rows went.
type forget struct {
	user string
	want int
}

func (c forget) run(ctx context.Context, t *testing.T, s signals.Store) error {
	f, ok := s.(signals.Forgetter)
	if !ok {
		return fmt.Errorf("%T does not implement signals.Forgetter", s)
	}
	n, err := f.Forget(ctx, c.user)
	if err != nil {
		return err
	}
	if n != c.want {
		return fmt.Errorf("Forget(%s) = %d rows, want %d", c.user, n, c.want)
	}
	return nil
}

// Checks, one per Reader call. Each compares the whole answer.

type following struct {
	user  string
	at    time.Time
	limit int
	want  []string
}

func (c following) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Following(ctx, c.user, c.at, c.limit)
	if err != nil {
		return err
	}
	if !equalStrings(got, c.want) {
		return fmt.Errorf("Following(%s, %v, %d) = %q, want %q", c.user, rel(c.at), c.limit, got, c.want)
	}
	return nil
}

type followers struct {
	closets []string
	want    map[string]int
}

func (c followers) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Followers(ctx, c.closets)
	if err != nil {
		return err
	}
	for k, n := range got {
		if !slices.Contains(c.closets, k) && n != 0 {
			return fmt.Errorf("Followers(%q) answers %s, which was not asked", c.closets, k)
		}
	}
	for _, k := range c.closets {
		if got[k] != c.want[k] {
			return fmt.Errorf("Followers(%q)[%s] = %d, want %d (whole answer %v)", c.closets, k, got[k], c.want[k], got)
		}
	}
	return nil
}

type suspended []string

func (c suspended) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Suspended(ctx)
	if err != nil {
		return err
	}
	if !equalSets(got, c) {
		return fmt.Errorf("Suspended() = %q, want %q (any order)", got, []string(c))
	}
	return nil
}

type blocked struct {
	user string
	want []string
}

func (c blocked) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Blocked(ctx, c.user)
	if err != nil {
		return err
	}
	if !equalSets(got, c.want) {
		return fmt.Errorf("Blocked(%s) = %q, want %q (any order)", c.user, got, c.want)
	}
	return nil
}

type sellers struct {
	ids  []string
	want map[string]signals.Seller
}

func (c sellers) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Sellers(ctx, c.ids)
	if err != nil {
		return err
	}
	if len(got) != len(c.want) {
		return fmt.Errorf("Sellers(%q) = %v, want %v", c.ids, got, c.want)
	}
	for id, w := range c.want {
		if g, ok := got[id]; !ok || g != w {
			return fmt.Errorf("Sellers(%q)[%s] = %+v (present %v), want %+v", c.ids, id, g, ok, w)
		}
	}
	return nil
}

// LA is an expected ListingAt: listing, instant and (where the call says
// so) by whom.
type LA struct {
	Listing string
	At      time.Time
	By      string
}

func (l LA) String() string {
	s := l.Listing + "@" + l.At.Sub(T0).String()
	if l.By != "" {
		s += "/" + l.By
	}
	return s
}

func las(got []signals.ListingAt, withBy bool) []LA {
	out := make([]LA, len(got))
	for i, g := range got {
		out[i] = LA{Listing: g.Listing, At: g.At}
		if withBy {
			out[i].By = g.By
		}
	}
	return out
}

func equalLAs(a, b []LA) bool {
	return slices.EqualFunc(a, b, func(x, y LA) bool {
		return x.Listing == y.Listing && x.At.Equal(y.At) && x.By == y.By
	})
}

type sharedBy struct {
	closets   []string
	since, at time.Time
	limit     int
	want      []LA
}

func (c sharedBy) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.SharedBy(ctx, c.closets, c.since, c.at, c.limit)
	if err != nil {
		return err
	}
	if !slices.IsSortedFunc(got.At, func(a, b int64) int { return cmp.Compare(b, a) }) {
		return fmt.Errorf("SharedBy(%q, %v, %v, %d): instants %v not newest first", c.closets, rel(c.since), rel(c.at), c.limit, got.At)
	}
	if g := las(got.Sorted(c.closets), true); !equalLAs(g, c.want) {
		return fmt.Errorf("SharedBy(%q, %v, %v, %d) = %v, want %v", c.closets, rel(c.since), rel(c.at), c.limit, g, c.want)
	}
	return nil
}

type activity struct {
	user      string
	since, at time.Time
	limit     int
	want      []LA
}

func (c activity) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Activity(ctx, c.user, c.since, c.at, c.limit)
	if err != nil {
		return err
	}
	if g := las(got, false); !equalLAs(g, c.want) {
		return fmt.Errorf("Activity(%s, %v, %v, %d) = %v, want %v", c.user, rel(c.since), rel(c.at), c.limit, g, c.want)
	}
	return nil
}

type partyShares struct {
	party    string
	from, to time.Time
	want     []LA
	count    int
}

func (c partyShares) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, n, err := s.PartyShares(ctx, c.party, c.from, c.to)
	if err != nil {
		return err
	}
	if g := las(got, false); !equalLAs(g, c.want) || n != c.count {
		return fmt.Errorf("PartyShares(%s, %v, %v) = %v, %d; want %v, %d", c.party, rel(c.from), rel(c.to), g, n, c.want, c.count)
	}
	return nil
}

// parties checks Parties (the ids in order) and each party's fields.
type parties []signals.Party

func (c parties) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Parties(ctx)
	if err != nil {
		return err
	}
	ids := func(ps []signals.Party) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.ID
		}
		return out
	}
	if !equalStrings(ids(got), ids(c)) {
		return fmt.Errorf("Parties() = %q, want %q", ids(got), ids(c))
	}
	for i := range c {
		if err := equalParty(&got[i], &c[i]); err != nil {
			return fmt.Errorf("Parties()[%d]: %w", i, err)
		}
	}
	return nil
}

type party struct {
	id   string
	want *signals.Party // nil: ErrNotFound
}

func (c party) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Party(ctx, c.id)
	if c.want == nil {
		if !errors.Is(err, signals.ErrNotFound) {
			return fmt.Errorf("Party(%s) = %+v, %v; want ErrNotFound", c.id, got, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("Party(%s): %w", c.id, err)
	}
	if err := equalParty(got, c.want); err != nil {
		return fmt.Errorf("Party(%s): %w", c.id, err)
	}
	return nil
}

func equalParty(got, want *signals.Party) error {
	gt, _ := json.Marshal(got.Theme)
	wt, _ := json.Marshal(want.Theme)
	if got.ID != want.ID || got.Name != want.Name || !got.StartsAt.Equal(want.StartsAt) || !got.EndsAt.Equal(want.EndsAt) ||
		got.Theme.Query != want.Theme.Query || string(gt) != string(wt) {
		return fmt.Errorf("got %+v (theme %s), want %+v (theme %s)", *got, gt, *want, wt)
	}
	return nil
}

// E is an expected Engaged.
type E struct {
	Listing string
	Score   float64
}

type topEngaged struct {
	since, at time.Time
	halfLife  time.Duration
	k         int
	want      []E
}

func (c topEngaged) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.TopEngaged(ctx, c.since, c.at, c.halfLife, c.k)
	if err != nil {
		return err
	}
	ok := len(got) == len(c.want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Listing == c.want[i].Listing && math.Abs(got[i].Score-c.want[i].Score) < 1e-9
	}
	if !ok {
		return fmt.Errorf("TopEngaged(%v, %v, %v, %d) = %v, want %v", rel(c.since), rel(c.at), c.halfLife, c.k, got, c.want)
	}
	return nil
}

// UA is an expected UserAt.
type UA struct {
	User string
	At   time.Time
}

type engagers struct {
	listings  []string
	since, at time.Time
	want      map[string][]UA // each listing's users, any order
}

func (c engagers) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Engagers(ctx, c.listings, c.since, c.at)
	if err != nil {
		return err
	}
	for l, us := range got {
		if len(us) > 0 && !slices.Contains(c.listings, l) {
			return fmt.Errorf("Engagers(%q) answers %s, which was not asked", c.listings, l)
		}
	}
	for _, l := range c.listings {
		g := make([]UA, len(got[l]))
		for i, u := range got[l] {
			g[i] = UA{u.User, u.At}
		}
		slices.SortFunc(g, func(a, b UA) int { return strings.Compare(a.User, b.User) })
		w := slices.Clone(c.want[l])
		slices.SortFunc(w, func(a, b UA) int { return strings.Compare(a.User, b.User) })
		if !slices.EqualFunc(g, w, func(a, b UA) bool { return a.User == b.User && a.At.Equal(b.At) }) {
			return fmt.Errorf("Engagers(%q, %v, %v)[%s] = %v, want %v", c.listings, rel(c.since), rel(c.at), l, g, w)
		}
	}
	return nil
}

// counters asks Counters for listings; every one asked must be answered.
type counters struct {
	listings []string
	want     map[string]signals.Counters // absent: zero counters
}

func (c counters) run(ctx context.Context, t *testing.T, s signals.Store) error {
	got, err := s.Counters(ctx, c.listings)
	if err != nil {
		return err
	}
	for _, l := range c.listings {
		g, ok := got[l]
		if !ok {
			return fmt.Errorf("Counters(%q) leaves %s out", c.listings, l)
		}
		w := c.want[l]
		if g.Likes != w.Likes || g.Shares != w.Shares || !g.LastSharedAt.Equal(w.LastSharedAt) {
			return fmt.Errorf("Counters(%q)[%s] = %d likes, %d shares, last %s; want %d, %d, %s",
				c.listings, l, g.Likes, g.Shares, rel(g.LastSharedAt), w.Likes, w.Shares, rel(w.LastSharedAt))
		}
	}
	return nil
}

// rel is t as an offset from T0 ("-inf" for the zero time).
func rel(t time.Time) string {
	if t.IsZero() {
		return "-inf"
	}
	return t.Sub(T0).String()
}

func equalStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return equalStrings(a, b)
}

// positions is the store's positions, in (topic, partition) order.
func positions(ctx context.Context, s signals.Store) ([]signals.Position, error) {
	ps, err := s.Positions(ctx)
	if err != nil {
		return nil, err
	}
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b signals.Position) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	return ps, nil
}

func testPositions(t *testing.T, h Harness) {
	ctx := context.Background()
	c := open(t, h)
	check := func(what string, want ...signals.Position) {
		t.Helper()
		got, err := positions(ctx, c.s)
		if err != nil {
			t.Fatalf("%s: Positions: %v", what, err)
		}
		if len(got) != len(want) || (len(got) > 0 && !slices.Equal(got, want)) {
			t.Errorf("%s: Positions() = %v, want %v", what, got, want)
		}
	}
	check("new store")
	p := func(topic string, part int, off int64) signals.Position {
		return signals.Position{Topic: topic, Partition: part, Offset: off}
	}
	batches := []signals.Batch{
		{Changes: []signals.Change{Follow(1, "u1", "c1", M(1))}, Positions: []signals.Position{p("rummage.follows", 0, 5), p("rummage.follows", 1, 3)}},
		{Changes: []signals.Change{Share(2, 1, "u1", "l1", "", M(2))}, Positions: []signals.Position{p("rummage.shares", 2, 0), p("rummage.follows", 0, 9)}},
		// A batch of positions only (every change of it was a bad row).
		{Positions: []signals.Position{p("rummage.likes", 0, 41)}},
	}
	for i, b := range batches {
		if err := c.s.Apply(ctx, b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	want := []signals.Position{p("rummage.follows", 0, 9), p("rummage.follows", 1, 3), p("rummage.likes", 0, 41), p("rummage.shares", 2, 0)}
	check("after three batches", want...)
	if h.Reopen == nil {
		return
	}
	c.reopen(t)
	check("reopened", want...)
	if err := (following{"u1", time.Time{}, 0, []string{"c1"}}).run(ctx, t, c.s); err != nil {
		t.Errorf("reopened: %v", err)
	}
	if err := (activity{"u1", time.Time{}, M(10), 10, []LA{{Listing: "l1", At: M(2)}}}).run(ctx, t, c.s); err != nil {
		t.Errorf("reopened: %v", err)
	}
	if err := c.s.Apply(ctx, signals.Batch{Changes: []signals.Change{Follow(3, "u1", "c2", M(3))}, Positions: []signals.Position{p("rummage.follows", 1, 4)}}); err != nil {
		t.Fatal(err)
	}
	want[1] = p("rummage.follows", 1, 4)
	c.reopen(t)
	check("reopened after a batch on the reopened store", want...)
	if err := (following{"u1", time.Time{}, 0, []string{"c2", "c1"}}).run(ctx, t, c.s); err != nil {
		t.Errorf("reopened twice: %v", err)
	}
}
