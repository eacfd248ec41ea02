package redisstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures a Store.
type Config struct {
	// URL is the Redis to use (redis://[user:password@]host:port/db);
	// default redis://127.0.0.1:6379/0.
	URL string
	// Prefix starts every key (inside its hash tag), so that several
	// deployments or tests share one Redis; default "rummage".
	Prefix string
	// TrendingHalfLife is the half-life of the decayed engagement sums
	// kept on write (see TopEngaged); default 1h (the feed's trending
	// half-life, ranking.TrendingHalfLife). Changing it needs a rebuild.
	TrendingHalfLife time.Duration
}

// Defaults.
const (
	DefaultURL    = "redis://127.0.0.1:6379/0"
	DefaultPrefix = "rummage"
)

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.TrendingHalfLife == 0 {
		c.TrendingHalfLife = time.Hour
	}
	return c
}

// Validate checks the configuration with its defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, err := redis.ParseURL(c.URL); err != nil {
		return fmt.Errorf("redisstore: url: %w", err)
	}
	if strings.ContainsAny(c.Prefix, "{}:\x00 ") {
		return errors.New("redisstore: prefix must not contain braces, colons, spaces or NUL")
	}
	if c.TrendingHalfLife < time.Millisecond {
		return fmt.Errorf("redisstore: trending half-life %v: at least 1ms", c.TrendingHalfLife)
	}
	return nil
}
