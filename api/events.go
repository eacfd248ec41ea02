package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/events"
)

// EventSink is where the API sends analytics events; *events.Producer
// satisfies it. Users are pseudonymous by then (the API pseudonymizes).
type EventSink interface {
	// Publish returns once every event is stored (acks=all).
	Publish(ctx context.Context, evs []events.Event) error
	// Impression queues an impression; it must not block (it may drop).
	Impression(e events.Event)
}

// VariantFunc stamps the experiment variant of user (raw id, "" for
// anonymous) on e, an impression or a client event, before it leaves the
// API: the experiments of package personalization implement it.
type VariantFunc func(ctx context.Context, user string, e *events.Event)

// WithEvents records analytics: POST /v1/events writes to sink, and every
// listing list records an impression there; p pseudonymizes the user ids.
// Without it POST /v1/events answers 404 not_configured and no impression
// is recorded (lists still carry a query_id).
func WithEvents(sink EventSink, p *events.Pseudonymizer) Option {
	return func(o *options) { o.events, o.pseudo = sink, p }
}

// WithVariants stamps experiment variants on impressions and events.
func WithVariants(f VariantFunc) Option { return func(o *options) { o.variants = f } }

// Error codes of POST /v1/events.
const (
	CodeBodyTooLarge      = "body_too_large"     // 413
	CodeMalformedBody     = "malformed_body"     // 400
	CodeTooManyEvents     = "too_many_events"    // 400
	CodeEventsUnavailable = "events_unavailable" // 503: the topic did not acknowledge
)

var errNoEvents = &Error{Status: http.StatusNotFound, Code: CodeNotConfigured,
	Message: "this deployment records no events: run rummage dev, or serve with --events-brokers"}

type eventsAnswer struct {
	Accepted int                `json:"accepted"`
	Rejected []events.Rejection `json:"rejected"`
}

// postEvents is POST /v1/events: parse and validate (package events),
// check the users the caller may speak for, pseudonymize, write to the
// topic, answer 202 once it acknowledged.
func (s *Server) postEvents(c echo.Context) error {
	if s.events == nil {
		return errNoEvents
	}
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, events.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
				Message: "the body is over " + strconv.Itoa(events.MaxBody>>10) + " KB; send at most " + strconv.Itoa(events.MaxBatch) + " events per request"}
		}
		return err
	}
	now := time.Now()
	b, err := events.ParseBatch(body, events.MaxBatch, now)
	switch {
	case errors.Is(err, events.ErrTooMany):
		return &Error{Status: http.StatusBadRequest, Code: CodeTooManyEvents, Field: "events", Message: err.Error()}
	case err != nil:
		return &Error{Status: http.StatusBadRequest, Code: CodeMalformedBody, Message: err.Error()}
	}
	caller, _ := CallerFrom(r.Context())
	trusted := map[string]error{}
	for i := range b.Events {
		e := &b.Events[i]
		if e.User != "" && caller.Key != nil {
			terr, seen := trusted[e.User]
			if !seen {
				if ae := s.cfg.Auth.trustUser(r, *caller.Key, e.User); ae != nil {
					terr = errors.New(ae.Message)
				}
				trusted[e.User] = terr
			}
			if terr != nil {
				b.Reject(i, terr)
				continue
			}
		}
		raw := e.User
		e.User = s.pseudo.Of(raw)
		if s.variants != nil {
			s.variants(r.Context(), raw, e)
		}
	}
	b.Compact()
	if err := s.events.Publish(r.Context(), b.Events); err != nil {
		if r.Context().Err() != nil {
			return err
		}
		s.log.Warn("events not acknowledged", "events", len(b.Events), "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeEventsUnavailable, Message: "the events could not be stored; send the batch again"}
	}
	out := eventsAnswer{Accepted: len(b.Events), Rejected: b.Rejected}
	if out.Rejected == nil {
		out.Rejected = []events.Rejection{}
	}
	return c.JSON(http.StatusAccepted, &out)
}

// surfaces are the listing lists: their impression's surface.
var surfaces = map[string]string{
	"/v1/search":           "search",
	"/v1/parties/:id/feed": "party",
	"/v1/feed/following":   "following",
	"/v1/feed":             "home",
}

// newQueryID returns a query id unique across replicas: the process's
// random base and a sequence.
func (s *Server) newQueryID() string {
	return "q" + s.reqBase + strconv.FormatUint(s.qSeq.Add(1), 36)
}

// impressions gives every listing list a query id and, when events are
// recorded, records its impression: whoever writes the list (the handler,
// or the response cache inside this middleware) fills the events.Answer
// on the context. It runs outside the cache, so a hit is recorded too.
func (s *Server) impressions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		surface, ok := surfaces[c.Path()]
		r := c.Request()
		if !ok || r.Method != http.MethodGet {
			return next(c)
		}
		start := time.Now()
		a := &events.Answer{QueryID: s.newQueryID()}
		c.SetRequest(r.WithContext(events.WithAnswer(r.Context(), a)))
		err := next(c)
		if err != nil || !a.Written || s.events == nil {
			return err
		}
		v, _ := url.ParseQuery(r.URL.RawQuery)
		caller, _ := CallerFrom(r.Context())
		user := caller.User
		e := events.Event{Type: events.Impression, User: s.pseudo.Of(user), QueryID: a.QueryID, Surface: surface,
			At: start.UTC(), Query: events.NormalizeQuery(v.Get("q")), Filters: events.Filters(v), Total: a.Total,
			IDs: a.IDs, LatencyUS: time.Since(start).Microseconds(), Cached: a.Cached}
		if surface == "party" {
			e.PartyID = c.Param("id")
		}
		if s.variants != nil {
			s.variants(r.Context(), user, &e)
		}
		s.events.Impression(e)
		return nil
	}
}

// stampAnswer notes a list the handler writes on the context's answer and
// returns the query id to write in it ("" inside a cache fill).
func stampAnswer(c echo.Context, total int, ids []string) string {
	a := events.AnswerFrom(c.Request().Context())
	if a == nil {
		return ""
	}
	a.Total, a.IDs, a.Written = total, ids, true
	return a.QueryID
}

// WithForgetting answers POST /v1/users/{id}/forget (admin key) with f:
// the user's signals, profile, experiment assignment, cached answers and
// rollup rows go. Without it the route answers 404 not_configured.
func WithForgetting(f *events.Forgetting) Option { return func(o *options) { o.forget = f } }

type forgetAnswer struct {
	User      string         `json:"user"`
	Forgotten map[string]int `json:"forgotten"`
}

func (s *Server) forgetUser(c echo.Context) error {
	if s.forget == nil {
		return &Error{Status: http.StatusNotFound, Code: CodeNotConfigured, Message: "this process cannot forget users: run it where the signals store and the analytics are (rummage dev)"}
	}
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil || id == "" || len(id) > 128 {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_value", Field: "id", Message: "the user id must be 1 to 128 bytes of valid URL encoding"}
	}
	n, err := s.forget.Forget(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("forget user: %w", err)
	}
	return c.JSON(http.StatusOK, forgetAnswer{User: id, Forgotten: n})
}
