package api

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/rummage/rummage/experiments"
	"github.com/rummage/rummage/feed"
	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/signals"
)

// Config tunes the server. The zero value of a field means its default (see
// DefaultConfig).
type Config struct {
	// RequestTimeout bounds one request: its context gets this deadline, and
	// a handler that runs out of it answers 503 with code "timeout".
	RequestTimeout time.Duration
	// ReadHeaderTimeout bounds reading the request headers (slowloris).
	ReadHeaderTimeout time.Duration
	// WriteTimeout bounds the whole exchange at the connection level; it must
	// be above RequestTimeout so the JSON timeout error can still be sent.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long Serve waits for in-flight requests after
	// its context is done, before it closes the remaining connections.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int

	// Cursors signs the cursors of every surface; nil means a random key of
	// this process (cursors then do not survive a restart nor cross
	// replicas: configure a shared key for those).
	Cursors *feed.Cursors
	// Aliases resolve brand shorthand in the brand filter.
	Aliases query.Aliases
	// Signals is the social state the parties, feeds and drops answer
	// from; nil serves search only (those routes answer 404
	// not_configured).
	Signals signals.Reader
	// Feeds tunes those surfaces (its Search part is the server's);
	// Feeds.Personal turns personalization of search and the home feed on.
	Feeds feed.Config
	// Experiments are the running ranking experiments: their Stamp(user)
	// is the Variant of a user's impressions, their CacheKey(user) what a
	// cache key adds (nil: none).
	Experiments *experiments.Set
	// Auth is who may call which route (api/access.go). The zero value
	// admits no key and no read without one.
	Auth Auth
	// CORSOrigins are the origins whose pages may call the API from a
	// browser (CORS): "*" or scheme://host[:port] each, "*." leading a
	// host for its subdomains. Empty (the default): same origin only.
	CORSOrigins []string
}

// DefaultConfig returns the defaults: 5 s per request, 10 s to drain on
// shutdown.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:    5 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.RequestTimeout = cmp.Or(c.RequestTimeout, d.RequestTimeout)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	if c.WriteTimeout == 0 {
		c.WriteTimeout = max(d.WriteTimeout, c.RequestTimeout+5*time.Second)
	}
	c.IdleTimeout = cmp.Or(c.IdleTimeout, d.IdleTimeout)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, d.ShutdownTimeout)
	c.MaxHeaderBytes = cmp.Or(c.MaxHeaderBytes, d.MaxHeaderBytes)
	return c
}

// Validate reports a configuration the server cannot run with. Zero fields
// are valid: they take their defaults.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"request timeout", c.RequestTimeout},
		{"read header timeout", c.ReadHeaderTimeout},
		{"write timeout", c.WriteTimeout},
		{"idle timeout", c.IdleTimeout},
		{"shutdown timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("api: %s must not be negative, got %v", d.name, d.v))
		}
	}
	for _, o := range c.CORSOrigins {
		if err := validateOrigin(o); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("api: max header bytes must not be negative, got %d", c.MaxHeaderBytes))
	}
	if len(errs) == 0 {
		w := c.withDefaults()
		if w.WriteTimeout <= w.RequestTimeout {
			errs = append(errs, fmt.Errorf("api: write timeout (%v) must be above the request timeout (%v)", w.WriteTimeout, w.RequestTimeout))
		}
	}
	return errors.Join(errs...)
}
