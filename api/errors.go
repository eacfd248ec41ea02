package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"

	"github.com/labstack/echo/v4"

	"github.com/rummage/rummage/query"
)

// Error is an API error: its status and the body every error response
// carries, {"error": {"code", "message", "field"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`

	lag *Lag // CodeCatchingUp: reported beside the error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// errorBody is the JSON envelope of an error response. /readyz's 503 while
// catching up also carries its status and lag, as its 200 does.
type errorBody struct {
	Error  *Error `json:"error"`
	Status string `json:"status,omitempty"`
	Lag    *Lag   `json:"lag,omitempty"`
}

// Stable error codes that are not about one parameter. Parameter errors use
// the codes of query.InvalidError (invalid_limit, invalid_price, ...) and
// ParseSearch's own (unknown_parameter, repeated_parameter, ...).
const (
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeNotReady         = "not_ready"
	CodeShuttingDown     = "shutting_down"
	CodeCatchingUp       = "catching_up"
	CodeTimeout          = "timeout"
	CodeCanceled         = "canceled"
	CodeInternal         = "internal"
	CodeMalformedQuery   = "malformed_query"
)

// statusClientClosed is logged and counted when the client went away before
// the answer (nginx's convention); the client never sees it.
const statusClientClosed = 499

// errClientGone marks a request that failed because its client went away:
// not an error of the service (logged at debug, counted in
// rummage_http_client_disconnects_total).
var errClientGone = errors.New("the client went away")

// clientGone reports whether err comes of the client going away: the
// request's context was canceled (the server's own deadline is another
// context), or writing the answer failed on a connection the client closed.
func clientGone(c echo.Context, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(c.Request().Context().Err(), context.Canceled) {
		return true
	}
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// toError maps any error a handler returns onto the API error model. Errors
// it does not know are internal: their text is logged, not sent.
func toError(err error) (apiErr *Error, internal bool) {
	var (
		ae *Error
		ie *query.InvalidError
		he *echo.HTTPError
	)
	switch {
	case errors.Is(err, errClientGone):
		return &Error{Status: statusClientClosed, Code: CodeCanceled, Message: "the client went away"}, false
	case errors.As(err, &ae):
		return ae, ae.Status >= 500 && ae.Code == CodeInternal
	case errors.As(err, &ie):
		return &Error{Status: http.StatusBadRequest, Code: ie.Code, Message: ie.Message, Field: ie.Field}, false
	case errors.Is(err, query.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "listing not found", Field: "id"}, false
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeTimeout, Message: "the request took too long; try again or narrow the search"}, false
	case errors.Is(err, context.Canceled):
		return &Error{Status: statusClientClosed, Code: CodeCanceled, Message: "the request was canceled"}, false
	case errors.As(err, &he):
		return fromHTTPError(he), he.Code >= 500
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}, true
}

func fromHTTPError(he *echo.HTTPError) *Error {
	e := &Error{Status: he.Code, Message: http.StatusText(he.Code)}
	switch he.Code {
	case http.StatusNotFound:
		e.Code, e.Message = CodeNotFound, "no such route; /openapi.json lists them"
	case http.StatusMethodNotAllowed:
		e.Code, e.Message = CodeMethodNotAllowed, "method not allowed on this route"
	case http.StatusServiceUnavailable:
		e.Code = "unavailable"
	default:
		if he.Code >= 500 {
			e.Code = CodeInternal
		} else {
			e.Code = "http_" + fmt.Sprint(he.Code)
		}
	}
	if m, ok := he.Message.(string); ok && m != "" && he.Code < 500 && he.Code != http.StatusNotFound && he.Code != http.StatusMethodNotAllowed {
		e.Message = m
	}
	if e.Message == "" {
		e.Message = "error"
	}
	return e
}

// handleError replaces Echo's default error handler so that every error, from
// a handler, the router (404, 405) or a middleware, is answered in the JSON
// shape.
func (s *Server) handleError(err error, c echo.Context) {
	ae, internal := toError(err)
	if internal {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("route", routeOf(c, s.routes)), slog.String("request_id", requestID(c)),
			slog.Any("err", err))
	}
	if c.Response().Committed {
		return
	}
	if ae.Status == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", "1")
	}
	status := ae.Status
	if status == statusClientClosed {
		// Nobody is listening; record the status for logs and metrics only.
		c.Response().WriteHeader(status)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	body := errorBody{Error: ae}
	if ae.Code == CodeCatchingUp {
		body.Status, body.Lag = CodeCatchingUp, ae.lag
	}
	if werr := c.JSON(status, body); werr != nil {
		s.log.Debug("writing error response", "err", werr)
	}
}
