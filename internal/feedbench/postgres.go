package feedbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rummage/rummage/fixtures"
	"github.com/rummage/rummage/internal/benchkit"
)

// PostgresLoad is how the data set went into Postgres.
type PostgresLoad struct {
	Rows       map[string]int64 `json:"rows"`
	TotalRows  int64            `json:"total_rows"`
	Seconds    float64          `json:"copy_seconds"`
	RowsPerSec float64          `json:"rows_per_second"`
	// IndexSeconds is the time to create the baselines' indexes and
	// analyze the tables after the COPY.
	IndexSeconds float64    `json:"index_seconds"`
	Indexes      []string   `json:"indexes"`
	LoadAvg      [3]float64 `json:"load_avg"`
	Reused       bool       `json:"reused"`
}

// baselineIndexes are the indexes a team would add for the feeds in SQL
// (the migrations have the primary keys, listings(seller_id) and
// shares(listing_id)): a party's shares by time, a closet's shares by
// time, a closet's listings by time, the newest listings, recent likes
// and shares for trending. follows(follower_id) and blocks(user_id) are
// the primary keys' prefixes.
var baselineIndexes = []string{
	"CREATE INDEX IF NOT EXISTS shares_party_created ON shares (party_id, created_at) INCLUDE (listing_id)",
	"CREATE INDEX IF NOT EXISTS shares_user_created ON shares (user_id, created_at) INCLUDE (listing_id)",
	"CREATE INDEX IF NOT EXISTS shares_created ON shares (created_at) INCLUDE (listing_id, user_id)",
	"CREATE INDEX IF NOT EXISTS likes_created ON likes (created_at) INCLUDE (listing_id, user_id)",
	"CREATE INDEX IF NOT EXISTS likes_user_created ON likes (user_id, created_at)",
	"CREATE INDEX IF NOT EXISTS listings_seller_created ON listings (seller_id, created_at)",
	"CREATE INDEX IF NOT EXISTS listings_listed ON listings ((greatest(created_at, coalesce(available_at, created_at))) DESC, id)",
}

// markerTable records, in the scratch database, which data set it holds.
const markerTable = "feedbench_dataset"

type pgMarker struct {
	Dataset dataset      `json:"dataset"`
	Load    PostgresLoad `json:"load"`
}

type postgres struct {
	pool *pgxpool.Pool
	load *PostgresLoad
}

func (p *postgres) close() { p.pool.Close() }

// preparePostgres makes sure DatabaseURL holds the data set with the
// baselines' indexes, loading it when it does not.
func preparePostgres(ctx context.Context, c *Config) (*postgres, error) {
	if _, err := fixtures.CreateDatabase(ctx, c.DatabaseURL); err != nil {
		return nil, fmt.Errorf("feedbench: %w", err)
	}
	m, empty, err := readPgMarker(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	switch {
	case m != nil && m.Dataset == c.dataset() && !c.Reload:
		m.Load.Reused = true
		c.logf("postgres: reusing the data set in the database (%d rows)", m.Load.TotalRows)
		return connect(ctx, c, &m.Load)
	case m == nil && !empty:
		return nil, fmt.Errorf("feedbench: the database of --database-url holds tables this bench did not load; give it a scratch database")
	case m != nil || !empty:
		c.logf("postgres: the database holds another data set; recreating it")
		if err := recreateDatabase(ctx, c.DatabaseURL); err != nil {
			return nil, err
		}
	}
	if err := fixtures.Migrate(ctx, c.DatabaseURL); err != nil {
		return nil, fmt.Errorf("feedbench: migrate: %w", err)
	}
	// The marker table first, so that an interrupted load is known to be
	// this bench's; its row once the load is complete.
	if err := execOnce(ctx, c.DatabaseURL, "CREATE TABLE "+markerTable+" (marker jsonb NOT NULL)"); err != nil {
		return nil, err
	}
	g, err := fixtures.NewGenerator(c.options())
	if err != nil {
		return nil, err
	}
	c.logf("postgres: COPY of %d listings with their social graph", c.Listings)
	last := map[string]time.Time{}
	start := time.Now()
	rows, err := fixtures.Seed(ctx, c.DatabaseURL, g, 2, func(table string, n int64) {
		if time.Since(last[table]) > 10*time.Second {
			last[table] = time.Now()
			c.logf("postgres: %s: %d rows", table, n)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("feedbench: %w", err)
	}
	took := time.Since(start)
	load := &PostgresLoad{Rows: rows, TotalRows: rows.Total(), Seconds: took.Seconds(), RowsPerSec: float64(rows.Total()) / took.Seconds()}
	c.logf("postgres: %d rows in %s, %.0f rows/s; creating the baselines' indexes", load.TotalRows, took.Round(time.Second), load.RowsPerSec)
	conn, err := pgx.Connect(ctx, c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("feedbench: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	start = time.Now()
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '512MB'"); err != nil {
		return nil, fmt.Errorf("feedbench: %w", err)
	}
	for _, ddl := range append(baselineIndexes, "ANALYZE") {
		if _, err := conn.Exec(ctx, ddl); err != nil {
			return nil, fmt.Errorf("feedbench: %s: %w", ddl, err)
		}
	}
	load.IndexSeconds, load.Indexes, load.LoadAvg = time.Since(start).Seconds(), baselineIndexes, benchkit.LoadAvg()
	c.logf("postgres: indexes and ANALYZE in %s", time.Since(start).Round(time.Second))
	b, err := json.Marshal(pgMarker{Dataset: c.dataset(), Load: *load})
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+markerTable+" VALUES ($1)", b); err != nil {
		return nil, fmt.Errorf("feedbench: %w", err)
	}
	return connect(ctx, c, load)
}

func connect(ctx context.Context, c *Config, load *PostgresLoad) (*postgres, error) {
	pool, err := pgxpool.New(ctx, c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("feedbench: connect: %w", err)
	}
	return &postgres{pool: pool, load: load}, nil
}

// readPgMarker reads the marker of the database, and whether it holds no
// listings table at all.
func readPgMarker(ctx context.Context, url string) (*pgMarker, bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, false, fmt.Errorf("feedbench: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var hasMarker, hasListings bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL, to_regclass('listings') IS NOT NULL", markerTable).Scan(&hasMarker, &hasListings); err != nil {
		return nil, false, fmt.Errorf("feedbench: %w", err)
	}
	if !hasMarker {
		empty := !hasListings
		if hasListings {
			if err := conn.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM listings) AND NOT EXISTS (SELECT 1 FROM sellers)").Scan(&empty); err != nil {
				return nil, false, fmt.Errorf("feedbench: %w", err)
			}
		}
		return nil, empty, nil
	}
	var m pgMarker
	err = conn.QueryRow(ctx, "SELECT marker FROM "+markerTable+" LIMIT 1").Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return &pgMarker{}, false, nil // an interrupted load: ours, to reload
	}
	if err != nil {
		return nil, false, fmt.Errorf("feedbench: read the marker: %w", err)
	}
	return &m, false, nil
}

// recreateDatabase drops and creates the database of url (one this bench
// loaded).
func recreateDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("feedbench: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("feedbench: drop the database: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("feedbench: create the database: %w", err)
	}
	return nil
}

func execOnce(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("feedbench: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("feedbench: %w", err)
	}
	return nil
}
