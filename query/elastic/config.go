package elastic

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/rummage/rummage/query"
)

// Refresh policies for Apply (the bulk API's refresh parameter).
const (
	RefreshFalse   = "false"    // visible after the next periodic refresh (default)
	RefreshTrue    = "true"     // refresh the touched shards at once (tests, small loads)
	RefreshWaitFor = "wait_for" // Apply returns once the writes are searchable
)

// Config is how to reach the cluster and name the indices.
type Config struct {
	// URLs of cluster nodes, e.g. http://localhost:9200. At least one.
	URLs []string
	// APIKey is the base64 "id:key" API key; it takes precedence over
	// Username/Password.
	APIKey   string
	Username string
	Password string
	// CACertFile is a PEM file with the certificate authority of the
	// cluster's HTTPS certificate (Elasticsearch 8 creates one at install).
	CACertFile string

	// IndexPrefix names the indices: physical indices are <prefix>-vNNNNNN,
	// the read alias is <prefix> and the write alias <prefix>-write.
	IndexPrefix string
	// Refresh is the bulk refresh policy: "false", "true" or "wait_for".
	Refresh string

	// RequestTimeout bounds one search, get, count or admin call, including
	// the client's retries. BulkTimeout bounds one Apply.
	RequestTimeout time.Duration
	BulkTimeout    time.Duration
	// MaxRetries is how often a request (and a rejected bulk item) is retried
	// on 429/502/503/504 and network errors. -1 disables retries.
	MaxRetries int
	// BulkWorkers is the number of concurrent bulk requests per Apply, and
	// FlushBytes the size of one bulk request.
	BulkWorkers int
	FlushBytes  int

	// Shards and Replicas of a new index; 0 Replicas means auto: 0 on a
	// single node, 1 as soon as there is a second.
	Shards   int
	Replicas int
	// GCDeletes is how long a deleted document's version is remembered, so
	// that an older replayed upsert cannot bring it back (index.gc_deletes).
	GCDeletes time.Duration

	// Aliases expand brand shorthand in queries: a query word that is an
	// alias also matches that brand exactly. Nil expands none; the caller
	// loads them (cmd/rummage: --aliases FILE or the shipped
	// fixtures.BrandAliases), as for the embedded backend.
	Aliases query.Aliases
	// RelevanceWindow is how many hits a relevance retrieval fetches by
	// text score for the first ranking phase to order in Go (at most
	// query.MaxCandidates).
	RelevanceWindow int
	// MaxTermsCount is the cluster's index.max_terms_count: a restriction
	// to more sellers or ids is split into several terms clauses.
	MaxTermsCount int
}

// Defaults.
const (
	DefaultURL            = "http://localhost:9200"
	DefaultIndexPrefix    = "rummage-listings"
	DefaultRequestTimeout = 10 * time.Second
	DefaultBulkTimeout    = 2 * time.Minute
	DefaultMaxRetries     = 3
	DefaultBulkWorkers    = 2
	DefaultFlushBytes     = 5 << 20
	DefaultGCDeletes      = 24 * time.Hour
	DefaultMaxTermsCount  = 65536 // Elasticsearch's own default
)

// DefaultConfig returns a config for a local, unsecured cluster.
func DefaultConfig() Config {
	return Config{
		URLs:            []string{DefaultURL},
		IndexPrefix:     DefaultIndexPrefix,
		Refresh:         RefreshFalse,
		RequestTimeout:  DefaultRequestTimeout,
		BulkTimeout:     DefaultBulkTimeout,
		MaxRetries:      DefaultMaxRetries,
		BulkWorkers:     DefaultBulkWorkers,
		FlushBytes:      DefaultFlushBytes,
		Shards:          1,
		GCDeletes:       DefaultGCDeletes,
		RelevanceWindow: query.MaxCandidates,
		MaxTermsCount:   DefaultMaxTermsCount,
	}
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.URLs) == 0 {
		c.URLs = d.URLs
	}
	c.IndexPrefix = cmp.Or(c.IndexPrefix, d.IndexPrefix)
	c.Refresh = cmp.Or(c.Refresh, d.Refresh)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, d.RequestTimeout)
	c.BulkTimeout = cmp.Or(c.BulkTimeout, d.BulkTimeout)
	c.MaxRetries = cmp.Or(c.MaxRetries, d.MaxRetries)
	c.BulkWorkers = cmp.Or(c.BulkWorkers, d.BulkWorkers)
	c.FlushBytes = cmp.Or(c.FlushBytes, d.FlushBytes)
	c.RelevanceWindow = cmp.Or(c.RelevanceWindow, d.RelevanceWindow)
	c.MaxTermsCount = cmp.Or(c.MaxTermsCount, d.MaxTermsCount)
	c.Shards = cmp.Or(c.Shards, d.Shards)
	c.GCDeletes = cmp.Or(c.GCDeletes, d.GCDeletes)
	return c
}

// Index names: lowercase, no leading '-', '_' or '+', none of \/*?"<>| , #
// or spaces; kept to a safe subset here.
var prefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,200}$`)

// Validate checks the config after defaults and returns an error naming the
// first bad setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("elasticsearch url %q: want http(s)://host:port", u)
		}
	}
	if c.RelevanceWindow < 1 || c.RelevanceWindow > query.MaxCandidates {
		return fmt.Errorf("elasticsearch: relevance window %d; want 1..%d", c.RelevanceWindow, query.MaxCandidates)
	}
	if c.MaxTermsCount < 1 {
		return fmt.Errorf("elasticsearch: max terms count %d; want at least 1", c.MaxTermsCount)
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("elasticsearch: set both username and password, or neither")
	}
	if c.APIKey != "" && c.Username != "" {
		return errors.New("elasticsearch: set an API key or a username/password, not both")
	}
	if !prefixRE.MatchString(c.IndexPrefix) {
		return fmt.Errorf("elasticsearch index prefix %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", c.IndexPrefix)
	}
	switch c.Refresh {
	case RefreshFalse, RefreshTrue, RefreshWaitFor:
	default:
		return fmt.Errorf("elasticsearch refresh %q: use false, true or wait_for", c.Refresh)
	}
	if c.RequestTimeout < 0 || c.BulkTimeout < 0 {
		return errors.New("elasticsearch: timeouts must be positive")
	}
	if c.MaxRetries < -1 || c.BulkWorkers < 0 || c.FlushBytes < 0 || c.Shards < 0 || c.Replicas < 0 {
		return errors.New("elasticsearch: retries, workers, flush bytes, shards and replicas must not be negative")
	}
	if c.GCDeletes < 0 {
		return errors.New("elasticsearch: gc_deletes must not be negative")
	}
	return nil
}

// ReadAlias is the alias searches read through.
func (c Config) ReadAlias() string { return c.withDefaults().IndexPrefix }

// WriteAlias is the alias Apply writes through.
func (c Config) WriteAlias() string { return c.withDefaults().IndexPrefix + "-write" }

// IndexName is the physical index of version n.
func (c Config) IndexName(n int) string {
	return fmt.Sprintf("%s-v%06d", c.withDefaults().IndexPrefix, n)
}

// TemplateName is the name of the index template.
func (c Config) TemplateName() string { return c.withDefaults().IndexPrefix }
