package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenario names.
const (
	PartyStart = "party-start"
	DropScene  = "drop"
	SearchMix  = "search-mix"
)

// Scenarios are the scenario names, for --help.
var Scenarios = []string{PartyStart, DropScene, SearchMix}

// Kinds of request, the report's breakdown.
const (
	KindPartyFeed  = "party_feed"
	KindPartyLater = "party_feed_later"
	KindMySize     = "my_size"
	KindSearch     = "search"
	KindListing    = "listing"
	KindDrops      = "drops"
	KindNewest     = "newest"
)

// Catalog is what a run learns of the target before it starts: listing
// ids and their brands, sizes, categories and title words, the live (or
// else upcoming) party, a later-page cursor of its feed, and the next drop.
type Catalog struct {
	IDs, Brands, Sizes, Categories, Words []string
	Party                                 string
	PartyCursor                           string
	NextDrop                              time.Time
}

// Discover reads the catalog of the target through its API (search,
// parties, drops). party, when set, names the party to use. A target that
// sheds (503) or limits (429) is asked again after its Retry-After, up to
// discoverAttempts times: a service still warming up may shed.
func Discover(ctx context.Context, cl *http.Client, base, key, party string) (*Catalog, error) {
	get := func(path string, v any) error {
		for attempt := 1; ; attempt++ {
			wait, err := getJSON(ctx, cl, base, key, path, v)
			if wait == 0 || attempt == discoverAttempts {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	var page struct {
		Hits []struct {
			ID, Title, Brand, Size string
			Category               []string
		} `json:"hits"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := get("/v1/search?limit=100", &page); err != nil {
		return nil, fmt.Errorf("loadgen: discover listings: %w", err)
	}
	c := &Catalog{}
	words := map[string]bool{}
	for _, h := range page.Hits {
		c.IDs = append(c.IDs, h.ID)
		add(&c.Brands, h.Brand)
		add(&c.Sizes, h.Size)
		if len(h.Category) > 0 {
			add(&c.Categories, strings.Join(h.Category, "/"))
		}
		for _, w := range strings.Fields(strings.ToLower(h.Title)) {
			if len(w) > 3 && !words[w] && len(words) < 200 {
				words[w] = true
				c.Words = append(c.Words, w)
			}
		}
	}
	if len(c.IDs) == 0 {
		return nil, fmt.Errorf("loadgen: the target's /v1/search has no listings")
	}
	c.Party = party
	if c.Party == "" {
		var ps struct {
			Parties []struct{ ID, Status string } `json:"parties"`
		}
		if err := get("/v1/parties?status=live,upcoming", &ps); err == nil && len(ps.Parties) > 0 {
			c.Party = ps.Parties[0].ID
		}
	}
	if c.Party != "" {
		page.NextCursor = nil
		if err := get("/v1/parties/"+url.PathEscape(c.Party)+"/feed?limit=24", &page); err != nil {
			return nil, fmt.Errorf("loadgen: discover party %s: %w", c.Party, err)
		}
		if page.NextCursor != nil {
			c.PartyCursor = *page.NextCursor
		}
	}
	var drops struct {
		Drops []struct {
			At time.Time `json:"at"`
		} `json:"drops"`
	}
	if err := get("/v1/drops", &drops); err == nil && len(drops.Drops) > 0 {
		c.NextDrop = drops.Drops[0].At
	}
	return c, nil
}

// discoverAttempts is how many times Discover asks a shedding target.
const discoverAttempts = 10

// getJSON reads path into v; wait is how long to wait before asking again
// when the target shed or limited the request (0: do not).
func getJSON(ctx context.Context, cl *http.Client, base, key, path string, v any) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, truncate(string(b), 200))
		if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
			wait = time.Second
			if n, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && n > 0 {
				wait = time.Duration(n) * time.Second
			}
		}
		return wait, err
	}
	return 0, json.Unmarshal(b, v)
}

func add(list *[]string, v string) {
	if v != "" && !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Request is one request of a scenario: its kind and path with query.
type Request struct {
	Kind, Path string
}

// Mix picks a scenario's requests; safe for concurrent use.
type Mix interface {
	Pick(t time.Duration, rng *rand.Rand) Request
}

// pick returns one of list (rng over its length); "" when empty.
func pick(rng *rand.Rand, list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[rng.IntN(len(list))]
}

// weighted chooses among kinds by weight.
type weighted []struct {
	w    float64
	kind string
}

func (ws weighted) choose(rng *rand.Rand) string {
	var total float64
	for _, w := range ws {
		total += w.w
	}
	x := rng.Float64() * total
	for _, w := range ws {
		if x < w.w {
			return w.kind
		}
		x -= w.w
	}
	return ws[len(ws)-1].kind
}

// partyMix is party-start's: party feed first pages, later pages, "My
// Size" filters on the party, searches and listing pages.
type partyMix struct{ c *Catalog }

var partyWeights = weighted{{40, KindPartyFeed}, {10, KindPartyLater}, {20, KindMySize}, {15, KindSearch}, {15, KindListing}}

func (m partyMix) Pick(_ time.Duration, rng *rand.Rand) Request {
	c := m.c
	feed := "/v1/parties/" + url.PathEscape(c.Party) + "/feed"
	switch k := partyWeights.choose(rng); k {
	case KindPartyFeed:
		return Request{k, feed}
	case KindPartyLater:
		if c.PartyCursor != "" {
			return Request{k, feed + "?cursor=" + url.QueryEscape(c.PartyCursor)}
		}
		return Request{KindPartyFeed, feed}
	case KindMySize:
		return Request{k, feed + "?size=" + url.QueryEscape(pick(rng, c.Sizes))}
	case KindSearch:
		return searchRequest(c, rng)
	default:
		return Request{KindListing, "/v1/listings/" + url.PathEscape(pick(rng, c.IDs))}
	}
}

// searchRequest is one of the search mix: text, brand, category, size
// filters and sorts, some with facets.
func searchRequest(c *Catalog, rng *rand.Rand) Request {
	q := url.Values{}
	switch rng.IntN(5) {
	case 0:
		q.Set("q", pick(rng, c.Words))
	case 1:
		q.Set("brand", pick(rng, c.Brands))
	case 2:
		q.Set("category", pick(rng, c.Categories))
	case 3:
		q.Set("q", pick(rng, c.Words))
		q.Set("size", pick(rng, c.Sizes))
	default:
		q.Set("brand", pick(rng, c.Brands))
		q.Set("sort", []string{"newest", "price_asc", "price_desc"}[rng.IntN(3)])
	}
	if rng.IntN(4) == 0 {
		q.Set("facets", "brand,size")
	}
	return Request{KindSearch, "/v1/search?" + q.Encode()}
}

type searchMix struct{ c *Catalog }

func (m searchMix) Pick(_ time.Duration, rng *rand.Rand) Request { return searchRequest(m.c, rng) }

// dropMix is the drop's: shoppers refresh the drops page and the newest
// listings of a brand until T0, then open listing pages — of the drop's
// listings once responses after T0 have named them (Learn).
type dropMix struct {
	c  *Catalog
	t0 time.Duration

	mu   sync.RWMutex
	seen []string
}

func (m *dropMix) Pick(t time.Duration, rng *rand.Rand) Request {
	if t < m.t0 {
		if rng.IntN(3) == 0 {
			return Request{KindDrops, "/v1/drops"}
		}
		return Request{KindNewest, "/v1/search?sort=newest&brand=" + url.QueryEscape(pick(rng, m.c.Brands))}
	}
	if rng.IntN(4) == 0 {
		return Request{KindNewest, "/v1/search?sort=newest"}
	}
	m.mu.RLock()
	id := pick(rng, m.seen)
	m.mu.RUnlock()
	if id == "" {
		id = pick(rng, m.c.IDs)
	}
	return Request{KindListing, "/v1/listings/" + url.PathEscape(id)}
}

// Learn reads the ids of a newest-first page answered after T0: the
// listings shoppers open next.
func (m *dropMix) Learn(body []byte) {
	var page struct {
		Hits []struct{ ID string } `json:"hits"`
	}
	if json.Unmarshal(body, &page) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range page.Hits {
		if len(m.seen) < 1000 && !slices.Contains(m.seen, h.ID) {
			m.seen = append(m.seen, h.ID)
		}
	}
}
