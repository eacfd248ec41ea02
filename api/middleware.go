package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

const headerRequestID = "X-Request-Id"

// unmatchedRoute labels requests that matched no route, so that scanners
// probing random paths cannot blow up the metrics' label cardinality.
const unmatchedRoute = "unmatched"

// routeOf is the route pattern of a request ("/v1/listings/:id"), or
// unmatchedRoute.
func routeOf(c echo.Context, routes map[string]bool) string {
	if p := c.Path(); routes[p] {
		return p
	}
	return unmatchedRoute
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(headerRequestID)
}

func newRequestIDBase() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// validRequestID accepts a client's id if it is short, printable ASCII.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// observe is the outermost middleware: request id, in-flight gauge, latency
// histogram and the request log. It turns a returned error into its response
// here (rather than after the chain, Echo's default) so that the status it
// records is the one the client gets.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Request().Header.Get(headerRequestID)
		if !validRequestID(id) {
			id = s.reqBase + strconv.FormatUint(s.reqSeq.Add(1), 10)
		}
		c.Response().Header().Set(headerRequestID, id)

		s.metrics.inFlight.Inc()
		err := next(c)
		gone := clientGone(c, err)
		if gone {
			s.metrics.disconnects.Inc()
			err = fmt.Errorf("%w: %w", errClientGone, err)
		}
		if err != nil {
			c.Error(err)
		}
		s.metrics.inFlight.Dec()

		dur := time.Since(start)
		route := routeOf(c, s.routes)
		status := c.Response().Status
		if gone {
			status = statusClientClosed // also when the answer had begun
		}
		s.metrics.latency.WithLabelValues(route, strconv.Itoa(status)).Observe(dur.Seconds())

		level := slog.LevelDebug
		if status >= 500 && status != statusClientClosed && !expectedUnavailable(err) {
			level = slog.LevelWarn
		}
		ctx := c.Request().Context()
		if !s.log.Enabled(ctx, level) {
			return nil
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request().Method),
			slog.String("route", route),
			slog.String("uri", truncate(c.Request().RequestURI, 512)),
			slog.Int("status", status),
			slog.Duration("dur", dur),
			slog.Int64("bytes", c.Response().Size),
			slog.String("request_id", id),
		}
		if err != nil && level > slog.LevelDebug {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		s.log.LogAttrs(ctx, level, "request", attrs...)
		return nil
	}
}

// expectedUnavailable reports the 503s of a healthy server (still loading,
// shutting down), which are not worth a warning.
func expectedUnavailable(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && (ae.Code == CodeNotReady || ae.Code == CodeShuttingDown || ae.Code == CodeCatchingUp)
}

// recover turns a panic in a handler into a 500 JSON answer and an error
// log with the stack. http.ErrAbortHandler is re-raised: it is net/http's
// way to abort a response on purpose.
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
				panic(r)
			}
			s.log.LogAttrs(c.Request().Context(), slog.LevelError, "panic in handler",
				slog.String("route", routeOf(c, s.routes)),
				slog.String("request_id", requestID(c)),
				slog.String("panic", fmt.Sprint(r)),
				slog.String("stack", string(debug.Stack())))
			err = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
		}()
		return next(c)
	}
}

// timeout gives the request context the configured deadline. Backends honour
// ctx; when the deadline passes, their context.DeadlineExceeded error is
// answered as 503 "timeout" by the error handler.
func (s *Server) timeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx, cancel := context.WithTimeout(req.Context(), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(req.WithContext(ctx))
		defer c.SetRequest(req) // also on a panic: the client's context is the one to judge
		err := next(c)
		if err != nil && errors.Is(err, context.Canceled) && req.Context().Err() == nil && ctx.Err() == context.DeadlineExceeded {
			// A backend that reports its own cancellation after our deadline.
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return err
	}
}
