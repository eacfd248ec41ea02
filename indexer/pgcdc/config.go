package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
)

// Sink receives change events. Write returns nil only when every event of the
// batch is durably stored downstream (for Kafka: acknowledged by all in-sync
// replicas); the CDC confirms a transaction to Postgres only after that. An
// error means "nothing of this batch is known to be stored": the CDC
// reconnects and sends the events again (so a sink sees duplicates after
// failures, never gaps). Events of one key must be stored in the order given.
// Write must not keep the slice after it returns.
type Sink interface {
	Write(ctx context.Context, events []change.Event) error
}

// Hooks are fault-injection points for tests (crash-safety); nil hooks are
// skipped. An error returned by a hook ends Run with that error at once, as a
// crash would: nothing after the hook point happens.
type Hooks struct {
	// AfterAck runs after the sink acknowledged a batch and before the
	// confirmed LSN of its transactions (the end LSN of the last complete
	// one) is stored and sent to Postgres.
	AfterAck func(commitLSN uint64) error
}

// Defaults of Config, named for the flags of cmd/rummage.
const (
	DefaultSlot        = "rummage"
	DefaultPublication = "rummage"
	// DefaultLinger is short: a change waits at most this long for company
	// before it goes to Kafka (docs/pipeline.md measures at it).
	DefaultLinger = 5 * time.Millisecond
)

// Config configures a CDC. Zero fields take the defaults noted.
type Config struct {
	// DatabaseURL is a libpq URL or keyword string of the source database.
	DatabaseURL string
	// Slot is the logical replication slot (default DefaultSlot).
	Slot string
	// Publication is the publication for Tables (default DefaultPublication).
	Publication string
	// Tables to replicate, "table" (schema public) or "schema.table"
	// (default rummage.Tables()).
	Tables []string
	// TopicPrefix becomes source.name in every event (default
	// change.DefaultTopicPrefix).
	TopicPrefix string
	// StateTable keeps the CDC's own confirmed LSN (default StateTable,
	// created if absent).
	StateTable string

	// MaxBatch is the most events handed to the sink in one Write (default 2000).
	MaxBatch int
	// Linger is how long events wait for more before they are written
	// (default DefaultLinger); the stream is also flushed whenever it goes
	// quiet. While writes take longer, a batch waits as long as the last
	// write took (at most 100 ms), so that the stream keeps up.
	Linger time.Duration
	// StatusInterval is the period of standby status updates (default 5s).
	StatusInterval time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay (default 200ms, 15s).
	MinBackoff, MaxBackoff time.Duration

	Logger *slog.Logger
	Hooks  Hooks
}

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Slot == "" {
		cfg.Slot = DefaultSlot
	}
	if cfg.Publication == "" {
		cfg.Publication = DefaultPublication
	}
	if len(cfg.Tables) == 0 {
		cfg.Tables = rummage.Tables()
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = change.DefaultTopicPrefix
	}
	if cfg.StateTable == "" {
		cfg.StateTable = StateTable
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports what is wrong with cfg (after defaults).
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	var errs []error
	if cfg.DatabaseURL == "" {
		errs = append(errs, errors.New("database URL is required"))
	}
	if !identRE.MatchString(cfg.Slot) {
		errs = append(errs, fmt.Errorf("slot %q: use lower-case letters, digits and _", cfg.Slot))
	}
	if !identRE.MatchString(cfg.Publication) {
		errs = append(errs, fmt.Errorf("publication %q: use lower-case letters, digits and _", cfg.Publication))
	}
	if !identRE.MatchString(cfg.StateTable) {
		errs = append(errs, fmt.Errorf("state table %q: use lower-case letters, digits and _", cfg.StateTable))
	}
	for _, t := range cfg.Tables {
		if _, _, err := splitTable(t); err != nil {
			errs = append(errs, err)
		}
	}
	if strings.ContainsAny(cfg.TopicPrefix, " /\\,:") {
		errs = append(errs, fmt.Errorf("topic prefix %q: not a valid Kafka topic name part", cfg.TopicPrefix))
	}
	if cfg.MinBackoff > cfg.MaxBackoff {
		errs = append(errs, fmt.Errorf("min backoff %v > max backoff %v", cfg.MinBackoff, cfg.MaxBackoff))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pgcdc: config: %w", errors.Join(errs...))
	}
	return nil
}

// splitTable splits "schema.table" (schema defaults to public).
func splitTable(s string) (schema, table string, err error) {
	schema, table = "public", s
	if i := strings.IndexByte(s, '.'); i >= 0 {
		schema, table = s[:i], s[i+1:]
	}
	if !identRE.MatchString(schema) || !identRE.MatchString(table) {
		return "", "", fmt.Errorf("table %q: want table or schema.table in lower-case letters, digits and _", s)
	}
	return schema, table, nil
}
