package feed

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// Party statuses.
const (
	PartyLive     = "live"
	PartyUpcoming = "upcoming"
	PartyEnded    = "ended"
)

// SortParty is the party feed's own order: by the latest share into the
// party, newest first (ties by id).
const SortParty query.Sort = "party"

// PartyInfo is a party as the API answers it.
type PartyInfo struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Theme    signals.Theme `json:"theme"`
	StartsAt time.Time     `json:"starts_at"`
	EndsAt   time.Time     `json:"ends_at"`
	Status   string        `json:"status"`
	// ShareCount and ListingCount are set on one party's page: the shares
	// into it inside its window, and the listings its feed holds.
	ShareCount   *int `json:"share_count,omitempty"`
	ListingCount *int `json:"listing_count,omitempty"`
}

// partyStatus is p's status at now.
func partyStatus(p *signals.Party, now time.Time) string {
	switch {
	case now.Before(p.StartsAt):
		return PartyUpcoming
	case now.Before(p.EndsAt):
		return PartyLive
	}
	return PartyEnded
}

func info(p *signals.Party, now time.Time) PartyInfo {
	return PartyInfo{ID: p.ID, Name: p.Name, Theme: p.Theme, StartsAt: p.StartsAt, EndsAt: p.EndsAt, Status: partyStatus(p, now)}
}

// PartiesRequest lists parties.
type PartiesRequest struct {
	Statuses []string // default live and upcoming
	Limit    int      // default 24
	Cursor   string
	Now      time.Time // zero: the clock
}

// Parties lists parties: live ones by ends_at, then upcoming by starts_at,
// then ended by ends_at desc, as far as the statuses asked. The cursor is
// an offset into that list at the first page's instant.
func (f *Feeds) Parties(ctx context.Context, req *PartiesRequest) ([]PartyInfo, string, error) {
	statuses := req.Statuses
	if len(statuses) == 0 {
		statuses = []string{PartyLive, PartyUpcoming}
	}
	limit := req.Limit
	if limit == 0 {
		limit = query.DefaultLimit
	}
	fp := fingerprint(&query.Request{}, append([]string{surfaceParties}, statuses...)...)
	q := &query.Request{Cursor: req.Cursor, Now: req.Now}
	cur, err := f.decodeCursor(q, surfaceParties, fp)
	if err != nil {
		return nil, "", err
	}
	now := f.instant(q, cur)
	all, err := f.s.Parties(ctx)
	if err != nil {
		return nil, "", err
	}
	rank := map[string]int{PartyLive: 0, PartyUpcoming: 1, PartyEnded: 2}
	var list []PartyInfo
	for i := range all {
		pi := info(&all[i], now)
		if slices.Contains(statuses, pi.Status) {
			list = append(list, pi)
		}
	}
	slices.SortFunc(list, func(a, b PartyInfo) int {
		if c := cmp.Compare(rank[a.Status], rank[b.Status]); c != 0 {
			return c
		}
		var c int
		switch a.Status {
		case PartyLive:
			c = a.EndsAt.Compare(b.EndsAt)
		case PartyUpcoming:
			c = a.StartsAt.Compare(b.StartsAt)
		default:
			c = b.EndsAt.Compare(a.EndsAt)
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	from := 0
	if cur != nil {
		from = min(cur.Served, len(list))
	}
	page := list[from:min(from+limit, len(list))]
	next := ""
	if from+len(page) < len(list) {
		next = f.cursors().encode(&cursorState{Surface: surfaceParties, At: now.UnixMilli(), Req: fp, ID: "offset", Served: from + len(page)})
	}
	if page == nil {
		page = []PartyInfo{}
	}
	return page, next, nil
}

// Party returns one party with its share and listing counts (DESIGN.md:
// share_count = shares with this party inside its window; listing_count =
// the feed's total without request filters), or ErrNotFound.
func (f *Feeds) Party(ctx context.Context, id string, now time.Time) (*PartyInfo, error) {
	p, err := f.party(ctx, id)
	if err != nil {
		return nil, err
	}
	if now.IsZero() {
		now = f.cursors().Now()
	}
	pi := info(p, now)
	shares, count, err := f.partyShares(ctx, p, now)
	if err != nil {
		return nil, err
	}
	listings := 0
	if len(shares) > 0 {
		ex, err := f.exclude(ctx, "", false)
		if err != nil {
			return nil, err
		}
		r := f.partyRetrieval(p, shares, now, ex)
		r.N, r.Sort = 1, query.SortFeed
		cands, err := f.r.Retrieve(ctx, r)
		if err != nil {
			return nil, err
		}
		listings = cands.Total
	}
	pi.ShareCount, pi.ListingCount = &count, &listings
	return &pi, nil
}

func (f *Feeds) party(ctx context.Context, id string) (*signals.Party, error) {
	p, err := f.s.Party(ctx, id)
	if errors.Is(err, signals.ErrNotFound) {
		return nil, ErrNotFound
	}
	return p, err
}

// partyShares are the listings shared into p in its window as of now
// (shares at or before now), latest share first.
func (f *Feeds) partyShares(ctx context.Context, p *signals.Party, now time.Time) ([]signals.ListingAt, int, error) {
	if now.Before(p.StartsAt) {
		return nil, 0, nil
	}
	to := p.EndsAt
	if t := now.Add(time.Millisecond); t.Before(to) {
		to = t
	}
	return f.s.PartyShares(ctx, p.ID, p.StartsAt, to)
}

// partyIDs is a party's restriction (ids and keys) built from an answer
// of the store, which it holds.
type partyIDs struct {
	shares []signals.ListingAt
	ids    []string
	keys   []int64
}

// restrictionOf returns the ids and keys of a party's shares. A store may
// answer a party that did not change with the very slice it answered
// before (signals/memory does): the slices built from it then are reused
// too, and a backend that caches what it resolved a restriction to (the
// embedded index does) recognizes them. Both are read-only.
func (f *Feeds) restrictionOf(party string, shares []signals.ListingAt) ([]string, []int64) {
	if len(shares) == 0 {
		return nil, nil
	}
	if v, ok := f.partyIDs.Load(party); ok {
		c := v.(*partyIDs)
		if len(c.shares) == len(shares) && &c.shares[0] == &shares[0] {
			return c.ids, c.keys
		}
	}
	ids := make([]string, len(shares))
	keys := make([]int64, len(shares))
	for i, s := range shares {
		ids[i], keys[i] = s.Listing, s.At.UnixMilli()
	}
	f.partyIDs.Store(party, &partyIDs{shares: shares, ids: ids, keys: keys})
	return ids, keys
}

// partyRetrieval restricts to the party's shared listings, keyed by their
// latest share, within its theme.
func (f *Feeds) partyRetrieval(p *signals.Party, shares []signals.ListingAt, now time.Time, exclude []string) *query.Retrieval {
	ids, keys := f.restrictionOf(p.ID, shares)
	th := p.Theme
	return &query.Retrieval{
		Now:      now,
		Scope:    &query.Scope{Query: th.Query, Filters: th.Filters},
		Restrict: query.Restriction{Include: true, IDs: ids, IDKeys: keys, ExcludeSellers: exclude},
	}
}

// PartyFeed is one page of a party's feed (DESIGN.md "Parties"): the
// listings shared into it during its window that match its theme and are
// visible now, each once, by their latest share (or the request's key
// sort), with the search filters and facets over the party. The first
// page's instant is pinned: later pages see the feed as it was then. An
// upcoming party has no listings; an ended one answers as of its end.
func (f *Feeds) PartyFeed(ctx context.Context, id string, req *query.Request) (*Page, error) {
	sort := req.Sort
	if sort == "" {
		sort = SortParty
	}
	fp := fingerprint(req, surfaceParty, id)
	cur, err := f.decodeCursor(req, surfaceParty, fp)
	if err != nil {
		return nil, err
	}
	now := f.instant(req, cur)
	p, err := f.party(ctx, id)
	if err != nil {
		return nil, err
	}
	shares, _, err := f.partyShares(ctx, p, now)
	if err != nil {
		return nil, err
	}
	ex, err := f.exclude(ctx, req.User, false)
	if err != nil {
		return nil, err
	}
	r := f.partyRetrieval(p, shares, now, ex)
	if len(shares) == 0 {
		r.Restrict.IDs, r.Restrict.IDKeys = nil, nil // nothing shared: nothing matches
	}
	base := SearchRetrieval(req, now, f.cfg.Search.Aliases)
	r.Query, r.Filters, r.Facets, r.FacetLimit, r.N, r.Docs = base.Query, base.Filters, base.Facets, base.FacetLimit, base.N, base.N
	r.Sort = query.SortFeed
	if sort != SortParty {
		r.Sort = sort
		r.Restrict.IDKeys = nil
	}
	if cur != nil {
		r.After = &query.Position{Key: cur.Key, ID: cur.ID}
	}
	var sharedAt map[string]int64
	return f.keyedPage(ctx, r, surfaceParty, fp, now, func(c *query.Candidate, h *Hit) {
		if sort == SortParty {
			h.PartySharedAt = msTime(c.Key)
			return
		}
		if sharedAt == nil {
			sharedAt = make(map[string]int64, len(shares))
			for _, s := range shares {
				sharedAt[s.Listing] = s.At.UnixMilli()
			}
		}
		h.PartySharedAt = msTime(sharedAt[c.ID])
	})
}

// partySorts are the sorts the party feed takes besides its own.
var partySorts = []query.Sort{query.SortNewest, query.SortPriceAsc, query.SortPriceDesc}

// ParsePartySort reads the party feed's sort parameter: party (the
// default), newest, price_asc or price_desc.
func ParsePartySort(s string) (query.Sort, error) {
	if s == "" || s == string(SortParty) {
		return SortParty, nil
	}
	if slices.Contains(partySorts, query.Sort(s)) {
		return query.Sort(s), nil
	}
	return "", &query.InvalidError{Code: "invalid_sort", Field: "sort", Message: "unknown sort " + strconv.Quote(s) + "; the party feed takes party, newest, price_asc or price_desc"}
}
