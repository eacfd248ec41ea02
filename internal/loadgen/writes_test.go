package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/testpg"
)

// TestWrites: party-start inserts the share wave into the party (as many
// as it offered), and drop sells the drop's listings at T0.
func TestWrites(t *testing.T) {
	dsn := testpg.New(t, testpg.Options{Setup: fixtures.Migrate})
	conn := testpg.Connect(t, dsn)
	ctx := context.Background()
	t0 := time.Now().Add(time.Second).Truncate(time.Millisecond)
	for i, at := range []*time.Time{nil, nil, &t0, &t0} {
		if _, err := conn.Exec(ctx, `INSERT INTO listings (id, seller_id, title, available_at) VALUES ($1, 's1', 'jacket', $2)`, fmt.Sprintf("l%d", i), at); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"hits":[]}`) }))
	defer srv.Close()
	cat := &Catalog{IDs: []string{"l0", "l1"}, Sizes: []string{"M"}, Brands: []string{"Nike"}, Party: "p1", NextDrop: t0}

	rep, err := Run(ctx, Config{Target: srv.URL, Scenario: PartyStart, Duration: 2 * time.Second, Rate: 20, ShareRate: 10, WaveAt: time.Second, Catalog: cat, DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	var shares int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM shares WHERE party_id = 'p1'`).Scan(&shares); err != nil {
		t.Fatal(err)
	}
	w := rep.Writes
	if w == nil || w.Errors != 0 || w.Shares != shares || shares != int(w.SharesOffered+0.5) || w.SharesOffered <= 2*10 {
		t.Fatalf("shares: report %+v, table %d", w, shares)
	}

	// The drop: l2 and l3 become visible a second from now.
	t0 = time.Now().Add(time.Second).Truncate(time.Millisecond)
	if _, err := conn.Exec(ctx, `UPDATE listings SET available_at = $1 WHERE id IN ('l2', 'l3')`, t0); err != nil {
		t.Fatal(err)
	}
	cat.NextDrop = t0
	rep, err = Run(ctx, Config{Target: srv.URL, Scenario: DropScene, Duration: 2 * time.Second, Rate: 20, Catalog: cat, DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	var sold []string
	rows, _ := conn.Query(ctx, `SELECT id FROM listings WHERE status = 'sold' ORDER BY id`)
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		sold = append(sold, id)
	}
	if rows.Err() != nil || fmt.Sprint(sold) != "[l2 l3]" || rep.Writes.Sales != 2 {
		t.Fatalf("sold %v (%v), report %+v", sold, rows.Err(), rep.Writes)
	}
	if rep.T0 < 0.5 || rep.T0 > 1.5 {
		t.Errorf("T0 %v s: want the catalog's next drop, about a second after the start", rep.T0)
	}
}
