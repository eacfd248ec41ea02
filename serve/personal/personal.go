package personal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/ranking"
)

// Config configures the middleware.
type Config struct {
	// Profile returns a user's profile at now (feed.Feeds.Profile).
	Profile func(ctx context.Context, user string, now time.Time) (ranking.UserProfile, error)
	// Strength returns a user's strength, 0–100 (experiments.Set.Strength).
	Strength func(user string) int
	// Window is how many anonymous candidates are re-ranked (default and
	// at most query.MaxLimit).
	Window int
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Validate reports a configuration the middleware cannot run.
func (c Config) Validate() error {
	switch {
	case c.Profile == nil || c.Strength == nil:
		return errors.New("personal: Profile and Strength are required")
	case c.Window < 0 || c.Window > query.MaxLimit:
		return errors.New("personal: window must be within 0..query.MaxLimit")
	}
	return nil
}

// cursorPrefix marks the cursors of a walk through the window.
const cursorPrefix = "pz1."

// Middleware personalizes GET /v1/search (see the package comment). Mount
// it outside the cache.
func Middleware(cfg Config) (echo.MiddlewareFunc, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Window == 0 {
		cfg.Window = query.MaxLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(ec echo.Context) error {
			r := ec.Request()
			if ec.Path() != "/v1/search" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
				return next(ec)
			}
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				return next(ec)
			}
			offset, ok := plan(q, cfg.Window)
			if !ok {
				return next(ec)
			}
			user := q.Get("user")
			strength := cfg.Strength(user)
			if strength <= 0 {
				return next(ec)
			}
			ctx := r.Context()
			prof, err := cfg.Profile(ctx, user, cfg.Now())
			if err != nil {
				return err
			}
			if prof.Empty() && offset == 0 {
				return next(ec) // a walk's later pages keep to the window
			}
			limit := query.DefaultLimit
			if s := q.Get("limit"); s != "" {
				limit, _ = strconv.Atoi(s) // plan checked it
			}
			// The anonymous window: the same request, its first Window.
			inner := cloneValues(q)
			inner.Del("cursor")
			inner.Set("limit", strconv.Itoa(cfg.Window))
			rec, err := call(ec, next, inner)
			if err != nil {
				return err
			}
			if rec.status != http.StatusOK {
				return rec.writeTo(ec)
			}
			body, err := rerank(rec.b.Bytes(), prof, strength, offset, limit)
			if err != nil {
				return err
			}
			h := ec.Response().Header()
			h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			h.Set("Cache-Control", "private, no-store")
			if r.Method == http.MethodHead {
				ec.Response().WriteHeader(http.StatusOK)
				return nil
			}
			return ec.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
		}
	}, nil
}

// plan says whether q is a request to personalize and where in the window
// it starts: a relevance search (sort=relevance, or none with a text
// query), a user, a valid limit, and no cursor or one of a window walk.
func plan(q url.Values, window int) (offset int, ok bool) {
	if q.Get("user") == "" || len(q["user"]) > 1 || len(q["cursor"]) > 1 || len(q["limit"]) > 1 || len(q["sort"]) > 1 {
		return 0, false
	}
	req := query.Request{Query: q.Get("q"), Sort: query.Sort(q.Get("sort"))}
	if req.EffectiveSort() != query.SortRelevance {
		return 0, false
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > query.MaxLimit {
			return 0, false // the route answers the 400
		}
	}
	c := q.Get("cursor")
	if c == "" {
		return 0, true
	}
	if !strings.HasPrefix(c, cursorPrefix) {
		return 0, false // past the window: the anonymous walk
	}
	n, err := strconv.Atoi(c[len(cursorPrefix):])
	if err != nil || n <= 0 || n >= window {
		return 0, false // the route answers the bad cursor
	}
	return n, true
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// hitFeatures are the fields of a hit the profile scores.
type hitFeatures struct {
	Seller     string   `json:"seller_id"`
	Brand      string   `json:"brand"`
	Category   []string `json:"category"`
	Size       string   `json:"size"`
	PriceCents int64    `json:"price_cents"`
}

// rerank personalizes a window answer and cuts the page at offset.
func rerank(body []byte, prof ranking.UserProfile, strength, offset, limit int) ([]byte, error) {
	// Every key but hits and next_cursor is the anonymous answer's, as it
	// is (total, facets, and what the layers below stamp).
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	var hits []json.RawMessage
	if err := json.Unmarshal(a["hits"], &hits); err != nil {
		return nil, err
	}
	feats := make([]ranking.Features, len(hits))
	for i, h := range hits {
		var f hitFeatures
		if err := json.Unmarshal(h, &f); err != nil {
			return nil, err
		}
		feats[i] = ranking.FeaturesOf(f.Brand, strings.Join(f.Category, "/"), f.Size, f.PriceCents, f.Seller)
	}
	order := ranking.Personalize(len(hits), func(i int) ranking.Features { return feats[i] }, prof, strength)
	end := min(offset+limit, len(order))
	start := min(offset, end)
	page := make([]json.RawMessage, 0, end-start)
	for _, i := range order[start:end] {
		page = append(page, hits[i])
	}
	var err error
	if a["hits"], err = json.Marshal(page); err != nil {
		return nil, err
	}
	if end < len(order) { // else the window's own: the anonymous walk after it
		a["next_cursor"], _ = json.Marshal(cursorPrefix + strconv.Itoa(end))
	}
	return json.Marshal(a)
}

// call runs next on a GET of the same route with query q and records its
// answer.
func call(ec echo.Context, next echo.HandlerFunc, q url.Values) (*recorder, error) {
	r := ec.Request().Clone(ec.Request().Context())
	r.Method, r.Body = http.MethodGet, http.NoBody
	r.URL.RawQuery = q.Encode()
	r.Header.Del("If-None-Match")
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	xc := ec.Echo().NewContext(r, rec)
	xc.SetPath(ec.Path())
	xc.SetParamNames(ec.ParamNames()...)
	xc.SetParamValues(ec.ParamValues()...)
	if err := next(xc); err != nil {
		return nil, err
	}
	return rec, nil
}

// recorder is an http.ResponseWriter that keeps the answer.
type recorder struct {
	h      http.Header
	b      bytes.Buffer
	status int
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.b.Write(p)
}

// writeTo passes a recorded non-200 answer on as it is.
func (r *recorder) writeTo(ec echo.Context) error {
	for k, v := range r.h {
		ec.Response().Header()[k] = v
	}
	ec.Response().WriteHeader(r.status)
	_, err := ec.Response().Write(r.b.Bytes())
	return err
}
