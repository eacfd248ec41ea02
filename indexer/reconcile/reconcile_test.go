package reconcile_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/indexer/reconcile"
	"github.com/rummage/rummage/internal/testpg"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
	"github.com/rummage/rummage/query/embedded/embeddedtest"
)

// seeded returns a migrated database holding n generated listings, and the
// listings.
func seeded(t *testing.T, n int) (*pgx.Conn, []rummage.Listing) {
	t.Helper()
	ctx := context.Background()
	conn := testpg.Connect(t, testpg.New(t, testpg.Options{Setup: fixtures.Migrate}))
	g, err := fixtures.NewGenerator(fixtures.Options{Seed: 7, Count: n, Now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fixtures.SeedPostgres(ctx, conn, g, nil); err != nil {
		t.Fatal(err)
	}
	var ls []rummage.Listing
	for i := range n {
		ls = append(ls, g.Listing(i))
	}
	return conn, ls
}

func apply(t *testing.T, x query.Backend, ls ...rummage.Listing) {
	t.Helper()
	batch := make([]query.Change, len(ls))
	for i := range ls {
		batch[i] = query.Change{ID: ls[i].ID, Version: 100, Doc: &ls[i]}
	}
	if _, err := x.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func TestRunFindsMissingExtraAndStale(t *testing.T) {
	ctx := context.Background()
	conn, ls := seeded(t, 50)
	x := embeddedtest.Open(t, embedded.Config{})
	apply(t, x, ls...)

	rep, err := reconcile.Run(ctx, conn, x, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InSync() || rep.Rows != 50 || rep.Indexed != 50 || !rep.ExtraChecked {
		t.Fatalf("freshly indexed catalog: %s %v", rep.Summary(), rep.Differences)
	}

	// Postgres moves on without the index: an update, a delete, an insert.
	stale, gone := ls[3].ID, ls[7].ID
	for _, q := range []string{
		`UPDATE listings SET price_cents = price_cents + 1, status = 'sold' WHERE id = '` + stale + `'`,
		`DELETE FROM listings WHERE id = '` + gone + `'`,
		`INSERT INTO listings (id, seller_id, title) VALUES ('zz-new', 's1', 'New coat')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	rep, err = reconcile.Run(ctx, conn, x, reconcile.Options{OnDifference: func(d reconcile.Difference) { seen = append(seen, d.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing != 1 || rep.Extra != 1 || rep.Stale != 1 || rep.Total() != 3 || rep.Rows != 50 || rep.Indexed != 50 {
		t.Fatalf("%s %v", rep.Summary(), seen)
	}
	byKind := map[reconcile.Kind]reconcile.Difference{}
	for _, d := range rep.Differences {
		byKind[d.Kind] = d
	}
	if byKind[reconcile.Missing].ID != "zz-new" || byKind[reconcile.Extra].ID != gone || byKind[reconcile.Stale].ID != stale {
		t.Fatalf("differences %v", rep.Differences)
	}
	var fields []string
	for _, f := range byKind[reconcile.Stale].Fields {
		fields = append(fields, f.Field)
	}
	if !slices.Equal(fields, []string{"price_cents", "status"}) {
		t.Fatalf("stale fields %v", fields)
	}
	line := byKind[reconcile.Stale].String()
	if !strings.HasPrefix(line, "stale "+stale+" price_cents: postgres=") || !strings.Contains(line, `status: postgres="sold" index=`) {
		t.Fatalf("line %q", line)
	}
	if len(seen) != 3 {
		t.Fatalf("OnDifference saw %v", seen)
	}

	// Keep bounds what the report holds, not what it counts.
	rep, err = reconcile.Run(ctx, conn, x, reconcile.Options{Keep: 1, Batch: 7})
	if err != nil || rep.Total() != 3 || len(rep.Differences) != 1 {
		t.Fatalf("keep 1: %v %s %v", err, rep.Summary(), rep.Differences)
	}
}

// getOnly is an index without IDs: extras cannot be looked for.
type getOnly struct{ reconcile.Index }

func TestRunWithoutIDListerSaysExtraUnchecked(t *testing.T) {
	conn, ls := seeded(t, 5)
	x := embeddedtest.Open(t, embedded.Config{})
	apply(t, x, ls...)
	rep, err := reconcile.Run(context.Background(), conn, getOnly{x}, reconcile.Options{})
	if err != nil || !rep.InSync() || rep.ExtraChecked || !strings.Contains(rep.Summary(), "not checked") {
		t.Fatalf("%v %s", err, rep.Summary())
	}
}

func TestRunNotesRowsTheIndexerRejects(t *testing.T) {
	ctx := context.Background()
	conn, _ := seeded(t, 1)
	// A '/' in the id fails Listing.Validate: the indexer dead-letters it.
	if _, err := conn.Exec(ctx, `INSERT INTO listings (id, seller_id, title) VALUES ('a/b', 's1', 'Slash')`); err != nil {
		t.Fatal(err)
	}
	rep, err := reconcile.Run(ctx, conn, embeddedtest.Open(t, embedded.Config{}), reconcile.Options{})
	if err != nil || rep.Missing != 2 {
		t.Fatalf("%v %s", err, rep.Summary())
	}
	for _, d := range rep.Differences {
		if d.ID == "a/b" && !strings.Contains(d.Note, "dead-letters") {
			t.Fatalf("no note on %v", d)
		}
	}
}

func TestDiffNormalizes(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	a := rummage.Listing{ID: "x", SellerID: "s", Title: "t", CreatedAt: at, Tags: []string{}}
	b := rummage.Listing{ID: "x", SellerID: "s", Title: "t", CreatedAt: at.In(time.FixedZone("X", 3600)), UpdatedAt: at, Status: rummage.StatusAvailable}
	if d, err := reconcile.Diff(&a, &b); err != nil || len(d) != 0 {
		t.Fatalf("equal after normalizing: %v %v", d, err)
	}
	b.Tags = []string{"y2k"}
	d, err := reconcile.Diff(&a, &b)
	if err != nil || len(d) != 1 || d[0].Field != "tags" || len(d[0].Postgres) != 0 || !json.Valid(d[0].Index) {
		t.Fatalf("%+v %v", d, err)
	}
}

// TestRunComparesCountersWithLikesAndShares: with Options.Counters the
// index's counters are compared with count(*) of the likes and shares rows
// and their latest created_at (the listing row has none since 0004);
// without it they are left out.
func TestRunComparesCountersWithLikesAndShares(t *testing.T) {
	ctx := context.Background()
	conn, ls := seeded(t, 3)
	x := embeddedtest.Open(t, embedded.Config{})
	at := time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)
	for i := range ls {
		query.Counters{ID: ls[i].ID}.Set(&ls[i])
	}
	query.Counters{ID: ls[0].ID, Likes: 2, Shares: 2, LastSharedAt: &at}.Set(&ls[0])
	apply(t, x, ls...)
	if _, err := conn.Exec(ctx, `INSERT INTO likes (user_id, listing_id) VALUES ('u1', $1), ('u2', $1)`, ls[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO shares (user_id, listing_id, created_at) VALUES ('u1', $1, $2), ('u1', $1, $3)`, ls[0].ID, at.Add(-time.Hour), at); err != nil {
		t.Fatal(err)
	}
	rep, err := reconcile.Run(ctx, conn, x, reconcile.Options{Counters: true})
	if err != nil || !rep.InSync() {
		t.Fatalf("counters equal to the counts: %v %s %v", err, rep.Summary(), rep.Differences)
	}
	if err := x.ApplyCounters(ctx, []query.Counters{{ID: ls[0].ID, Likes: 1, Shares: 2, LastSharedAt: &at}, {ID: ls[1].ID, Shares: 1, LastSharedAt: &at}}); err != nil {
		t.Fatal(err)
	}
	rep, err = reconcile.Run(ctx, conn, x, reconcile.Options{Counters: true})
	if err != nil || rep.Stale != 2 {
		t.Fatalf("want 2 stale: %v %s %v", err, rep.Summary(), rep.Differences)
	}
	var fields []string
	for _, d := range rep.Differences {
		for _, f := range d.Fields {
			fields = append(fields, d.ID+"."+f.Field)
		}
	}
	slices.Sort(fields)
	if want := []string{ls[0].ID + ".like_count", ls[1].ID + ".last_shared_at", ls[1].ID + ".share_count"}; !slices.Equal(fields, want) {
		t.Errorf("fields %v, want %v", fields, want)
	}
	if rep, err := reconcile.Run(ctx, conn, x, reconcile.Options{}); err != nil || !rep.InSync() {
		t.Errorf("without Counters the counters are not compared: %v %s", err, rep.Summary())
	}
}
