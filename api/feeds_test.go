package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/feed/feedtest"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals/memory"
)

// socialServer is the API over the feed suite's catalog and social graph
// (feed/feedtest), its clock at the suite's instant: party p1 live, p0
// ended, p2 upcoming, a drop an hour away.
func socialServer(t *testing.T) http.Handler {
	t.Helper()
	st, err := memory.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	feedtest.Social(t, st)
	cur, err := feed.NewCursors(feed.CursorConfig{Key: feed.RandomCursorKey(), Clock: func() time.Time { return feedtest.Now }})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Cursors: cur, Auth: api.Auth{Keys: apitest.Shared().Ring}, Signals: st}
	s, err := api.New(cfg, feedtest.Catalog(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// listBody is a listing list of a social surface.
type listBody struct {
	Total int `json:"total"`
	Hits  []struct {
		ID            string     `json:"id"`
		PartySharedAt *time.Time `json:"party_shared_at"`
		FeedAt        *time.Time `json:"feed_at"`
		FeedReason    *struct {
			Type, By, Value string
		} `json:"feed_reason"`
	} `json:"hits"`
	Facets     map[string][]query.FacetValue `json:"facets"`
	NextCursor *string                       `json:"next_cursor"`
}

func (b *listBody) ids() []string {
	out := []string{}
	for _, h := range b.Hits {
		out = append(out, h.ID)
	}
	return out
}

func getJSON(t *testing.T, h http.Handler, target string, want int, v any) {
	t.Helper()
	code, body := get(t, h, target)
	if code != want {
		t.Fatalf("GET %s: %d, want %d: %s", target, code, want, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", target, err, body)
		}
	}
}

// TestSocialSurfaces: every social route answers as DESIGN.md says, each
// answer checked against the OpenAPI document by apitest.
func TestSocialSurfaces(t *testing.T) {
	h := socialServer(t)

	var parties struct {
		Parties []feed.PartyInfo `json:"parties"`
	}
	getJSON(t, h, "/v1/parties", 200, &parties)
	var got []string
	for _, p := range parties.Parties {
		got = append(got, p.ID+":"+p.Status)
	}
	if strings.Join(got, " ") != "p1:live p2:upcoming" {
		t.Errorf("/v1/parties = %v", got)
	}

	var p feed.PartyInfo
	getJSON(t, h, "/v1/parties/p1", 200, &p)
	if p.Status != "live" || p.ShareCount == nil || *p.ShareCount != 11 || p.ListingCount == nil || *p.ListingCount != 5 {
		t.Errorf("/v1/parties/p1 = %+v", p)
	}

	// A walk of the live party, two at a time, with size facets over it.
	var walked []string
	target := "/v1/parties/p1/feed?limit=2&facets=size"
	for i := 0; i < 10; i++ {
		var b listBody
		getJSON(t, h, target, 200, &b)
		if b.Total != 5 || len(b.Facets["size"]) == 0 {
			t.Fatalf("party feed page %d: total %d, facets %v", i, b.Total, b.Facets)
		}
		for _, h := range b.Hits {
			if h.PartySharedAt == nil {
				t.Errorf("%s has no party_shared_at", h.ID)
			}
		}
		walked = append(walked, b.ids()...)
		if b.NextCursor == nil {
			break
		}
		target = "/v1/parties/p1/feed?limit=2&facets=size&cursor=" + url.QueryEscape(*b.NextCursor)
	}
	if want := []string{"a07", "a12", "a01", "a13", "a02"}; !slices.Equal(walked, want) {
		t.Errorf("party walk = %v, want %v", walked, want)
	}

	var fol listBody
	getJSON(t, h, "/v1/feed/following?user=u1&brand=nike", 200, &fol)
	if want := []string{"a02", "a01", "a06", "a07"}; !slices.Equal(fol.ids(), want) {
		t.Errorf("following = %v, want %v", fol.ids(), want)
	}
	for _, h := range fol.Hits {
		if h.FeedAt == nil || h.FeedReason == nil || h.FeedReason.By == "" {
			t.Errorf("following hit %s lacks feed_at or feed_reason", h.ID)
		}
	}

	var home listBody
	getJSON(t, h, "/v1/feed?user=u1&limit=5", 200, &home)
	if len(home.Hits) != 5 || home.NextCursor == nil {
		t.Errorf("home: %d hits, next %v", len(home.Hits), home.NextCursor)
	}
	getJSON(t, h, "/v1/feed", 200, &home)

	var drops struct {
		ServerTime time.Time `json:"server_time"`
		Drops      []struct {
			At    time.Time `json:"at"`
			Count int       `json:"count"`
		} `json:"drops"`
	}
	getJSON(t, h, "/v1/drops", 200, &drops)
	if !drops.ServerTime.Equal(feedtest.Now) || len(drops.Drops) != 1 || drops.Drops[0].Count != 2 {
		t.Errorf("/v1/drops = %+v", drops)
	}
}

// TestSocialBadInput: every bad input of the social routes is a 4xx with
// the JSON error shape and the field it is about.
func TestSocialBadInput(t *testing.T) {
	h := socialServer(t)
	for _, c := range []struct {
		target string
		status int
		code   string
		field  string
	}{
		{"/v1/parties?status=over", 400, "invalid_value", "status"},
		{"/v1/parties?color=red", 400, "unknown_parameter", "color"},
		{"/v1/parties?limit=0", 400, "invalid_limit", "limit"},
		{"/v1/parties?cursor=forged", 400, "invalid_cursor", "cursor"},
		{"/v1/parties/nope", 404, "not_found", "id"},
		{"/v1/parties/nope/feed", 404, "not_found", "id"},
		{"/v1/parties/p1/feed?sort=relevance", 400, "invalid_sort", "sort"},
		{"/v1/parties/p1/feed?limit=5000", 400, "invalid_limit", "limit"},
		{"/v1/parties/p1/feed?condition=mint", 400, "invalid_value", "condition"},
		{"/v1/parties/p1/feed?cursor=abc", 400, "invalid_cursor", "cursor"},
		{"/v1/feed/following", 400, "missing_parameter", "user"},
		{"/v1/feed/following?user=u1&sort=price_asc", 400, "unknown_parameter", "sort"},
		{"/v1/feed?user=u1&cursor=abc", 400, "invalid_cursor", "cursor"},
		{"/v1/drops?brand=Nike", 400, "unknown_parameter", ""},
	} {
		t.Run(c.target, func(t *testing.T) {
			r := apitest.NewClient(t, h, apitest.Shared().Search).Get(t, c.target)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			var body struct {
				Error struct{ Code, Field string } `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatalf("%v: %s", err, r.Body)
			}
			if body.Error.Code != c.code || body.Error.Field != c.field {
				t.Errorf("error %+v, want code %q field %q: %s", body.Error, c.code, c.field, r.Body)
			}
		})
	}
}

// TestSocialNotConfigured: without a signals store the social routes say
// so with a 404, not a 500.
func TestSocialNotConfigured(t *testing.T) {
	s, err := api.New(api.Config{Auth: api.Auth{Keys: apitest.Shared().Ring}}, feedtest.Catalog(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/v1/parties", "/v1/parties/p1", "/v1/parties/p1/feed", "/v1/feed/following?user=u1", "/v1/feed", "/v1/drops"} {
		r := apitest.NewClient(t, s, apitest.Shared().Search).Get(t, target)
		if r.Status != 404 || !strings.Contains(string(r.Body), api.CodeNotConfigured) {
			t.Errorf("%s: %d %s", target, r.Status, r.Body)
		}
	}
}
