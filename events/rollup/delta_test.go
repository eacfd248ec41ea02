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
	d := Aggregate(evs, map[string]Known{"old": {Query: "jeans", Surface: "search", Total: 5, Shown: 5}})
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

// TestAggregateServedViews: a view of a search or party answer's query id
// after its first counts as the answer a CDN served (a search of its
// query, a zero result, its positions; an impression of its party), once
// per view, never the origin's own answer twice, across batches; a view of
// an unknown query id counts on no query.
func TestAggregateServedViews(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 30, 0, time.UTC)
	minute := at.Truncate(time.Minute)
	view := func(qid string) events.Event {
		return events.Event{Type: events.View, Surface: "search", QueryID: qid, At: at}
	}
	evs := []events.Event{
		// The origin's answer, then its own view and two views of the
		// copies a CDN served.
		{Type: events.Impression, Surface: "search", QueryID: "q1", Query: "red dress", Total: 30, IDs: []string{"a", "b", "c"}, At: at},
		view("q1"), view("q1"), view("q1"),
		// An origin answer viewed once: nothing more.
		{Type: events.Impression, Surface: "search", QueryID: "q2", Query: "red dress", Total: 30, IDs: []string{"a", "b", "c"}, At: at},
		view("q2"),
		// A view before the impression in the same batch is still its.
		view("q3"),
		{Type: events.Impression, Surface: "search", QueryID: "q3", Query: "lulu", Total: 0, At: at},
		view("q3"),
		// A party answer: the view names the query id alone.
		{Type: events.Impression, Surface: "party", PartyID: "p1", QueryID: "q4", Total: 9, IDs: []string{"a", "b"}, At: at},
		{Type: events.View, QueryID: "q4", User: "h_1", At: at},
		{Type: events.View, QueryID: "q4", User: "h_2", At: at},
		view("nobody"),
		// A home feed answer is per user: no CDN serves it, nothing counts.
		{Type: events.View, Surface: "home", QueryID: "qh", At: at},
	}
	d := Aggregate(evs, nil)
	if r := d.queries[queryKey{minute, "red dress"}]; r == nil || *r != (queryRow{searches: 4}) {
		t.Errorf("red dress: %+v, want 2 origin answers and 2 a CDN served", r)
	}
	if r := d.positions[positionKey{minute, "red dress", 3}]; r == nil || r.impressions != 4 {
		t.Errorf("red dress position 3: %+v, want 4 impressions", r)
	}
	if r := d.queries[queryKey{minute, "lulu"}]; r == nil || *r != (queryRow{searches: 2, zero: 2}) {
		t.Errorf("lulu: %+v, want 2 searches with zero results", r)
	}
	if p := d.parties[partyKey{minute, "p1"}]; p == nil || p.impressions != 2 || p.views != 2 || p.viewers.Estimate() != 2 {
		t.Errorf("party: %+v, want the origin's and the CDN's impressions, 2 views, 2 viewers", p)
	}
	if d.Served != 4 || d.UnknownViews != 1 || d.Unattributed != 0 {
		t.Errorf("served %d, unknown views %d, unattributed %d; want 4, 1, 0", d.Served, d.UnknownViews, d.Unattributed)
	}
	// A later batch: q1 was viewed 3 times already, q2 once; every view
	// now is a copy a CDN served. A view of an answer recorded before
	// migration 0007 (total -1, nothing shown) counts no zero result.
	known := map[string]Known{
		"q1":  {Query: "red dress", Surface: "search", Total: 30, Shown: 3, Views: 3},
		"q2":  {Query: "red dress", Surface: "search", Total: 30, Shown: 3, Views: 1},
		"old": {Query: "jeans", Surface: "search", Total: -1, Views: 0},
	}
	d = Aggregate([]events.Event{view("q1"), view("q2"), view("old"), view("old")}, known)
	if r := d.queries[queryKey{minute, "red dress"}]; r == nil || *r != (queryRow{searches: 2}) {
		t.Errorf("later batch, red dress: %+v, want 2", r)
	}
	if r := d.queries[queryKey{minute, "jeans"}]; r == nil || *r != (queryRow{searches: 1}) {
		t.Errorf("later batch, jeans: %+v, want 1 search, no zero result", r)
	}
	if d.views["q1"] != 1 || d.views["old"] != 2 {
		t.Errorf("views to add: %v", d.views)
	}
}
