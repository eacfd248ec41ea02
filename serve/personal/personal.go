package personal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/events"
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
	// Skip, when set and true, answers a personalized first page with the
	// anonymous page instead, marked degraded "personalization" (the
	// serving layer's first degradation step under load,
	// admit.Admission.SkipPersonalization). A walk through the window
	// (a pz1 cursor) keeps to it.
	Skip func() bool
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
			if offset == 0 && cfg.Skip != nil && cfg.Skip() {
				return anonymous(ec, next, q)
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
			defer rec.release()
			if rec.status != http.StatusOK {
				return rec.writeTo(ec)
			}
			body, ids, err := rerank(rec.b.Bytes(), prof, strength, offset, limit)
			if err != nil {
				return err
			}
			if a := events.AnswerFrom(ctx); a != nil {
				a.IDs = ids // the impression records the page as shown
			}
			h := ec.Response().Header()
			h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			h.Set("Cache-Control", "private, no-store")
			if d := rec.h.Get(query.HeaderDegraded); d != "" {
				h.Set(query.HeaderDegraded, d) // the window was degraded
			}
			if r.Method == http.MethodHead {
				ec.Response().WriteHeader(http.StatusOK)
				return nil
			}
			return ec.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
		}
	}, nil
}

// anonymous answers a personalized first page degraded: the anonymous
// answer of the same request, its "degraded" list and the api's
// Rummage-Degraded header naming personalization too, private and not
// to be stored.
func anonymous(ec echo.Context, next echo.HandlerFunc, q url.Values) error {
	rec, err := call(ec, next, q)
	if err != nil {
		return err
	}
	defer rec.release()
	if rec.status != http.StatusOK {
		return rec.writeTo(ec)
	}
	body, gave, err := markDegraded(rec.b.Bytes(), query.DegradedPersonalization)
	if err != nil {
		return err
	}
	h := ec.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set("Cache-Control", "no-store")
	h.Set(query.HeaderDegraded, strings.Join(gave, ", "))
	if ec.Request().Method == http.MethodHead {
		ec.Response().WriteHeader(http.StatusOK)
		return nil
	}
	return ec.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// markDegraded adds what to body's top-level "degraded" list (first: it
// is the first step) and returns the body and the list. In a string value
// a key's quotes are escaped: an occurrence of `"degraded":` is the key.
func markDegraded(body []byte, what string) ([]byte, []string, error) {
	if !bytes.Contains(body, []byte(`"degraded":`)) {
		if len(body) < 2 || body[0] != '{' {
			return nil, nil, errors.New("personal: the anonymous answer is not a JSON object")
		}
		lead := `{"degraded":["` + what + `"]`
		if body[1] != '}' {
			lead += ","
		}
		return append([]byte(lead), body[1:]...), []string{what}, nil
	}
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, nil, err
	}
	var gave []string
	if err := json.Unmarshal(a["degraded"], &gave); err != nil {
		return nil, nil, err
	}
	gave = append([]string{what}, gave...)
	a["degraded"], _ = json.Marshal(gave)
	out, err := json.Marshal(a)
	return out, gave, err
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
	ID         string   `json:"id"`
	Seller     string   `json:"seller_id"`
	Brand      string   `json:"brand"`
	Category   []string `json:"category"`
	Size       string   `json:"size"`
	PriceCents int64    `json:"price_cents"`
}

// window is a window answer parsed once: the other keys as they are
// (pre-encoded), its hits' bytes and features.
type window struct {
	keys  [][]byte // `"name":` of every key but hits and next_cursor, sorted
	vals  []json.RawMessage
	hits  []json.RawMessage
	ids   []string
	feats []ranking.Features
}

func parseWindow(body []byte) (*window, error) {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	w := &window{}
	if err := json.Unmarshal(a["hits"], &w.hits); err != nil {
		return nil, err
	}
	w.feats = make([]ranking.Features, len(w.hits))
	w.ids = make([]string, len(w.hits))
	for i, h := range w.hits {
		var f hitFeatures
		if err := json.Unmarshal(h, &f); err != nil {
			return nil, err
		}
		w.ids[i] = f.ID
		w.feats[i] = ranking.FeaturesOf(f.Brand, strings.Join(f.Category, "/"), f.Size, f.PriceCents, f.Seller)
	}
	names := make([]string, 0, len(a))
	for k := range a {
		if k != "hits" && k != "next_cursor" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		kb, _ := json.Marshal(k)
		w.keys, w.vals = append(w.keys, append(kb, ':')), append(w.vals, a[k])
	}
	return w, nil
}

// windows keeps the windows parsed lately, by their bytes' hash: the
// window of a popular query is one cache entry, parsed once.
type windows struct {
	mu    sync.Mutex
	seed  maphash.Seed
	m     map[uint64]*window
	order []uint64
}

const maxWindows = 512

var parsed = &windows{seed: maphash.MakeSeed(), m: map[uint64]*window{}}

func (ws *windows) get(body []byte) (*window, map[string]json.RawMessage, error) {
	// The window's bytes but its per-fill and per-request keys: next_cursor
	// carries the fill's instant, query_id names the request (spliced in
	// by the cache): two answers of one window differ by them alone, so a
	// window is parsed once per content. In a string value a key's quotes
	// would be escaped: an occurrence of `"name":` is the key.
	own := map[string]json.RawMessage{}
	var cuts [][2]int
	for _, key := range []string{"query_id", "next_cursor"} {
		var span [2]int
		span, own[key] = keySpan(body, key, key == "query_id")
		if span[1] > span[0] {
			cuts = append(cuts, span)
		}
	}
	slices.SortFunc(cuts, func(a, b [2]int) int { return a[0] - b[0] })
	// The hash and, on a miss, the parse see the bytes between the cuts
	// (hashed in place: no copy of a hot window per request).
	var mh maphash.Hash
	mh.SetSeed(ws.seed)
	at := 0
	for _, c := range cuts {
		mh.Write(body[at:c[0]])
		at = c[1]
	}
	mh.Write(body[at:])
	h := mh.Sum64()
	ws.mu.Lock()
	w := ws.m[h]
	ws.mu.Unlock()
	if w != nil {
		return w, own, nil
	}
	rest := make([]byte, 0, len(body))
	at = 0
	for _, c := range cuts {
		rest = append(rest, body[at:c[0]]...)
		at = c[1]
	}
	w, err := parseWindow(append(rest, body[at:]...))
	if err != nil {
		return nil, nil, err
	}
	ws.mu.Lock()
	if _, ok := ws.m[h]; !ok {
		ws.m[h] = w
		ws.order = append(ws.order, h)
		for len(ws.order) > maxWindows {
			delete(ws.m, ws.order[0])
			ws.order = ws.order[1:]
		}
	}
	ws.mu.Unlock()
	return w, own, nil
}

// keySpan finds the top-level key name, whose value is a string without
// commas or null (a cursor, a query id): the span to cut (with its comma)
// and the value (nil when absent). first looks from the start (query_id is
// the answer's first key), else from the end (next_cursor is among its
// last): a window is ~100 KB, and a search from the wrong end (LastIndex
// is Rabin-Karp, no SIMD) was most of a cached re-ranking's CPU.
func keySpan(body []byte, name string, first bool) ([2]int, json.RawMessage) {
	pat := []byte(`"` + name + `":`)
	var i int
	if first {
		i = bytes.Index(body, pat)
	} else {
		i = bytes.LastIndex(body, pat)
	}
	if i < 0 {
		return [2]int{}, nil
	}
	j := i + len(pat)
	k := bytes.IndexAny(body[j:], ",}")
	if k < 0 {
		return [2]int{}, nil
	}
	k += j
	val := json.RawMessage(slices.Clone(body[j:k]))
	if i > 0 && body[i-1] == ',' { // the key's comma goes with it
		i--
	} else if k < len(body) && body[k] == ',' {
		k++
	}
	return [2]int{i, k}, val
}

// rerank personalizes a window answer and cuts the page at offset. Every
// key but hits and next_cursor is the anonymous answer's, as it is
// (total, facets, and what the layers below stamp).
func rerank(body []byte, prof ranking.UserProfile, strength, offset, limit int) ([]byte, []string, error) {
	w, own, err := parsed.get(body)
	if err != nil {
		return nil, nil, err
	}
	order := ranking.Personalize(len(w.hits), func(i int) ranking.Features { return w.feats[i] }, prof, strength)
	end := min(offset+limit, len(order))
	start := min(offset, end)
	next := own["next_cursor"] // the window's own: the anonymous walk after it
	if end < len(order) {
		next, _ = json.Marshal(cursorPrefix + strconv.Itoa(end))
	}
	size := len(next) + 64
	for _, v := range w.vals {
		size += len(v) + 32
	}
	for _, i := range order[start:end] {
		size += len(w.hits[i]) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	if q := own["query_id"]; q != nil {
		out = append(append(append(out, `"query_id":`...), q...), ',')
	}
	for i, k := range w.keys {
		out = append(append(out, k...), w.vals[i]...)
		out = append(out, ',')
	}
	out = append(out, `"hits":[`...)
	for j, i := range order[start:end] {
		if j > 0 {
			out = append(out, ',')
		}
		out = append(out, w.hits[i]...)
	}
	out = append(out, "],"...)
	if next == nil {
		next = json.RawMessage("null")
	}
	out = append(append(out, `"next_cursor":`...), next...)
	ids := make([]string, 0, end-start)
	for _, i := range order[start:end] {
		ids = append(ids, w.ids[i])
	}
	return append(out, '}'), ids, nil
}

// call runs next on a GET of the same route with query q and records its
// answer.
func call(ec echo.Context, next echo.HandlerFunc, q url.Values) (*recorder, error) {
	r := ec.Request().Clone(ec.Request().Context())
	r.Method, r.Body = http.MethodGet, http.NoBody
	r.URL.RawQuery = q.Encode()
	r.Header.Del("If-None-Match")
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	if b, ok := bufs.Get().(*bytes.Buffer); ok {
		rec.b = *b // a window's worth of capacity: no regrowth per request
	}
	xc := ec.Echo().NewContext(r, rec)
	xc.SetPath(ec.Path())
	xc.SetParamNames(ec.ParamNames()...)
	xc.SetParamValues(ec.ParamValues()...)
	if err := next(xc); err != nil {
		return nil, err
	}
	return rec, nil
}

// bufs recycles the recorders' buffers (a window is ~100 KB).
var bufs sync.Pool

// release returns the recorder's buffer to bufs; the recorder is not
// used after.
func (r *recorder) release() {
	b := r.b
	b.Reset()
	bufs.Put(&b)
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
