package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/experiments"
	"github.com/rummage/rummage/query"
)

// fakeSink records what the API sends.
type fakeSink struct {
	mu          sync.Mutex
	published   [][]events.Event
	impressions []events.Event
	fail        error
}

func (f *fakeSink) Publish(_ context.Context, evs []events.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.published = append(f.published, append([]events.Event(nil), evs...))
	return nil
}

func (f *fakeSink) Impression(e events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.impressions = append(f.impressions, e)
}

func (f *fakeSink) snapshot() ([][]events.Event, []events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]events.Event(nil), f.published...), append([]events.Event(nil), f.impressions...)
}

func testPseudonymizer(t testing.TB) *events.Pseudonymizer {
	p, err := events.NewPseudonymizer([]byte("test-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPostEvents(t *testing.T) {
	k := apitest.NewKeys(t)
	sink := &fakeSink{}
	ps := testPseudonymizer(t)
	s, _ := newTestServer(t, Config{Auth: Auth{Keys: k.Ring}}, &stubBackend{}, WithEvents(sink, ps),
		WithVariants(func(_ context.Context, user string, e *events.Event) {
			if user == "u1" {
				e.Variant = "exp/b"
			}
		}))
	post := func(key, body string, opts ...apitest.Option) *apitest.Response {
		return apitest.NewClient(t, s, key).Do(t, http.MethodPost, "/v1/events", []byte(body), append(opts, apitest.WithHeader("Content-Type", "application/json"))...)
	}

	r := post(k.Events, `{"events":[
		{"type":"click","user":"u1","listing_id":"l1","query_id":"q1","position":2,"surface":"search"},
		{"type":"buy","listing_id":"l1"},
		{"type":"view","surface":"party","party_id":"p1"},
		{"type":"click","listing_id":"l2","variant":"forged"},
		{"type":"purchase","listing_id":"l3","position":-4}]}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var out struct {
		Accepted int
		Rejected []events.Rejection
	}
	r.Decode(t, &out)
	if out.Accepted != 2 || len(out.Rejected) != 3 || out.Rejected[0].Index != 1 || out.Rejected[1].Index != 3 || out.Rejected[2].Index != 4 {
		t.Fatalf("answer %s", r.Body)
	}
	pub, _ := sink.snapshot()
	if len(pub) != 1 || len(pub[0]) != 2 {
		t.Fatalf("published %v, want one batch of 2", pub)
	}
	e := pub[0][0]
	if e.User != ps.Of("u1") || strings.Contains(e.User, "u1") || e.Variant != "exp/b" || e.At.IsZero() || e.Position != 2 {
		t.Fatalf("published event %+v: want the pseudonym, the variant and a server time", e)
	}

	// Whole-request errors.
	for _, c := range []struct{ name, body, code string }{
		{"not JSON", `{"events":[`, CodeMalformedBody},
		{"no events key", `{"evts":[]}`, CodeMalformedBody},
		{"too many", `{"events":[` + strings.Repeat(`{"type":"view"},`, events.MaxBatch) + `{"type":"view"}]}`, CodeTooManyEvents},
	} {
		r := post(k.Events, c.body)
		if got := apiErr(t, response{r.Status, r.Header, r.Body}); got.Status != 400 || got.Code != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.name, got.Status, got.Code, c.code)
		}
	}
	big := `{"events":[{"type":"view","party_id":"` + strings.Repeat("x", events.MaxBody) + `"}]}`
	if r := post(k.Events, big); r.Status != http.StatusRequestEntityTooLarge || apiErr(t, response{r.Status, r.Header, r.Body}).Code != CodeBodyTooLarge {
		t.Errorf("a %d-byte body: %d %s", len(big), r.Status, r.Body)
	}

	// Keys: a search key cannot post; a public key needs the user's token
	// for an event naming a user.
	if r := post(k.Search, `{"events":[]}`); r.Status != http.StatusForbidden {
		t.Errorf("search key: %d", r.Status)
	}
	r = post(k.Public, `{"events":[{"type":"click","user":"u1","listing_id":"l1"},{"type":"click","listing_id":"l1"}]}`)
	r.Decode(t, &out)
	if out.Accepted != 1 || len(out.Rejected) != 1 || out.Rejected[0].Index != 0 {
		t.Errorf("public key without a token: %s", r.Body)
	}
	tok := apitest.UserToken(t, k.Search, "u1", time.Hour)
	r = post(k.Public, `{"events":[{"type":"click","user":"u1","listing_id":"l1"}]}`, apitest.WithUserToken(tok))
	r.Decode(t, &out)
	if out.Accepted != 1 || len(out.Rejected) != 0 {
		t.Errorf("public key with the user's token: %s", r.Body)
	}

	// The topic refusing: 503, nothing promised.
	sink.mu.Lock()
	sink.fail = errors.New("broker down")
	sink.mu.Unlock()
	if r := post(k.Admin, `{"events":[{"type":"view"}]}`); r.Status != http.StatusServiceUnavailable || apiErr(t, response{r.Status, r.Header, r.Body}).Code != CodeEventsUnavailable {
		t.Errorf("a failing topic: %d %s", r.Status, r.Body)
	}
}

func TestPostEventsNotConfigured(t *testing.T) {
	k := apitest.NewKeys(t)
	s, _ := newTestServer(t, Config{Auth: Auth{Keys: k.Ring}}, &stubBackend{})
	r := apitest.NewClient(t, s, k.Events).Do(t, http.MethodPost, "/v1/events", []byte(`{"events":[]}`))
	if got := apiErr(t, response{r.Status, r.Header, r.Body}); got.Status != 404 || got.Code != CodeNotConfigured {
		t.Fatalf("%d %s", got.Status, got.Code)
	}
	if _, err := New(Config{}, nil, nil, WithEvents(&fakeSink{}, nil)); err == nil {
		t.Fatal("WithEvents without a pseudonymizer was accepted")
	}
}

// TestImpressions: a search carries a query_id, a distinct one per
// answer, and records one impression each with what it showed.
func TestImpressions(t *testing.T) {
	ls := []rummage.Listing{{ID: "a", SellerID: "s", Title: "A", Status: rummage.StatusAvailable}, {ID: "b", SellerID: "s", Title: "B", Status: rummage.StatusAvailable}}
	b := &stubBackend{search: func(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
		return &query.Candidates{Total: 2, Hits: hits(ls...)}, nil
	}}
	sink := &fakeSink{}
	ps := testPseudonymizer(t)
	s, _ := newTestServer(t, Config{}, b, WithEvents(sink, ps))
	seen := map[string]bool{}
	for i := range 3 {
		r := do(t, s, http.MethodGet, fmt.Sprintf("/v1/search?q=Red++Dress&brand=nike&limit=%d&user=u%d", 10+i, i))
		var body struct {
			QueryID string `json:"query_id"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.QueryID == "" || seen[body.QueryID] {
			t.Fatalf("answer %d: query_id %q (seen %v): %s", i, body.QueryID, seen, r.body)
		}
		seen[body.QueryID] = true
	}
	_, imp := sink.snapshot()
	if len(imp) != 3 {
		t.Fatalf("%d impressions, want 3", len(imp))
	}
	e := imp[2]
	if e.Type != events.Impression || e.Surface != "search" || e.Query != "red dress" || e.Filters != "brand=nike" || e.Total != 2 ||
		strings.Join(e.IDs, ",") != "a,b" || e.User != ps.Of("u2") || !seen[e.QueryID] || e.At.IsZero() {
		t.Fatalf("impression %+v", e)
	}
	// An error answer records none.
	do(t, s, http.MethodGet, "/v1/search?limit=-1")
	if _, imp := sink.snapshot(); len(imp) != 3 {
		t.Fatalf("a 400 recorded an impression")
	}
}

// TestImpressionsCarryTheExperimentVariant: with Config.Experiments and
// no WithVariants, an impression carries the user's "<experiment>/<variant>".
func TestImpressionsCarryTheExperimentVariant(t *testing.T) {
	ls := []rummage.Listing{{ID: "a", SellerID: "s", Title: "A", Status: rummage.StatusAvailable}}
	b := &stubBackend{search: func(ctx context.Context, r *query.Retrieval) (*query.Candidates, error) {
		return &query.Candidates{Total: 1, Hits: hits(ls...)}, nil
	}}
	ex, err := experiments.New(experiments.Config{Experiments: []experiments.Experiment{{Name: "exp", Variants: []experiments.Variant{{Name: "all", Percent: 100}}}}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	s, _ := newTestServer(t, Config{Experiments: ex}, b, WithEvents(sink, testPseudonymizer(t)))
	do(t, s, http.MethodGet, "/v1/search?q=dress&user=u1")
	do(t, s, http.MethodGet, "/v1/search?q=dress")
	_, imp := sink.snapshot()
	if len(imp) != 2 || imp[0].Variant != "exp/all" || imp[1].Variant != "" {
		t.Fatalf("impressions %+v", imp)
	}
}
