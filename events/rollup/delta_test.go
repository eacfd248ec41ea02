package rollup

import (
	"testing"
	"time"

	"github.com/rummage/rummage/events"
)

// TestAggregate: impressions count searches, zero results and shown
// positions; clicks, carts and purchases count on the query of their
// query_id (this batch's or a known one) and their position; like and
// share events never count as anything but attribution.
func TestAggregate(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 30, 0, time.UTC)
	minute := at.Truncate(time.Minute)
	evs := []events.Event{
		{Type: events.Impression, Surface: "search", QueryID: "q1", Query: "red dress", Total: 3, IDs: []string{"a", "b", "c"}, At: at, User: "h_1", Variant: "exp/b"},
		{Type: events.Impression, Surface: "search", QueryID: "q2", Query: "lulu", Total: 0, At: at},
		{Type: events.Click, QueryID: "q1", Position: 2, ListingID: "b", At: at, User: "h_1", Variant: "exp/b,other/x"},
		{Type: events.Click, QueryID: "old", Position: 1, ListingID: "x", At: at},
		{Type: events.Purchase, QueryID: "q1", ListingID: "b", At: at, User: "h_1", Variant: "exp/b"},
		{Type: events.Click, QueryID: "lost", ListingID: "y", At: at},
		{Type: events.Like, QueryID: "q1", ListingID: "b", At: at},
		{Type: events.View, Surface: "party", PartyID: "p1", User: "h_1", At: at},
		{Type: events.View, Surface: "party", PartyID: "p1", User: "h_2", At: at},
		{Type: events.Share, Surface: "party", PartyID: "p1", ListingID: "b", User: "h_2", At: at},
		{Type: events.View, Surface: "drop", ListingID: "d1", At: at},
	}
	need := NeedQueryIDs(evs)
	if len(need) != 2 || need[0] != "old" || need[1] != "lost" {
		t.Fatalf("NeedQueryIDs = %v", need)
	}
	d := Aggregate(evs, map[string]string{"old": "jeans"})
	if r := d.queries[queryKey{minute, "red dress"}]; r == nil || *r != (queryRow{searches: 1, clicks: 1, purchases: 1}) {
		t.Errorf("red dress: %+v", r)
	}
	if r := d.queries[queryKey{minute, "lulu"}]; r == nil || *r != (queryRow{searches: 1, zero: 1}) {
		t.Errorf("lulu: %+v", r)
	}
	if r := d.queries[queryKey{minute, "jeans"}]; r == nil || r.clicks != 1 {
		t.Errorf("a click attributed through a known query id: %+v", r)
	}
	if d.Unattributed != 1 {
		t.Errorf("unattributed %d, want 1", d.Unattributed)
	}
	if r := d.positions[positionKey{minute, "red dress", 2}]; r == nil || *r != (positionRow{impressions: 1, clicks: 1}) {
		t.Errorf("position 2: %+v", r)
	}
	if r := d.positions[positionKey{minute, "red dress", 3}]; r == nil || *r != (positionRow{impressions: 1}) {
		t.Errorf("position 3: %+v", r)
	}
	p := d.parties[partyKey{minute, "p1"}]
	if p == nil || p.views != 2 || p.shares != 1 || p.viewers.Estimate() != 2 {
		t.Errorf("party: %+v", p)
	}
	if r := d.drops[dropKey{at.Truncate(time.Second), "d1"}]; r == nil || r.arrivals != 1 {
		t.Errorf("drop: %+v", r)
	}
	if r := d.experiments[experimentKey{minute.Truncate(24 * time.Hour), "exp", "b", "h_1"}]; r == nil || *r != (experimentRow{impressions: 1, clicks: 1, purchases: 1}) {
		t.Errorf("experiment: %+v", r)
	}
	// A user in two experiments counts in each (experiments.Set.Stamp).
	if r := d.experiments[experimentKey{minute.Truncate(24 * time.Hour), "other", "x", "h_1"}]; r == nil || *r != (experimentRow{clicks: 1}) {
		t.Errorf("second experiment: %+v", r)
	}
}
