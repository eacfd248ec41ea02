package personal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/ranking"
)

// server mounts the middleware over a fake search whose answer is n hits
// in anonymous order, every tenth a Zara; it records the queries it saw.
func server(t *testing.T, n int, strength int) (*echo.Echo, *[]url.Values) {
	t.Helper()
	var seen []url.Values
	profile := func(_ context.Context, user string, _ time.Time) (ranking.UserProfile, error) {
		if user == "fan" {
			return ranking.NewUserProfile(map[string]float64{"b:Zara": 20, "c:Women/Dresses": 20, "z:M": 20, "p:3": 20}), nil
		}
		return ranking.UserProfile{}, nil
	}
	mw, err := Middleware(Config{Profile: profile, Strength: func(string) int { return strength }})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/v1/search", func(c echo.Context) error {
		q := c.QueryParams()
		seen = append(seen, q)
		limit := 24
		fmt.Sscan(q.Get("limit"), &limit)
		hits := []map[string]any{}
		for i := range min(limit, n) {
			h := map[string]any{"id": fmt.Sprintf("l%03d", i), "brand": "Gap", "seller_id": "s"}
			if i%10 == 9 {
				h["brand"], h["category"], h["size"], h["price_cents"] = "Zara", []string{"Women", "Dresses"}, "M", 4500
			}
			hits = append(hits, h)
		}
		next := "anon-after-window"
		if a := events.AnswerFrom(c.Request().Context()); a != nil {
			a.IDs = []string{"the", "window"}
		}
		return c.JSON(http.StatusOK, map[string]any{"total": n, "hits": hits, "facets": map[string]any{}, "next_cursor": next, "query_id": "q1"})
	})
	return e, &seen
}

func get(t *testing.T, e *echo.Echo, q string) (*httptest.ResponseRecorder, map[string]json.RawMessage, []string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/search?"+q, nil))
	var a map[string]json.RawMessage
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	var hits []struct{ ID string }
	_ = json.Unmarshal(a["hits"], &hits)
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return rec, a, ids
}

func TestPassThrough(t *testing.T) {
	e, seen := server(t, 200, 100)
	for _, q := range []string{"q=dress", "q=dress&user=nobody", "q=dress&user=fan&sort=newest", "user=fan", "q=dress&user=fan&cursor=opaque", "q=dress&user=fan&limit=abc"} {
		*seen = nil
		rec, _, _ := get(t, e, q)
		if len(*seen) != 1 || (*seen)[0].Encode() != mustParse(q).Encode() {
			t.Errorf("%s: the route saw %v", q, *seen)
		}
		if rec.Header().Get("Cache-Control") == "private, no-store" {
			t.Errorf("%s: answered as personalized", q)
		}
	}
	e0, _ := server(t, 200, 0)
	if _, _, ids := get(t, e0, "q=dress&user=fan&limit=10"); ids[0] != "l000" || len(ids) != 10 {
		t.Errorf("strength 0 reordered: %v", ids)
	}
}

func mustParse(q string) url.Values { v, _ := url.ParseQuery(q); return v }

// TestWindowWalk: a fan of Zara sees Zara earlier; walking the window
// shows each of its listings once, then hands over to the anonymous walk.
func TestWindowWalk(t *testing.T) {
	e, seen := server(t, 200, 100)
	rec, a, ids := get(t, e, "q=dress&user=fan&limit=10")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "private, no-store" {
		t.Fatalf("status %d, cache-control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if w := (*seen)[0]; w.Get("limit") != "100" || w.Has("cursor") || w.Get("user") != "fan" {
		t.Errorf("window request %v", w)
	}
	if !slices.Contains(ids, "l019") || len(ids) != 10 {
		t.Errorf("first page %v: want a deeper Zara (l019) pulled up", ids)
	}
	if string(a["query_id"]) != `"q1"` || string(a["total"]) != "200" {
		t.Errorf("the anonymous answer's other keys changed: %s %s", a["query_id"], a["total"])
	}
	all := slices.Clone(ids)
	var cur string
	_ = json.Unmarshal(a["next_cursor"], &cur)
	for cur != "anon-after-window" {
		_, a, ids = get(t, e, "q=dress&user=fan&limit=10&cursor="+url.QueryEscape(cur))
		if len(ids) == 0 {
			t.Fatalf("empty page at %s", cur)
		}
		all = append(all, ids...)
		cur = ""
		_ = json.Unmarshal(a["next_cursor"], &cur)
	}
	slices.Sort(all)
	if len(all) != 100 || len(slices.Compact(all)) != 100 {
		t.Errorf("the window walk showed %d listings, want each of 100 once", len(all))
	}
}

// TestImpressionIsThePage: the answer noted for the impression (the
// cache notes the window's ids) is the personalized page, and the query
// id spliced into the window is the page's.
func TestImpressionIsThePage(t *testing.T) {
	e, _ := server(t, 200, 100)
	req := httptest.NewRequest(http.MethodGet, "/v1/search?q=dress&user=fan&limit=10", nil)
	a := &events.Answer{QueryID: "q-page"}
	req = req.WithContext(events.WithAnswer(req.Context(), a))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var body struct {
		QueryID string `json:"query_id"`
		Hits    []struct{ ID string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range body.Hits {
		ids = append(ids, h.ID)
	}
	if !slices.Equal(a.IDs, ids) || len(ids) != 10 {
		t.Errorf("impression ids %v, page %v", a.IDs, ids)
	}
	if body.QueryID != "q1" { // the fake route's own, kept
		t.Errorf("query_id %q", body.QueryID)
	}
}
