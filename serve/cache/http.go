package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/events"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// Social is what the middleware reads of the social state: a viewer's
// blocks (a viewer who blocks nobody shares the anonymous entry), the
// closets a user follows (the following feed's tags) and a party's theme
// (the party feed's tags). signals.Reader satisfies it.
type Social interface {
	Blocked(ctx context.Context, user string) ([]string, error)
	Following(ctx context.Context, user string, at time.Time, limit int) ([]string, error)
	Party(ctx context.Context, id string) (*signals.Party, error)
}

// HTTPConfig configures the middleware.
type HTTPConfig struct {
	// Social; nil: a request naming user= on a shared surface gets a
	// per-user entry (its exclusions cannot be known).
	Social Social
	// Canon resolves a brand alias ("lulu" → "Lululemon"), so that a
	// filter on an alias depends on the brand it stands for.
	Canon func(brand string) (string, bool)
	// Variant returns what a user's experiment variants add to a key:
	// non-empty only for variants that change retrieval
	// (experiments.Set.CacheKey), whose answers differ for the same
	// request; nil: nothing.
	Variant func(user string) string
}

// maxFollowTags is how many followed closets a following feed entry
// depends on by name; beyond, it depends on every listing change.
const maxFollowTags = 1000

// countsTTL bounds the entries whose counts no tag follows: facet counts
// (disjunctive: a facet counts listings the filters exclude) and
// /v1/parties/{id}'s counts, which may lag 5 s (DESIGN.md "Freshness").
const countsTTL = 5 * time.Second

type kind int

const (
	kSearch kind = iota
	kPartyFeed
	kParty
	kParties
	kFollowing
	kHome
	kDrops
)

// HeaderCacheStatus says how the cache answered (RFC 9211): a hit, a stale
// entry served while one refresh runs, or a miss computed (coalesced with
// identical misses). Load tools read it for the hit ratio.
const HeaderCacheStatus = "Cache-Status"

// The Cache-Status values.
const (
	CacheStatusHit   = "rummage; hit"
	CacheStatusStale = "rummage; hit; detail=stale"
	CacheStatusMiss  = "rummage; fwd=miss"
)

// routes are the cached routes (the api's Echo patterns).
var routes = map[string]kind{
	"/v1/search":           kSearch,
	"/v1/parties/:id/feed": kPartyFeed,
	"/v1/parties/:id":      kParty,
	"/v1/parties":          kParties,
	"/v1/feed/following":   kFollowing,
	"/v1/feed":             kHome,
	"/v1/drops":            kDrops,
}

// Middleware caches the listing surfaces' GET answers (mount it with
// api.WithMiddleware). The key is the path and the canonical query without
// user=, except for the following and home feeds and for a viewer who
// blocks closets, whose answers are theirs: their viewer exclusions change
// totals, facets and the cursor, so they are computed whole rather than
// filtered from the shared page. A viewer who blocks nobody is served the
// anonymous answer (it is computed without user=: its cursor is the
// anonymous walk's). Other routes and methods pass through.
func (c *Cache) Middleware(cfg HTTPConfig) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(ec echo.Context) error {
			r := ec.Request()
			k, ok := routes[ec.Path()]
			if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
				return next(ec)
			}
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				c.m.Requests.WithLabelValues("bypass").Inc()
				return next(ec) // the route answers the 400
			}
			ctx := r.Context()
			user := q.Get("user")
			perUser := false
			switch {
			case k == kFollowing && user == "":
				return next(ec)
			case k == kFollowing || k == kHome:
				perUser = user != ""
			case user != "":
				if cfg.Social == nil {
					perUser = true
				} else {
					bl, err := cfg.Social.Blocked(ctx, user)
					if err != nil {
						c.m.Requests.WithLabelValues("bypass").Inc()
						return next(ec)
					}
					perUser = len(bl) > 0
				}
			}
			if !perUser {
				q.Del("user")
			}
			raw := canonicalQuery(q)
			key := r.URL.EscapedPath() + "?" + raw
			if cfg.Variant != nil && user != "" {
				if v := cfg.Variant(user); v != "" {
					key += "#variant=" + v // shared by the variant's users
				}
			}
			now := c.cfg.Now()
			e, st := c.Lookup(key, now)
			hdr := ec.Response().Header()
			if a := events.AnswerFrom(ctx); a != nil && st != Miss {
				a.Cached = true
			}
			switch st {
			case Hit:
				c.m.Requests.WithLabelValues("hit").Inc()
				hdr.Set(HeaderCacheStatus, CacheStatusHit)
			case Stale:
				c.m.Requests.WithLabelValues("stale").Inc()
				hdr.Set(HeaderCacheStatus, CacheStatusStale)
				c.Refresh(ctx, key, e, c.filler(ec, next, k, q, raw, user, perUser, cfg))
			default:
				c.m.Requests.WithLabelValues("miss").Inc()
				hdr.Set(HeaderCacheStatus, CacheStatusMiss)
				if e, err = c.Load(ctx, key, c.filler(ec, next, k, q, raw, user, perUser, cfg)); err != nil {
					return err
				}
			}
			return c.write(ec, e, now)
		}
	}
}

// canonicalQuery orders parameters by name and the values of each.
func canonicalQuery(q url.Values) string {
	for _, v := range q {
		if len(v) > 1 {
			slices.Sort(v)
		}
	}
	return q.Encode()
}

// filler captures what a fill needs of the request: the Echo context is
// recycled when the handler returns, and the fill may outlive it.
func (c *Cache) filler(ec echo.Context, next echo.HandlerFunc, k kind, q url.Values, raw, user string, perUser bool, cfg HTTPConfig) Fill {
	r0 := ec.Request().Clone(context.WithoutCancel(ec.Request().Context()))
	r0.Method, r0.Body = http.MethodGet, http.NoBody
	r0.URL.RawQuery = raw
	r0.Header.Del("If-None-Match")
	path, names, values := ec.Path(), slices.Clone(ec.ParamNames()), slices.Clone(ec.ParamValues())
	party := ec.Param("id")
	e := ec.Echo()
	var fill Fill
	fill = func(ctx context.Context) (*Entry, bool, error) {
		// The fill is shared by its callers: each gets its own query id,
		// spliced in by write, never stored.
		ctx = events.WithoutAnswer(ctx)
		start, hctx := c.cfg.Now(), ctx
		if at, ok := query.AsOfFrom(ctx); ok {
			// Computed ahead for that instant (Prewarm), with the values
			// of the request that filled the entry (its caller).
			start = at
			hctx = query.WithAsOf(events.WithoutAnswer(r0.Context()), at)
			if dl, ok := ctx.Deadline(); ok {
				var cancel context.CancelFunc
				hctx, cancel = context.WithDeadline(hctx, dl)
				defer cancel()
			}
		}
		rec := &recorder{h: http.Header{}}
		xc := e.NewContext(r0.WithContext(hctx), rec)
		xc.SetPath(path)
		xc.SetParamNames(names...)
		xc.SetParamValues(values...)
		if err := next(xc); err != nil {
			return nil, false, err
		}
		ent := &Entry{Body: rec.b.Bytes(), ContentType: rec.h.Get(echo.HeaderContentType), Status: rec.status, Private: perUser, refill: fill,
			Degraded: rec.h.Get(query.HeaderDegraded)}
		if rec.status != http.StatusOK {
			return ent, false, nil
		}
		deps, list, err := c.deps(ctx, k, q, party, user, perUser, ent.Body, cfg)
		if err != nil {
			return ent, false, nil // answered once, not cached
		}
		ent.Deps = deps
		if k == kSearch || k == kPartyFeed || k == kFollowing || k == kHome {
			ent.list = list
		}
		if k == kDrops {
			ent.Body, ent.drops = stripServerTime(ent.Body)
		}
		b := c.cfg.Boundaries
		switch k {
		case kParties:
			ent.Expires = b.Next(ctx, start, false, "*")
		case kParty:
			ent.Expires = b.Next(ctx, start, false, party)
			ent.Expires = earliest(ent.Expires, start.Add(countsTTL))
		case kPartyFeed:
			ent.Expires = b.Next(ctx, start, true, party)
		default:
			ent.Expires = b.Next(ctx, start, true, "")
		}
		if q.Get("facets") != "" {
			ent.Expires = earliest(ent.Expires, start.Add(countsTTL))
		}
		if ent.Degraded != "" {
			return ent, false, nil // answered under load: never stored
		}
		return ent, true, nil
	}
	return fill
}

// earliest is the earlier of two instants, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// deps are an answer's dependencies: the listings it shows and the tags
// of what could newly qualify for it.
func (c *Cache) deps(ctx context.Context, k kind, q url.Values, party, user string, perUser bool, body []byte, cfg HTTPConfig) ([]string, *listing, error) {
	var deps []string
	switch k {
	case kSearch:
		deps = filterTags(cfg.Canon, q["brand"], q.Get("category"), nil, "")
		if q.Get("sort") == "recently_shared" {
			deps = append(deps, TagEngagement)
		}
	case kPartyFeed:
		deps = []string{PartyTag(party)}
		var theme []string
		var themeCat string
		if cfg.Social != nil {
			p, err := cfg.Social.Party(ctx, party)
			if err != nil {
				return nil, nil, err
			}
			theme, themeCat = p.Theme.Filters.Brands, strings.Join(p.Theme.Filters.Category, "/")
		}
		deps = append(deps, filterTags(cfg.Canon, q["brand"], q.Get("category"), theme, themeCat)...)
	case kParty:
		return []string{PartyTag(party)}, nil, nil
	case kParties:
		return []string{TagParties}, nil, nil
	case kDrops:
		return []string{TagDrops}, nil, nil
	case kFollowing:
		deps = []string{UserTag(user)}
		if cfg.Social == nil {
			deps = append(deps, TagAll)
			break
		}
		closets, err := cfg.Social.Following(ctx, user, time.Time{}, maxFollowTags+1)
		if err != nil {
			return nil, nil, err
		}
		if len(closets) > maxFollowTags {
			deps = append(deps, TagAll)
		} else {
			for _, s := range closets {
				deps = append(deps, SellerTag(s))
			}
		}
	case kHome:
		deps = []string{TagAll, TagEngagement}
		if user != "" {
			deps = append(deps, UserTag(user))
		}
	}
	if perUser && k != kFollowing && k != kHome {
		deps = append(deps, UserTag(user))
	}
	var page struct {
		Total int `json:"total"`
		Hits  []struct {
			ID string `json:"id"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, nil, err
	}
	list := &listing{total: page.Total, ids: make([]string, len(page.Hits))}
	for i, h := range page.Hits {
		deps = append(deps, ListingDep(h.ID))
		list.ids[i] = h.ID
	}
	return compact(deps), list, nil
}

// filterTags are the tags of a listing filter: any listing that could
// enter or leave the answer has one of them in its old or new row. Brand
// values are the most selective, then the category root, else every
// listing change. The theme's restriction (a party) ANDs with the
// request's, so either one's tags suffice: the request's come first.
func filterTags(canon func(string) (string, bool), brands []string, category string, themeBrands []string, themeCategory string) []string {
	bs := brands
	if len(bs) == 0 {
		bs = themeBrands
	}
	if len(bs) > 0 {
		var out []string
		for _, b := range bs {
			for _, v := range strings.Split(b, ",") {
				out = append(out, BrandTag(v))
				if canon != nil {
					if cb, ok := canon(v); ok {
						out = append(out, BrandTag(cb))
					}
				}
			}
		}
		return out
	}
	cat := category
	if cat == "" {
		cat = themeCategory
	}
	if root, _, _ := strings.Cut(cat, "/"); root != "" {
		return []string{CategoryTag(root)}
	}
	return []string{TagAll}
}

// stripServerTime takes /v1/drops' per-request server_time out of the
// cached bytes.
func stripServerTime(body []byte) ([]byte, bool) {
	const marker = `{"server_time":"`
	if !bytes.HasPrefix(body, []byte(marker)) {
		return body, false
	}
	j := bytes.Index(body[len(marker):], []byte(`",`))
	if j < 0 {
		return body, false
	}
	return body[len(marker)+j+2:], true
}

// write answers e: 304 when If-None-Match names its ETag.
func (c *Cache) write(ec echo.Context, e *Entry, now time.Time) error {
	resp := ec.Response()
	h := resp.Header()
	if e.ContentType != "" {
		h.Set(echo.HeaderContentType, e.ContentType)
	}
	if e.Status != 0 && e.Status != http.StatusOK {
		resp.WriteHeader(e.Status)
		_, err := resp.Write(e.Body)
		return err
	}
	if e.Degraded != "" {
		// Not stored, so no content version; no cache in front keeps it.
		h.Set(query.HeaderDegraded, e.Degraded)
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("ETag", e.ETag)
		h.Set("Cache-Control", c.cacheControl(e, now))
	}
	if !e.Private && e.Surrogate != "" && e.Degraded == "" {
		h.Set("Surrogate-Key", e.Surrogate)
	}
	if inm := ec.Request().Header.Get("If-None-Match"); inm != "" && etagMatch(inm, e.ETag) {
		h.Del(echo.HeaderContentType)
		resp.WriteHeader(http.StatusNotModified)
		return nil
	}
	resp.WriteHeader(http.StatusOK)
	if e.list != nil {
		return writeList(ec, e)
	}
	if e.drops {
		b := make([]byte, 0, 64)
		b = append(b, `{"server_time":"`...)
		b = now.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
		if _, err := resp.Write(b); err != nil {
			return err
		}
	}
	_, err := resp.Write(e.Body)
	return err
}

// writeList writes a listing list with the request's own query id (the
// events.Answer the API put on the context) spliced in as its first key,
// and notes the answer for the impression.
func writeList(ec echo.Context, e *Entry) error {
	resp := ec.Response()
	a := events.AnswerFrom(ec.Request().Context())
	if a == nil || len(e.Body) < 2 || e.Body[0] != '{' {
		_, err := resp.Write(e.Body)
		return err
	}
	a.Total, a.IDs, a.Written = e.list.total, e.list.ids, true
	b := make([]byte, 0, len(a.QueryID)+16)
	b = append(b, `{"query_id":`...)
	b = strconv.AppendQuote(b, a.QueryID)
	b = append(b, ',')
	if _, err := resp.Write(b); err != nil {
		return err
	}
	_, err := resp.Write(e.Body[1:])
	return err
}

// cacheControl: per-user answers are private, no-store; anonymous ones
// public with s-maxage and stale-while-revalidate that end, together, no
// later than the entry (its boundary, its stale deadline).
func (c *Cache) cacheControl(e *Entry, now time.Time) string {
	if e.Private {
		return "private, no-store"
	}
	end := e.Expires
	if su := e.staleUntil.Load(); su != 0 && su < end.UnixNano() {
		end = time.Unix(0, su)
	}
	rem := end.Sub(now)
	smax := min(c.cfg.SMaxAge, rem).Truncate(time.Second)
	swr := min(c.cfg.SWR, rem-smax).Truncate(time.Second)
	smax, swr = max(smax, 0), max(swr, 0)
	b := make([]byte, 0, 64)
	b = append(b, "public, max-age=0, s-maxage="...)
	b = strconv.AppendInt(b, int64(smax/time.Second), 10)
	b = append(b, ", stale-while-revalidate="...)
	b = strconv.AppendInt(b, int64(swr/time.Second), 10)
	return string(b)
}

// etagMatch reports whether an If-None-Match list names tag (weak
// comparison, RFC 9110 13.1.2).
func etagMatch(inm, tag string) bool {
	if strings.TrimSpace(inm) == "*" {
		return true
	}
	weak := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(inm, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == weak {
			return true
		}
	}
	return false
}

// recorder is the response writer of a fill.
type recorder struct {
	h      http.Header
	b      bytes.Buffer
	status int
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.b.Write(p)
}
