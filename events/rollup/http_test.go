package rollup

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/events"
)

// TestAnalyticsRoutes: events rolled up by Apply answer the analytics
// routes, in JSON and CSV, with the admin key only; the exchanges are
// checked against the OpenAPI document.
func TestAnalyticsRoutes(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var evs []events.Event
	for u := range 40 {
		user := "h_user" + string(rune('a'+u%26)) + string(rune('a'+u/26))
		variant := "ranking/control"
		if u%2 == 1 {
			variant = "ranking/boost"
		}
		qid := "q" + user
		evs = append(evs, events.Event{Type: events.Impression, Surface: "search", QueryID: qid, Query: "red dress", Total: 3, IDs: []string{"a", "b", "c"}, User: user, Variant: variant, At: now})
		if u%3 == 0 {
			evs = append(evs, events.Event{Type: events.Click, QueryID: qid, Position: 1, ListingID: "a", User: user, Variant: variant, At: now})
		}
		evs = append(evs, events.Event{Type: events.View, Surface: "party", PartyID: "p1", User: user, At: now})
	}
	evs = append(evs, events.Event{Type: events.Impression, Surface: "search", QueryID: "qz", Query: "lulu lemon", Total: 0, At: now})
	if _, err := st.Apply(ctx, "t", evs, map[int]int64{0: int64(len(evs))}); err != nil {
		t.Fatal(err)
	}
	// A second batch attributes a click to the first batch's query id.
	if _, err := st.Apply(ctx, "t", []events.Event{{Type: events.Click, QueryID: "qh_useraa", Position: 2, ListingID: "b", At: now}}, map[int]int64{0: int64(len(evs) + 1)}); err != nil {
		t.Fatal(err)
	}
	k := apitest.NewKeys(t)
	h := &Handlers{Store: st}
	s, err := api.New(api.Config{Auth: api.Auth{Keys: k.Ring}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), h.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	admin := apitest.NewClient(t, s, k.Admin)
	var sr struct {
		From, To time.Time
		Queries  []QueryStats `json:"queries"`
	}
	admin.Get(t, "/v1/analytics/searches").Decode(t, &sr)
	if len(sr.Queries) != 2 || sr.Queries[0].Query != "red dress" || sr.Queries[0].Searches != 40 || sr.Queries[0].Clicks != 15 {
		t.Fatalf("searches: %+v", sr.Queries)
	}
	if p := sr.Queries[0].Positions; len(p) != 3 || p[0].Clicks != 14 || p[1].Clicks != 1 || p[0].Impressions != 40 {
		t.Errorf("positions: %+v", p)
	}
	admin.Get(t, "/v1/analytics/searches?zero_results=true").Decode(t, &sr)
	if len(sr.Queries) != 1 || sr.Queries[0].Query != "lulu lemon" || sr.Queries[0].ZeroResults != 1 {
		t.Errorf("zero results: %+v", sr.Queries)
	}
	r := admin.Get(t, "/v1/analytics/searches?format=csv")
	recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "query" || recs[1][0] != "red dress" || recs[1][1] != "40" {
		t.Errorf("CSV %q: %v", r.Body, err)
	}
	if r := admin.Get(t, "/v1/analytics/drops", apitest.WithHeader("Accept", "text/csv")); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("Accept: text/csv answered %s", r.Header.Get("Content-Type"))
	}
	var party PartyStats
	admin.Get(t, "/v1/analytics/parties/p1").Decode(t, &party)
	if party.Viewers < 38 || party.Viewers > 42 || len(party.Minutes) != 1 || party.Minutes[0].Views != 40 {
		t.Errorf("party: %+v", party)
	}
	var x ExperimentStats
	admin.Get(t, "/v1/analytics/experiments/ranking").Decode(t, &x)
	if len(x.Variants) != 2 || x.Variants[0].Users != 20 || x.Variants[0].Impressions != 20 {
		t.Fatalf("experiment: %+v", x)
	}
	for _, v := range x.Variants {
		if v.CTRCI.Low > v.CTR || v.CTRCI.High < v.CTR || v.CTRCI.Low == v.CTRCI.High {
			t.Errorf("variant %s: CTR %v outside its interval %+v", v.Variant, v.CTR, v.CTRCI)
		}
	}
	if r := admin.Get(t, "/v1/analytics/searches?from=yesterday"); r.Status != http.StatusBadRequest {
		t.Errorf("a bad from: %d", r.Status)
	}
	if r := apitest.NewClient(t, s, k.Search).Get(t, "/v1/analytics/searches"); r.Status != http.StatusForbidden {
		t.Errorf("a search key: %d", r.Status)
	}
}
