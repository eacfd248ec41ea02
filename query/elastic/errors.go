package elastic

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Sentinel errors callers branch on. Errors returned by this package wrap one
// of them when the cause is known, and read as one short sentence.
var (
	ErrUnreachable   = errors.New("elasticsearch is unreachable")
	ErrUnauthorized  = errors.New("elasticsearch rejected the credentials")
	ErrForbidden     = errors.New("elasticsearch denied permission")
	ErrIndexNotFound = errors.New("elasticsearch index not found")
	ErrNotES         = errors.New("the server is not Elasticsearch")
)

// Error is an error response from Elasticsearch: the HTTP status and the
// root cause's type and reason.
type Error struct {
	Op     string // what Rummage was doing, e.g. "search rummage-listings"
	Status int
	Type   string // e.g. index_not_found_exception
	Reason string
	kind   error // one of the sentinels, or nil
}

func (e *Error) Error() string {
	switch e.kind {
	case ErrUnauthorized:
		return fmt.Sprintf("%s: elasticsearch rejected the credentials (HTTP 401): check the API key or username and password", e.Op)
	case ErrForbidden:
		return fmt.Sprintf("%s: elasticsearch denied permission (HTTP 403): the user or API key lacks a privilege: %s", e.Op, e.Reason)
	case ErrIndexNotFound:
		return fmt.Sprintf("%s: index or alias not found (%s); create it with the reindex command or start the indexer once", e.Op, e.Reason)
	}
	if e.Type != "" {
		return fmt.Sprintf("%s: elasticsearch answered HTTP %d: %s: %s", e.Op, e.Status, e.Type, e.Reason)
	}
	return fmt.Sprintf("%s: elasticsearch answered HTTP %d", e.Op, e.Status)
}

// Unwrap lets errors.Is match the sentinel.
func (e *Error) Unwrap() error { return e.kind }

// esErrorBody is the error envelope of Elasticsearch 8.
type esErrorBody struct {
	Error json.RawMessage `json:"error"`
	// Status is also in the body.
	Status int `json:"status"`
}

type esCause struct {
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	RootCause []esCause `json:"root_cause"`
	Index     string    `json:"index"`
}

// responseError reads an error response body (at most 64 KiB) into an *Error.
func responseError(op string, res *esapi.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	e := &Error{Op: op, Status: res.StatusCode}
	var env esErrorBody
	if json.Unmarshal(b, &env) == nil && len(env.Error) > 0 {
		var c esCause
		if json.Unmarshal(env.Error, &c) == nil {
			e.Type, e.Reason = c.Type, c.Reason
			if len(c.RootCause) > 0 && e.Type == "" {
				e.Type, e.Reason = c.RootCause[0].Type, c.RootCause[0].Reason
			}
		} else {
			var s string
			if json.Unmarshal(env.Error, &s) == nil {
				e.Reason = s
			}
		}
	}
	switch {
	case res.StatusCode == 401:
		e.kind = ErrUnauthorized
	case res.StatusCode == 403:
		e.kind = ErrForbidden
	case e.Type == "index_not_found_exception":
		e.kind = ErrIndexNotFound
	}
	return e
}

// transportError maps an error from the HTTP round trip to a short sentence
// wrapping ErrUnreachable, ErrNotES or the context's error.
func transportError(op string, urls []string, err error) error {
	where := strings.Join(urls, ", ")
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: elasticsearch at %s did not answer in time: %w", op, where, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: %w at %s: connection refused (is it running, and is the URL right?)", op, ErrUnreachable, where)
	case errors.As(err, &dns):
		return fmt.Errorf("%s: %w at %s: unknown host %q", op, ErrUnreachable, where, dns.Name)
	case errors.As(err, &ua):
		return fmt.Errorf("%s: %w at %s: its TLS certificate is not trusted; pass the cluster's CA certificate", op, ErrUnreachable, where)
	case errors.As(err, &hn):
		return fmt.Errorf("%s: %w at %s: its TLS certificate is for another host", op, ErrUnreachable, where)
	case strings.Contains(err.Error(), "server is not Elasticsearch"):
		return fmt.Errorf("%s: %w (%s answered without the X-Elastic-Product header)", op, ErrNotES, where)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"),
		strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return fmt.Errorf("%s: %w at %s: it speaks plain HTTP; use an http:// URL", op, ErrUnreachable, where)
	case strings.Contains(err.Error(), "malformed HTTP response"):
		return fmt.Errorf("%s: %w at %s: it speaks HTTPS; use an https:// URL", op, ErrUnreachable, where)
	}
	return fmt.Errorf("%s: %w at %s: %v", op, ErrUnreachable, where, err)
}
