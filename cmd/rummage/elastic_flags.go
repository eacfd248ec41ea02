package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rummage/rummage/query"
	"github.com/rummage/rummage/query/elastic"
)

// Backend kind of --backend for an Elasticsearch 8 cluster.
const backendElasticsearch = "elasticsearch"

// elasticFlags are the --es-* flags of --backend elasticsearch. Secrets may
// come from the environment instead of the command line (where ps shows
// them): ELASTICSEARCH_API_KEY and ELASTICSEARCH_PASSWORD are the defaults of
// --es-api-key and --es-password.
type elasticFlags struct {
	urls     string
	apiKey   string
	username string
	password string
	caCert   string
	prefix   string
	refresh  string
	timeout  time.Duration
}

func addElasticFlags(fs *flag.FlagSet) *elasticFlags {
	e := &elasticFlags{}
	fs.StringVar(&e.urls, "es-url", envOr("ELASTICSEARCH_URL", elastic.DefaultURL), "Elasticsearch node `URLs`, comma-separated (with --backend elasticsearch); default $ELASTICSEARCH_URL")
	fs.StringVar(&e.apiKey, "es-api-key", os.Getenv("ELASTICSEARCH_API_KEY"), "Elasticsearch API `key` (base64 id:key); default $ELASTICSEARCH_API_KEY")
	fs.StringVar(&e.username, "es-username", os.Getenv("ELASTICSEARCH_USERNAME"), "Elasticsearch `user` for basic authentication; default $ELASTICSEARCH_USERNAME")
	fs.StringVar(&e.password, "es-password", os.Getenv("ELASTICSEARCH_PASSWORD"), "Elasticsearch `password`; default $ELASTICSEARCH_PASSWORD")
	fs.StringVar(&e.caCert, "es-ca-cert", "", "PEM `file` of the CA that signed the cluster's HTTPS certificate")
	fs.StringVar(&e.prefix, "es-index-prefix", elastic.DefaultIndexPrefix, "index `prefix`: indices <prefix>-vNNNNNN behind the read alias <prefix> and the write alias <prefix>-write")
	fs.StringVar(&e.refresh, "es-refresh", "", "bulk refresh `policy`: false (periodic refresh), true, or wait_for (writes searchable when acknowledged); default wait_for for the indexer, whose cache invalidations must not overtake the writes they are about, false elsewhere")
	fs.DurationVar(&e.timeout, "es-timeout", elastic.DefaultRequestTimeout, "budget of one Elasticsearch search or admin request")
	return e
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// config returns the backend config.
func (e *elasticFlags) config(aliases query.Aliases) elastic.Config {
	var urls []string
	for _, u := range strings.Split(e.urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return elastic.Config{
		URLs:           urls,
		APIKey:         e.apiKey,
		Username:       e.username,
		Password:       e.password,
		CACertFile:     e.caCert,
		IndexPrefix:    e.prefix,
		Refresh:        e.refresh,
		RequestTimeout: e.timeout,
		Aliases:        aliases,
	}
}

func (e *elasticFlags) validate() error { return e.config(nil).Validate() }

// invalidating sets the default refresh policy of a process that
// publishes cache invalidations after each applied batch: wait_for, so
// that no replica refills an entry from a shard that has not refreshed
// yet and keeps the old answer until the next change (issue 10: "with
// Elasticsearch, invalidate only after the write is searchable"). An
// explicit --es-refresh wins.
func (e *elasticFlags) invalidating() {
	if e.refresh == "" {
		e.refresh = elastic.RefreshWaitFor
	}
}

// open connects, checks the cluster and the credentials, and makes sure the
// aliases exist (creating the first index on an empty cluster).
func (e *elasticFlags) open(ctx context.Context, aliases query.Aliases, log *slog.Logger) (*elastic.Backend, query.Stats, error) {
	cfg := e.config(aliases)
	start := time.Now()
	b, err := elastic.Open(ctx, cfg)
	if err != nil {
		return nil, query.Stats{}, err
	}
	st, err := b.Stats(ctx)
	if err != nil {
		b.Close()
		return nil, st, err
	}
	log.Info("index open", "backend", backendElasticsearch, "urls", cfg.URLs, "alias", cfg.ReadAlias(),
		"documents", st.Documents, "took", time.Since(start).Round(time.Millisecond))
	return b, st, nil
}
