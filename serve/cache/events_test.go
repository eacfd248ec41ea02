package cache

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/events"
)

type impressionSink struct {
	mu  sync.Mutex
	imp []events.Event
}

func (s *impressionSink) Publish(context.Context, []events.Event) error { return nil }
func (s *impressionSink) Impression(e events.Event) {
	s.mu.Lock()
	s.imp = append(s.imp, e)
	s.mu.Unlock()
}

// TestCachedListsGetTheirOwnQueryID: a cache hit answers the stored bytes
// with a fresh query_id spliced in, never the fill's, and records an
// impression of its own (marked cached) with what it showed.
func TestCachedListsGetTheirOwnQueryID(t *testing.T) {
	st, x := partyData(t, 200, 50)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := events.NewPseudonymizer([]byte("0123456789abcdef"))
	sink := &impressionSink{}
	s, err := api.New(api.Config{Signals: st, Auth: api.Auth{Keys: apitest.Shared().Ring, AnonymousReads: true}}, x,
		slog.New(slog.NewTextHandler(io.Discard, nil)), api.WithMiddleware(c.Middleware(HTTPConfig{Social: st})), api.WithEvents(sink, ps))
	if err != nil {
		t.Fatal(err)
	}
	type page struct {
		QueryID string `json:"query_id"`
		Total   int    `json:"total"`
		Hits    []struct {
			ID string `json:"id"`
		} `json:"hits"`
	}
	var pages []page
	var bodies []string
	for _, target := range []string{"/v1/search?q=jacket", "/v1/search?q=jacket", "/v1/parties/p1/feed", "/v1/parties/p1/feed"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		var p page
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.QueryID == "" || len(p.Hits) == 0 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		pages = append(pages, p)
		bodies = append(bodies, string(apitest.StripQueryID(rec.Body.Bytes())))
	}
	if pages[0].QueryID == pages[1].QueryID || pages[2].QueryID == pages[3].QueryID {
		t.Fatalf("a cache hit repeated the query id: %v", pages)
	}
	if bodies[0] != bodies[1] || bodies[2] != bodies[3] {
		t.Fatal("the hit's bytes differ from the fill's but for the query id")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.imp) != 4 {
		t.Fatalf("%d impressions, want one per answer (4)", len(sink.imp))
	}
	for i, e := range sink.imp {
		if e.QueryID != pages[i].QueryID || e.Total != pages[i].Total || len(e.IDs) != len(pages[i].Hits) || e.IDs[0] != pages[i].Hits[0].ID {
			t.Errorf("impression %d %+v does not describe answer %+v", i, e, pages[i])
		}
		if e.Cached != (i%2 == 1) {
			t.Errorf("impression %d: cached %v", i, e.Cached)
		}
	}
	if sink.imp[2].Surface != "party" || sink.imp[2].PartyID != "p1" || sink.imp[0].Query != "jacket" {
		t.Errorf("impressions %+v", sink.imp)
	}
}
