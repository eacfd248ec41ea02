package api_test

// End-to-end tests: the real embedded backend (query/embedded) loaded with
// testdata/listings.jsonl, behind the real server. They live in package
// api_test because package api itself must not import a backend.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/api"
	"github.com/rummage/rummage/api/apitest"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/embedded"
)

var update = flag.Bool("update", false, "rewrite testdata/search_golden.json")

var (
	e2eOnce sync.Once
	e2eSrv  *api.Server
	e2eErr  error
	e2eIdx  *embedded.Index
	e2eDir  string
	// e2eCursors signs the e2e server's cursors, so the golden test can
	// read them back.
	e2eCursors = feed.NewRandomCursors()
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if e2eIdx != nil {
		e2eIdx.Close()
	}
	if e2eDir != "" {
		os.RemoveAll(e2eDir)
	}
	os.Exit(code)
}

// e2eServer loads the data set once per test binary: indexing is the slow
// part and every test only reads.
func e2eServer(t *testing.T) *api.Server {
	t.Helper()
	return mustE2E(t)
}

func mustE2E(t testing.TB) *api.Server {
	t.Helper()
	e2eOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rummage-api-e2e-")
		if err != nil {
			e2eErr = err
			return
		}
		e2eDir = dir
		// The shipped brand aliases, as rummage serve loads them.
		aliases, err := query.LoadAliases("", fixtures.BrandAliases())
		if err != nil {
			e2eErr = err
			return
		}
		idx, err := embedded.Open(context.Background(), embedded.Config{Dir: dir + "/index", Aliases: aliases})
		if err != nil {
			e2eErr = err
			return
		}
		e2eIdx = idx
		f, err := os.Open("testdata/listings.jsonl")
		if err != nil {
			e2eErr = err
			return
		}
		defer f.Close()
		docs, err := rummage.DecodeAll(f)
		if err != nil {
			e2eErr = err
			return
		}
		batch := make([]query.Change, len(docs))
		for i := range docs {
			batch[i] = query.Change{ID: docs[i].ID, Version: 1, Doc: &docs[i]}
		}
		if _, err := idx.Apply(context.Background(), batch); err != nil {
			e2eErr = err
			return
		}
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		e2eSrv, e2eErr = api.New(api.Config{Cursors: e2eCursors, Auth: api.Auth{Keys: apitest.Shared().Ring}}, idx, logger)
	})
	if e2eErr != nil {
		t.Fatal(e2eErr)
	}
	return e2eSrv
}

type searchBody struct {
	QueryID    string                        `json:"query_id"`
	Total      int                           `json:"total"`
	Hits       []rummage.Listing             `json:"hits"`
	Facets     map[string][]query.FacetValue `json:"facets"`
	NextCursor *string                       `json:"next_cursor"`
}

// get sends GET target with the shared search key through apitest, which
// checks the exchange against the OpenAPI document.
func get(t *testing.T, h http.Handler, target string) (int, []byte) {
	t.Helper()
	r := apitest.NewClient(t, h, apitest.Shared().Search).Get(t, target)
	return r.Status, r.Body
}

func search(t *testing.T, h http.Handler, params string) searchBody {
	t.Helper()
	code, body := get(t, h, "/v1/search?"+params)
	if code != http.StatusOK {
		t.Fatalf("search %q: %d %s", params, code, body)
	}
	var out searchBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("search %q: %v\n%s", params, err, body)
	}
	if out.Hits == nil || out.Facets == nil {
		t.Fatalf("search %q: hits or facets is null: %s", params, body)
	}
	return out
}

func ids(hits []rummage.Listing) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// walk pages through a search with the cursor and returns every id seen.
func walk(t *testing.T, h http.Handler, params string) []string {
	t.Helper()
	var all []string
	cursor := ""
	for page := 0; ; page++ {
		p := params
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		res := search(t, h, p)
		all = append(all, ids(res.Hits)...)
		if res.NextCursor == nil {
			return all
		}
		if page > 50 {
			t.Fatalf("%q: cursor walk does not end", params)
		}
		cursor = *res.NextCursor
	}
}

// visibleNewest is every visible listing of the data set, newest first: the
// sold (l12), not-yet-dropped (l13) and removed (l14) ones are hidden.
var visibleNewest = []string{"l11", "l10", "l09", "l08", "l07", "l06", "l05", "l04", "l03", "l02", "l01"}

func TestE2ESearchParameters(t *testing.T) {
	s := e2eServer(t)
	tests := []struct {
		name, params string
		want         []string // ordered, unless set
		set          bool
	}{
		{"browse defaults to newest", "", visibleNewest, false},
		{"sort newest", "sort=newest", visibleNewest, false},
		{"sort price_asc, ties by id", "sort=price_asc", []string{"l11", "l04", "l07", "l06", "l08", "l01", "l02", "l03", "l10", "l05", "l09"}, false},
		{"sort price_desc, ties by id", "sort=price_desc", []string{"l09", "l05", "l03", "l10", "l02", "l01", "l06", "l08", "l07", "l04", "l11"}, false},
		{"sort recently_shared, never shared last", "sort=recently_shared", []string{"l09", "l03", "l05", "l01", "l02", "l04", "l06", "l07", "l08", "l10", "l11"}, false},
		{"q with stemming", "q=dresses", []string{"l05", "l06"}, true},
		{"q relevance explicit", "q=sneakers&sort=relevance", []string{"l03", "l10"}, true},
		{"q with a sort", "q=jacket&sort=price_asc", []string{"l08", "l02"}, false},
		{"brand", "brand=Nike", []string{"l04", "l03"}, false},
		{"brands are OR-ed", "brand=Nike&brand=Adidas", []string{"l10", "l04", "l03"}, false},
		{"fields are AND-ed", "brand=Nike&color=black", []string{"l04"}, false},
		{"size", "size=M", []string{"l08", "l04"}, false},
		{"condition", "condition=nwt", []string{"l10", "l04"}, false},
		{"conditions OR-ed", "condition=nwt&condition=fair", []string{"l10", "l07", "l04"}, false},
		{"color", "color=white", []string{"l10", "l06", "l03"}, false},
		{"category subtree", "category=Women/Dresses", []string{"l06", "l05"}, false},
		{"category leaf", "category=Women/Dresses/Midi", []string{"l05"}, false},
		{"category root", "category=Men", []string{"l11", "l04", "l03"}, false},
		{"category trailing slash", "category=Men/Shoes/", []string{"l03"}, false},
		{"unknown category is empty", "category=Pets", []string{}, false},
		{"price inclusive both ends", "price_min=2500&price_max=5000&sort=price_asc", []string{"l04", "l07", "l06", "l08"}, false},
		{"price_min only", "price_min=12000", []string{"l09", "l05"}, false},
		{"price_max only", "price_max=2499", []string{"l11"}, false},
		{"limit", "limit=2", []string{"l11", "l10"}, false},
		{"user is accepted", "user=u1&brand=Coach", []string{"l09"}, false},
		{"everything at once", "q=sneakers&brand=Nike&brand=Adidas&size=8&size=10&condition=nwt&condition=good&color=white&category=Women&price_min=1&price_max=9000&sort=price_asc&limit=5&facets=brand&user=u1", []string{"l10"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := search(t, s, tt.params)
			got := ids(res.Hits)
			if tt.set {
				sort.Strings(got)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
			if !strings.Contains(tt.params, "limit") && res.Total != len(tt.want) {
				t.Errorf("total %d, want %d", res.Total, len(tt.want))
			}
		})
	}
}

// TestE2ECursorWalk: paging with the cursor, in pages of 1, 2 and 4, gives
// exactly the hits of one big page, in the same order, for every sort.
func TestE2ECursorWalk(t *testing.T) {
	s := e2eServer(t)
	for _, base := range []string{"sort=newest", "sort=price_asc", "sort=price_desc", "sort=recently_shared", "q=dress", "q=sneakers&sort=price_asc", "brand=Nike&brand=Lululemon&sort=price_desc"} {
		full := ids(search(t, s, base+"&limit=100").Hits)
		if len(full) < 2 {
			t.Fatalf("%s: only %d hits", base, len(full))
		}
		for _, limit := range []int{1, 2, 4} {
			got := walk(t, s, fmt.Sprintf("%s&limit=%d", base, limit))
			if !slices.Equal(got, full) {
				t.Errorf("%s limit %d: walk %v, one page %v", base, limit, got, full)
			}
		}
	}
	// A cursor is tied to its query: reusing it with other filters is a 400.
	first := search(t, s, "sort=price_asc&limit=2")
	code, body := get(t, s, "/v1/search?sort=price_asc&limit=2&brand=Nike&cursor="+*first.NextCursor)
	if code != 400 || !strings.Contains(string(body), `"invalid_cursor"`) {
		t.Errorf("cursor with other filters: %d %s", code, body)
	}
}

func facetCounts(vals []query.FacetValue) map[string]int {
	m := map[string]int{}
	for _, v := range vals {
		k := v.Value
		if v.Key != "" {
			k = v.Key
		}
		m[k] = v.Count
	}
	return m
}

// TestE2EFacets: facets are disjunctive: a field's counts ignore that
// field's own filter but apply every other.
func TestE2EFacets(t *testing.T) {
	s := e2eServer(t)
	res := search(t, s, "brand=Nike&facets=brand,condition,color,size,price,category")
	want := map[string]map[string]int{
		"brand": {"Lululemon": 2, "Nike": 2, "Reformation": 1, "Free People": 1, "Levi's": 1,
			"Madewell": 1, "Coach": 1, "Adidas": 1, "Patagonia": 1},
		"condition": {"nwt": 1, "good": 1},
		"color":     {"black": 1, "white": 1, "red": 1},
		"size":      {"M": 1, "10": 1},
		"price":     {"25-50": 1, "50-100": 1},
	}
	for f, w := range want {
		got := facetCounts(res.Facets[f])
		for k, v := range got { // buckets with no hits may be listed with 0
			if v == 0 {
				delete(got, k)
			}
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("facet %s: %v, want %v", f, got, w)
		}
	}
	if len(res.Facets["category"]) == 0 {
		t.Error("category facet is empty")
	}
	// Ticking a second brand keeps the brand counts and widens the rest.
	res = search(t, s, "brand=Nike&brand=Adidas&facets=brand,condition")
	if got := facetCounts(res.Facets["brand"]); got["Adidas"] != 1 || got["Nike"] != 2 {
		t.Errorf("brand facet with two brands: %v", got)
	}
	if got := facetCounts(res.Facets["condition"]); got["nwt"] != 2 || got["good"] != 1 {
		t.Errorf("condition facet with two brands: %v", got)
	}
	// No facets asked: an empty object.
	if res := search(t, s, "brand=Nike"); len(res.Facets) != 0 {
		t.Errorf("facets without asking: %v", res.Facets)
	}
}

func TestE2EListing(t *testing.T) {
	s := e2eServer(t)
	tests := []struct {
		id     string
		status int
		want   string // listing status, for 200
	}{
		{"l01", 200, rummage.StatusAvailable},
		{"l12", 200, rummage.StatusSold},
		{"l13", 404, ""}, // a drop before its instant: no way around it
		{"l14", 404, ""}, // removed

		{"l99", 404, ""},
	}
	for _, tt := range tests {
		code, body := get(t, s, "/v1/listings/"+tt.id)
		if code != tt.status {
			t.Errorf("%s: %d %s", tt.id, code, body)
			continue
		}
		if code != 200 {
			if !strings.Contains(string(body), `"code":"not_found"`) {
				t.Errorf("%s: body %s", tt.id, body)
			}
			continue
		}
		var l rummage.Listing
		if err := json.Unmarshal(body, &l); err != nil || l.ID != tt.id || l.Status != tt.want {
			t.Errorf("%s: %+v %v", tt.id, l, err)
		}
	}
	// An admin key opens every listing, a drop before its instant and a
	// removed one included.
	admin := apitest.NewClient(t, s, apitest.Shared().Admin)
	for _, id := range []string{"l13", "l14"} {
		if r := admin.Get(t, "/v1/listings/"+id); r.Status != 200 {
			t.Errorf("admin %s: %d %s", id, r.Status, r.Body)
		}
	}
	code, body := get(t, s, "/metrics")
	if code != 200 || !strings.Contains(string(body), "rummage_index_documents 14") {
		t.Errorf("/metrics documents gauge:\n%s", body)
	}
}

// TestE2ESearchGolden pins one full response: every field of the hits, the
// six facets and the cursor. Refresh with go test ./api -run Golden -update.
func TestE2ESearchGolden(t *testing.T) {
	s := e2eServer(t)
	const params = "q=jacket&category=Women&price_max=12000&sort=price_asc&limit=1&facets=brand,category,size,condition,color,price"
	code, body := get(t, s, "/v1/search?"+params)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// The cursor carries the instant the first page was evaluated at; pin it
	// as its readable fields without that instant. The rest is the response
	// byte for byte, indented.
	// query_id is per answer (its own test: TestImpressions): out of the
	// golden bytes.
	body = apitest.StripQueryID(body)
	var doc struct {
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.NextCursor != nil {
		cur, err := e2eCursors.Describe(*doc.NextCursor)
		if err != nil {
			t.Fatalf("next_cursor %q: %v", *doc.NextCursor, err)
		}
		body = bytes.Replace(body, []byte(`"`+*doc.NextCursor+`"`), []byte(fmt.Sprintf(`"<cursor %s>"`, cur)), 1)
	}
	var req bytes.Buffer
	enc := json.NewEncoder(&req)
	enc.SetEscapeHTML(false)
	if err := enc.Encode("/v1/search?" + params); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	wrapped := fmt.Sprintf(`{"request": %s, "response": %s}`, bytes.TrimSpace(req.Bytes()), bytes.TrimSpace(body))
	if err := json.Indent(&buf, []byte(wrapped), "", "  "); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	got = append(got, '\n')
	const golden = "testdata/search_golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("response differs from %s (run with -update if the change is intended):\n%s", golden, got)
	}
}
