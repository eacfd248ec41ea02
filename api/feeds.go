package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
)

// The social surfaces: parties, the following and home feeds, drops
// (package feed). They answer 404 not_configured where the process has no
// signals store (serve of a search-only catalog).

// CodeNotConfigured: the surface needs a signals store the process lacks.
const CodeNotConfigured = "not_configured"

var errNoSocial = &Error{Status: http.StatusNotFound, Code: CodeNotConfigured,
	Message: "this deployment has no social state (parties, feeds, drops): run rummage dev, or serve with a signals store"}

// feeds returns the social surfaces, or why not.
func (s *Server) feeds() (*feed.Feeds, error) {
	b, err := s.loaded()
	if err != nil {
		return nil, err
	}
	if b.feeds == nil {
		return nil, errNoSocial
	}
	return b.feeds, nil
}

// query parses the request's query string for set.
func queryOf(c echo.Context, set *paramSet) (*query.Request, error) {
	v, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeMalformedQuery, Message: "the query string is not valid URL encoding"}
	}
	req, err := parseRequest(v, set)
	if err != nil {
		return nil, err
	}
	degrade(c, req)
	return req, nil
}

// HeaderDegraded names, on an answer, what it gave up under load
// ("personalization, limit, facets"; see query.Degradation). A cache must not store an
// answer that carries it; the answer's body lists the same in "degraded".
const HeaderDegraded = query.HeaderDegraded

const degradedKey = "rummage.degraded"

// degrade applies what the serving layer put on the request's context to
// req: the instant to answer as of (query.WithAsOf), and the degradation,
// noting what it gave up for the answer.
func degrade(c echo.Context, req *query.Request) {
	if t, ok := query.AsOfFrom(c.Request().Context()); ok && req.Now.IsZero() {
		req.Now = t // a pre-computed answer (serve/cache's pre-warm)
	}
	gave := query.DegradationFrom(c.Request().Context()).Apply(req)
	if len(gave) == 0 {
		return
	}
	c.Set(degradedKey, gave)
	c.Response().Header().Set(HeaderDegraded, strings.Join(gave, ", "))
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
}

// degradedOf is what degrade noted (nil: nothing given up).
func degradedOf(c echo.Context) []string {
	gave, _ := c.Get(degradedKey).([]string)
	return gave
}

// page writes a listing list in the shape of /v1/search.
func page(c echo.Context, req *query.Request, res *feed.Page, err error, what string) error {
	if err != nil {
		var ie *query.InvalidError
		switch {
		case errors.As(err, &ie):
			return err
		case errors.Is(err, feed.ErrNotFound):
			return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "id", Message: "party not found"}
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return writePage(c, req, res)
}

// writePage writes res in the shape of /v1/search: empty lists rather than
// null, and every facet asked for present.
func writePage(c echo.Context, req *query.Request, res *feed.Page) error {
	out := searchResponse{Total: res.Total, Hits: res.Hits, Facets: res.Facets, Degraded: degradedOf(c)}
	if out.Hits == nil {
		out.Hits = []feed.Hit{}
	}
	ids := make([]string, len(out.Hits))
	for i := range out.Hits {
		ids[i] = out.Hits[i].ID
	}
	out.QueryID = stampAnswer(c, out.Total, ids)
	if out.Facets == nil {
		out.Facets = map[query.Facet][]query.FacetValue{}
	}
	for _, f := range req.Facets {
		if out.Facets[f] == nil {
			out.Facets[f] = []query.FacetValue{}
		}
	}
	if res.NextCursor != "" {
		out.NextCursor = &res.NextCursor
	}
	if res.Restarted {
		out.Restarted = &res.Restarted
	}
	return c.JSON(http.StatusOK, &out)
}

type partyList struct {
	Parties    []feed.PartyInfo `json:"parties"`
	NextCursor *string          `json:"next_cursor"`
}

func (s *Server) parties(c echo.Context) error {
	v, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeMalformedQuery, Message: "the query string is not valid URL encoding"}
	}
	for name := range v {
		if name != "status" && name != paramLimit && name != paramCursor {
			return bad("unknown_parameter", truncate(name, maxEcho), "unknown parameter %q; use status, limit or cursor", truncate(name, maxEcho))
		}
	}
	req := &feed.PartiesRequest{}
	req.Now, _ = query.AsOfFrom(c.Request().Context())
	for _, raw := range v["status"] {
		for _, st := range strings.Split(raw, ",") {
			switch st = strings.TrimSpace(st); st {
			case "":
			case feed.PartyLive, feed.PartyUpcoming, feed.PartyEnded:
				req.Statuses = append(req.Statuses, st)
			default:
				return bad("invalid_value", "status", "unknown status %q; use live, upcoming or ended", truncate(st, maxEcho))
			}
		}
	}
	if l, err := singleValue(v, paramLimit); err != nil {
		return err
	} else if l != "" {
		if req.Limit, err = parseLimit(l); err != nil {
			return err
		}
	}
	if req.Cursor, err = singleValue(v, paramCursor); err != nil {
		return err
	}
	f, err := s.feeds()
	if err != nil {
		return err
	}
	list, next, err := f.Parties(c.Request().Context(), req)
	if err != nil {
		var ie *query.InvalidError
		if errors.As(err, &ie) {
			return err
		}
		return fmt.Errorf("parties: %w", err)
	}
	out := partyList{Parties: list}
	if next != "" {
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, &out)
}

func (s *Server) party(c echo.Context) error {
	f, err := s.feeds()
	if err != nil {
		return err
	}
	at, _ := query.AsOfFrom(c.Request().Context())
	p, err := f.Party(c.Request().Context(), c.Param("id"), at)
	if errors.Is(err, feed.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "id", Message: fmt.Sprintf("party %q not found", c.Param("id"))}
	}
	if err != nil {
		return fmt.Errorf("party: %w", err)
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) partyFeed(c echo.Context) error {
	req, err := queryOf(c, &partyFeedParams)
	if err != nil {
		return err
	}
	id := c.Param("id")
	return s.feedPage(c, req, "party feed", func(f *feed.Feeds, ctx context.Context, req *query.Request) (*feed.Page, error) {
		return f.PartyFeed(ctx, id, req)
	})
}

func (s *Server) following(c echo.Context) error {
	req, err := queryOf(c, &followingParams)
	if err != nil {
		return err
	}
	if req.User == "" {
		return bad("missing_parameter", paramUser, "the following feed is a shopper's: user is required")
	}
	return s.feedPage(c, req, "following feed", (*feed.Feeds).Following)
}

func (s *Server) home(c echo.Context) error {
	req, err := queryOf(c, &homeParams)
	if err != nil {
		return err
	}
	return s.feedPage(c, req, "home feed", (*feed.Feeds).Home)
}

// feedPage answers a feed surface: get on the configured feeds, written by
// page.
func (s *Server) feedPage(c echo.Context, req *query.Request, what string, get func(*feed.Feeds, context.Context, *query.Request) (*feed.Page, error)) error {
	f, err := s.feeds()
	if err != nil {
		return err
	}
	res, err := get(f, c.Request().Context(), req)
	return page(c, req, res, err, what)
}

// paramlessFeeds returns the feeds for a route that takes no parameters,
// refusing a request that names any.
func (s *Server) paramlessFeeds(c echo.Context, route string) (*feed.Feeds, error) {
	if c.QueryString() != "" {
		return nil, bad("unknown_parameter", "", "%s takes no parameters", route)
	}
	return s.feeds()
}

func (s *Server) drops(c echo.Context) error {
	f, err := s.paramlessFeeds(c, "/v1/drops")
	if err != nil {
		return err
	}
	at, _ := query.AsOfFrom(c.Request().Context()) // zero: the clock
	d, err := f.Drops(c.Request().Context(), at)
	if errors.Is(err, feed.ErrNoDrops) {
		return errNoSocial
	}
	if err != nil {
		return fmt.Errorf("drops: %w", err)
	}
	return c.JSON(http.StatusOK, d)
}
