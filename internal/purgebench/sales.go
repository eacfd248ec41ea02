package purgebench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/internal/devbench"
)

// bench is one run's state.
type bench struct {
	cfg   *Config
	svc   *devbench.Stack
	api   *devbench.Client
	pool  *pgxpool.Pool
	party string
	roots []string
	sem   chan struct{} // the pollers: reads in flight

	polls     atomic.Int64
	shares    atomic.Int64 // the sold listings' shares into the party
	sold      atomic.Int64
	writeErrs atomic.Int64
	diagnosed atomic.Int64 // sales whose listing page never said sold, logged

	mu           sync.Mutex
	used         map[string]bool // listings picked for a sale
	done, purged int
}

// get reads path with the bench's search key; cache is the Cache-Status.
func (b *bench) get(ctx context.Context, path string) (status int, cache string, body []byte, err error) {
	return b.api.Get(ctx, path)
}

// isHit: answered from the cache (fresh, or stale while one refresh runs).
func isHit(cacheStatus string) bool { return strings.HasPrefix(cacheStatus, "rummage; hit") }

// setup makes the bench's party (live, unthemed: every listing may be
// shared into it) and reads the catalog's category roots.
func (b *bench) setup(ctx context.Context) error {
	b.party = fmt.Sprintf("purgebench-%d", time.Now().Unix())
	if _, err := b.pool.Exec(ctx, `INSERT INTO parties (id, name, theme, starts_at, ends_at) VALUES ($1, 'Purge bench party', '{}', now() - interval '1 hour', now() + interval '6 hours')`, b.party); err != nil {
		return fmt.Errorf("purgebench: party: %w", err)
	}
	var page struct {
		Facets struct {
			Category []struct {
				Value string `json:"value"`
				Count int    `json:"count"`
			} `json:"category"`
		} `json:"facets"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, body, err := b.get(ctx, "/v1/parties/"+b.party)
		if err == nil && st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("purgebench: the party %s did not reach the service within 60 s (HTTP %d, %v)", b.party, st, err)
		}
		_ = body
		time.Sleep(100 * time.Millisecond)
	}
	st, _, body, err := b.get(ctx, "/v1/search?facets=category&limit=1")
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("purgebench: category roots: HTTP %d, %v", st, err)
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return err
	}
	for _, c := range page.Facets.Category {
		if c.Count >= 100 {
			b.roots = append(b.roots, c.Value)
		}
	}
	if len(b.roots) == 0 {
		return fmt.Errorf("purgebench: no category root with 100 listings: %s", body)
	}
	b.cfg.Logf("party %s; category roots %v", b.party, b.roots)
	return nil
}

// page is one surface a listing may be shown on.
type page struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// Page kinds.
const (
	KindCategory    = "category"
	KindSubcategory = "subcategory"
	KindBrand       = "brand"
	KindBrandCat    = "brand+category"
	KindBrowse      = "browse"
	KindParty       = "party"
	KindFollowing   = "following"
	KindHome        = "home"
	KindListing     = "listing" // /v1/listings/{id}: not a cached route
)

type hit struct {
	ID       string   `json:"id"`
	SellerID string   `json:"seller_id"`
	Brand    string   `json:"brand"`
	Category []string `json:"category"`
	Status   string   `json:"status"`
}

// candidate picks the newest listing of root not picked before: it tops
// its category's first page, and with it the narrower pages of its brand
// and subcategory.
func (b *bench) candidate(ctx context.Context, root string) (*hit, error) {
	st, _, body, err := b.get(ctx, "/v1/search?"+url.Values{"category": {root}}.Encode())
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d, %v", st, err)
	}
	var res struct {
		Hits []hit `json:"hits"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range res.Hits {
		h := &res.Hits[i]
		if h.Status == "available" && !b.used[h.ID] {
			b.used[h.ID] = true
			return h, nil
		}
	}
	return nil, fmt.Errorf("every listing of %s's first page was picked", root)
}

// pages are the surfaces that may show h: its category, subcategory,
// brand and brand-in-category searches, the browse, the party's feed, its
// followers' following feeds and the home feed.
func (b *bench) pages(h *hit, followers []string) []page {
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "/v1/search?" + v.Encode()
	}
	root := ""
	if len(h.Category) > 0 {
		root = h.Category[0]
	}
	ps := []page{{KindCategory, q("category", root)}, {KindBrowse, "/v1/search"}, {KindParty, "/v1/parties/" + b.party + "/feed"}, {KindHome, "/v1/feed"}}
	if len(h.Category) > 1 {
		ps = append(ps, page{KindSubcategory, q("category", strings.Join(h.Category[:2], "/"))})
	}
	if h.Brand != "" {
		ps = append(ps, page{KindBrand, q("brand", h.Brand)}, page{KindBrandCat, q("brand", h.Brand, "category", root)})
	}
	for _, f := range followers {
		ps = append(ps, page{KindFollowing, "/v1/feed/following?" + url.Values{"user": {f}}.Encode()})
	}
	return ps
}

// Sale is one sold listing's measurement.
type Sale struct {
	Listing string `json:"listing"`
	// Skipped says why the sale was not measured.
	Skipped string `json:"skipped,omitempty"`
	// Pages are the cached pages that showed it just before the sale.
	Pages []PageResult `json:"pages,omitempty"`
	// Listing is /v1/listings/{id} (uncached): until it says sold.
	ListingPage *PageResult `json:"listing_page,omitempty"`
	// Latency: from the COMMIT until no page answered it from the cache;
	// Strict: until no page answered it at all (a miss computed before
	// the index applied the sale counts too). TimedOut: a page still
	// showed it at Config.Timeout.
	Latency  time.Duration `json:"latency_ns"`
	Strict   time.Duration `json:"strict_ns"`
	TimedOut bool          `json:"timed_out,omitempty"`
}

// PageResult is one page's polling after a sale.
type PageResult struct {
	page
	Latency   time.Duration `json:"latency_ns"`
	Strict    time.Duration `json:"strict_ns"`
	Polls     int           `json:"polls"`
	StaleHits int           `json:"stale_hits_showing"`
	Errors    int           `json:"errors,omitempty"`
	TimedOut  bool          `json:"timed_out,omitempty"`
}

// sale picks a listing, shares it into the party, finds the pages that
// show it Config.Lead later, sells it and polls them.
func (b *bench) sale(ctx context.Context, i int) *Sale {
	start := time.Now()
	h, err := b.candidate(ctx, b.roots[i%len(b.roots)])
	if err != nil {
		return &Sale{Skipped: "no candidate: " + err.Error()}
	}
	s := &Sale{Listing: h.ID}
	rows, err := b.pool.Query(ctx, `SELECT follower_id FROM follows WHERE seller_id = $1 LIMIT 2`, h.SellerID)
	var followers []string
	if err == nil {
		for rows.Next() {
			var f string
			if rows.Scan(&f) == nil {
				followers = append(followers, f)
			}
		}
		rows.Close()
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO shares (user_id, listing_id, party_id) VALUES ('purgebench', $1, $2)`, h.ID, b.party); err != nil {
		b.writeErrs.Add(1)
		s.Skipped = "share: " + err.Error()
		return s
	}
	b.shares.Add(1)
	select {
	case <-ctx.Done():
		s.Skipped = ctx.Err().Error()
		return s
	case <-time.After(time.Until(start.Add(b.cfg.Lead))):
	}
	needle := []byte(`"id":"` + h.ID + `"`)
	var showing []page
	for _, p := range b.pages(h, followers) {
		if b.shows(ctx, p, needle) {
			showing = append(showing, p)
		}
	}
	if len(showing) == 0 {
		s.Skipped = "no cached page showed it"
		return s
	}
	tag, err := b.pool.Exec(ctx, `UPDATE listings SET status = 'sold', updated_at = now() WHERE id = $1 AND status = 'available'`, h.ID)
	committed := time.Now()
	switch {
	case err != nil:
		b.writeErrs.Add(1)
		s.Skipped = "sale: " + err.Error()
		return s
	case tag.RowsAffected() == 0:
		s.Skipped = "no longer available"
		return s
	}
	b.sold.Add(1)
	s.Pages = make([]PageResult, len(showing))
	var lp PageResult
	var wg sync.WaitGroup
	for k, p := range showing {
		wg.Go(func() { s.Pages[k] = b.poll(ctx, p, needle, committed, false) })
	}
	wg.Go(func() {
		lp = b.poll(ctx, page{KindListing, "/v1/listings/" + url.PathEscape(h.ID)}, needle, committed, true)
	})
	wg.Wait()
	s.ListingPage = &lp
	if lp.TimedOut && b.diagnosed.Add(1) <= 3 {
		var status string
		var updated time.Time
		_ = b.pool.QueryRow(ctx, `SELECT status, updated_at FROM listings WHERE id = $1`, h.ID).Scan(&status, &updated)
		st, _, body, _ := b.get(ctx, "/v1/listings/"+url.PathEscape(h.ID))
		b.cfg.Logf("sale of %s still not seen %v after its commit at %s: Postgres says %s (updated %s); the listing page answers %d %.300s",
			h.ID, b.cfg.Timeout, committed.Format(time.RFC3339Nano), status, updated.Format(time.RFC3339Nano), st, body)
	}
	for _, r := range s.Pages {
		s.Latency, s.Strict = max(s.Latency, r.Latency), max(s.Strict, r.Strict)
		s.TimedOut = s.TimedOut || r.TimedOut
	}
	b.mu.Lock()
	b.done++
	if !s.TimedOut {
		b.purged++
	}
	b.mu.Unlock()
	return s
}

// shows reports whether p, answered from the cache, shows the listing
// (read until a hit, three times at most: the first read fills it).
func (b *bench) shows(ctx context.Context, p page, needle []byte) bool {
	for range 3 {
		st, cs, body, err := b.get(ctx, p.Path)
		if err != nil || st != http.StatusOK {
			return false
		}
		if isHit(cs) {
			return bytes.Contains(body, needle)
		}
	}
	return false
}

// poll reads p every Config.PollInterval (through the pollers' slots)
// until it has not shown the listing for Config.Settle, or Timeout after
// the commit. A read shows it when it contains the listing and came from
// the cache; for the strict figure, whenever it contains it. The listing
// page (uncached) shows it until it says sold.
func (b *bench) poll(ctx context.Context, p page, needle []byte, committed time.Time, listingPage bool) PageResult {
	r := PageResult{page: p}
	var clear, strictClear, cleanSince time.Time
	clean := 0
	for {
		t0 := time.Now()
		if t0.Sub(committed) > b.cfg.Timeout || ctx.Err() != nil {
			r.TimedOut = true
			break
		}
		b.sem <- struct{}{}
		st, cs, body, err := b.get(ctx, p.Path)
		<-b.sem
		t1 := time.Now()
		r.Polls++
		b.polls.Add(1)
		if err != nil || st != http.StatusOK {
			r.Errors++
		} else {
			contains := bytes.Contains(body, needle)
			if listingPage {
				contains = !bytes.Contains(body, []byte(`"status":"sold"`))
			}
			hit := isHit(cs)
			if contains && (hit || listingPage) {
				clear = time.Time{}
				if strings.Contains(cs, "stale") {
					r.StaleHits++
				}
			} else if clear.IsZero() {
				clear = t1
			}
			if contains {
				strictClear, cleanSince, clean = time.Time{}, time.Time{}, 0
			} else {
				if strictClear.IsZero() {
					strictClear, cleanSince = t1, t1
				}
				clean++
			}
			if clean >= 2 && t1.Sub(cleanSince) >= b.cfg.Settle {
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(t0.Add(b.cfg.PollInterval))):
		}
	}
	if r.TimedOut {
		r.Latency, r.Strict = b.cfg.Timeout, b.cfg.Timeout
		if !clear.IsZero() {
			r.Latency = clear.Sub(committed)
		}
		return r
	}
	r.Latency, r.Strict = clear.Sub(committed), strictClear.Sub(committed)
	return r
}
