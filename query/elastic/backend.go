package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/rummage/rummage/query"
)

// Backend is query.Backend on an Elasticsearch 8 cluster. It is safe for
// concurrent use.
type Backend struct {
	es    *elasticsearch.Client
	cfg   Config
	read  string // alias or index searched
	write string // alias or index written
	// requireAlias makes bulk writes fail when write is not an alias.
	requireAlias bool
}

var (
	_ query.Backend       = (*Backend)(nil)
	_ query.CounterWriter = (*Backend)(nil)
)

// New returns a Backend for cfg without talking to the cluster. The
// transport may be nil (the default HTTP transport); tests pass their own.
func New(cfg Config, transport http.RoundTripper) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	esc := elasticsearch.Config{
		Addresses:     cfg.URLs,
		APIKey:        cfg.APIKey,
		Username:      cfg.Username,
		Password:      cfg.Password,
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    max(cfg.MaxRetries, 0),
		DisableRetry:  cfg.MaxRetries < 0,
		RetryBackoff:  backoff,
		Transport:     transport,
	}
	if cfg.CACertFile != "" {
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch CA certificate: %w", err)
		}
		esc.CACert = pem
	}
	es, err := elasticsearch.NewClient(esc)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return &Backend{es: es, cfg: cfg, read: cfg.ReadAlias(), write: cfg.WriteAlias(), requireAlias: true}, nil
}

// Open connects to the cluster, checks that it is Elasticsearch 8 and that
// the credentials work, and makes sure the aliases exist (creating the
// template and a first index on an empty cluster).
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := New(cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	if err := b.EnsureIndex(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// ForIndex returns a Backend that reads and writes the physical index name
// directly, bypassing the aliases: the reindex backfills and catches up a
// new index through it before SwapAliases.
func (b *Backend) ForIndex(name string) *Backend {
	c := *b
	c.read, c.write, c.requireAlias = name, name, false
	return &c
}

// Config returns the config after defaults.
func (b *Backend) Config() Config { return b.cfg }

// backoff waits 100 ms, 200 ms, 400 ms, ... up to 5 s between retries.
func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt-1, 6), 5*time.Second)
}

// Ping checks that the cluster answers, is Elasticsearch 8 or later, and
// accepts the credentials.
func (b *Backend) Ping(ctx context.Context) error {
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if _, err := b.do(ctx, "connect", esapi.InfoRequest{}, &info); err != nil {
		return err
	}
	major, _, _ := strings.Cut(info.Version.Number, ".")
	if n, err := strconv.Atoi(major); err != nil || n < 8 {
		return fmt.Errorf("connect: %w: found Elasticsearch %s, need 8 or later", ErrNotES, info.Version.Number)
	}
	return nil
}

// do runs one request within the request budget, maps failures to short
// errors, decodes a JSON answer into out (when not nil), and always drains
// and closes the body. Statuses listed in accept are not errors.
func (b *Backend) do(ctx context.Context, op string, req esapi.Request, out any, accept ...int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	res, err := req.Do(ctx, b.es)
	if err != nil {
		return 0, transportError(op, b.cfg.URLs, err)
	}
	defer closeBody(res)
	if res.IsError() && !contains(accept, res.StatusCode) {
		return res.StatusCode, responseError(op, res)
	}
	if res.IsError() {
		// an accepted status (a 404 for a missing document) must not hide
		// an error answer (a 404 for a missing index)
		body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if err != nil {
			return res.StatusCode, transportError(op, b.cfg.URLs, err)
		}
		var probe struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &probe) == nil && len(probe.Error) > 0 {
			res.Body = io.NopCloser(bytes.NewReader(body))
			return res.StatusCode, responseError(op, res)
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return res.StatusCode, fmt.Errorf("%s: reading the elasticsearch answer: %w", op, err)
		}
	}
	return res.StatusCode, nil
}

// closeBody drains (a bounded amount of) and closes a response body so that
// the connection can be reused.
func closeBody(res *esapi.Response) {
	if res != nil && res.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		_ = res.Body.Close()
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Close releases the client's idle connections. Backends made by ForIndex
// share the client: close only the one Open or New returned.
func (b *Backend) Close() error { return b.es.Close(context.Background()) }
