package rollup

import (
	"context"
	"testing"
	"time"

	"github.com/rummage/rummage/events"
)

// TestDrops: the drop surface's views are counted per second, in UTC, for
// each drop of the listings table, and as one entry of the drop surface
// when the analytics database has no listings table.
func TestDrops(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 18, 0, 0, 0, time.UTC)
	if _, err := st.pool.Exec(ctx, `INSERT INTO listings (id, seller_id, title, available_at) VALUES ('d1', 's1', 'D1', $1), ('d2', 's1', 'D2', $1)`, t0); err != nil {
		t.Fatal(err)
	}
	var evs []events.Event
	for i, at := range []time.Time{t0, t0, t0.Add(time.Second), t0.Add(time.Hour)} {
		evs = append(evs, events.Event{Type: events.View, Surface: "drop", ListingID: []string{"d1", "d2"}[i%2], At: at})
	}
	if _, err := st.Apply(ctx, "t", evs, map[int]int64{0: int64(len(evs))}); err != nil {
		t.Fatal(err)
	}
	w := Window{From: t0.Add(-time.Minute), To: t0.Add(time.Minute)}
	ds, err := st.Drops(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || !ds[0].At.Equal(t0) || ds[0].Listings != 2 || ds[0].Arrivals != 4 || len(ds[0].PerSecond) != 3 {
		t.Fatalf("drops: %+v", ds)
	}
	if ps := ds[0].PerSecond; ps[0].Arrivals != 2 || ps[0].Second != t0 || ps[1].Second != t0.Add(time.Second) || ps[2].Second != t0.Add(time.Hour) {
		t.Errorf("per second: %+v", ps)
	}

	if _, err := st.pool.Exec(ctx, `DROP TABLE listings CASCADE`); err != nil {
		t.Fatal(err)
	}
	ds, err = st.Drops(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || !ds[0].At.IsZero() || ds[0].Arrivals != 3 || len(ds[0].PerSecond) != 2 || ds[0].PerSecond[1].Second != t0.Add(time.Second) {
		t.Errorf("drops without a listings table: %+v", ds)
	}
}
