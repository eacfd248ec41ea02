package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/rummage/rummage"
	"github.com/rummage/rummage/indexer/change"
	"github.com/rummage/rummage/indexer/kafkabus"
	"github.com/rummage/rummage/indexer/pgcdc"
)

const cdcHelp = `Stream every change of Rummage's tables from Postgres logical replication
(pgoutput) to Kafka, one topic per table: <prefix>.<schema>.<table>, keyed by
the primary key, in a Debezium-compatible JSON envelope.

On first start it creates the publication and the replication slot if they are
absent, copies every table at the slot's consistent point (op "r"), then
streams inserts, updates, deletes and truncates. A transaction is confirmed to
the slot only after Kafka acknowledged all its events (acks=all); the confirmed
LSN is also kept in the table rummage_cdc_state, so a restart resumes where it
stopped and never skips anything (it may send a transaction twice; the indexer
drops duplicates by version). It reconnects with backoff when Postgres or
Kafka goes away.

Postgres needs wal_level=logical, and the tables must exist: run
"rummage migrate" first. Metrics (rummage_cdc_*) are served on --metrics-addr
at /metrics.`

func runCDC(ctx context.Context, args []string) error {
	fs := newFlags("cdc", "[flags]", cdcHelp)
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` of the source database (default $DATABASE_URL)")
	brokers := fs.String("brokers", defaultBrokers, "Kafka bootstrap brokers, comma-separated `host:port` list")
	prefix := fs.String("topic-prefix", change.DefaultTopicPrefix, "topic `prefix`: topics are <prefix>.<schema>.<table>")
	slot := fs.String("slot", pgcdc.DefaultSlot, "logical replication slot `name` (created if absent)")
	publication := fs.String("publication", pgcdc.DefaultPublication, "publication `name` (created if absent; missing tables are added)")
	tables := fs.String("tables", strings.Join(rummage.Tables(), ","), "tables to stream, comma-separated, as table (schema public) or schema.table")
	partitions := fs.Int("partitions", kafkabus.DefaultPartitions, "partitions of the topics created when they are missing")
	compression := fs.String("compression", "snappy", "Kafka compression: snappy, lz4, zstd, gzip or none")
	metricsAddr := fs.String("metrics-addr", defaultCDCMetricsAddr, "serve Prometheus metrics at http://`addr`/metrics; empty disables")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := requireDatabaseURL(fs, *dbURL); err != nil {
		return err
	}
	tableList := splitCSVFlag(*tables)
	log := slog.Default()
	wcfg := kafkabus.WriterConfig{Brokers: splitCSVFlag(*brokers), TopicPrefix: *prefix, Partitions: *partitions,
		Compression: *compression, Logger: log}
	ccfg := pgcdc.Config{DatabaseURL: *dbURL, Slot: *slot, Publication: *publication, Tables: tableList,
		TopicPrefix: *prefix, Logger: log}
	if err := errors.Join(wcfg.Validate(), ccfg.Validate()); err != nil {
		fmt.Fprintln(fs.Output(), err)
		return errUsage
	}

	reg := newRegistry()
	w, err := kafkabus.NewWriter(wcfg)
	if err != nil {
		return err
	}
	defer w.Close()
	cdc, err := pgcdc.New(ccfg, w, pgcdc.NewMetrics(reg))
	if err != nil {
		return err
	}
	if err := cdc.Check(ctx); err != nil {
		return explainCDC(err)
	}
	// Create the topics up front with the chosen partition count, so the
	// indexer can join its group before the first event.
	if err := w.EnsureTopics(ctx, kafkabus.TableTopics(*prefix, tableList)...); err != nil {
		return fmt.Errorf("%w (is Kafka reachable at %s?)", err, *brokers)
	}
	stop, err := startAdmin(*metricsAddr, reg, nil, nil, log)
	if err != nil {
		return err
	}
	defer stop()
	log.Info("cdc running", "slot", *slot, "publication", *publication, "tables", tableList, "brokers", *brokers,
		"topics", kafkabus.TableTopics(*prefix, tableList))
	return explainCDC(cdc.Run(ctx))
}

// explainCDC adds what to do to the errors an operator can fix.
func explainCDC(err error) error {
	switch {
	case errors.Is(err, pgcdc.ErrMissingTables):
		return fmt.Errorf("%w\nthe schema is not there yet: run \"rummage migrate --database-url URL\" first", err)
	case errors.Is(err, pgcdc.ErrNotLogical):
		return fmt.Errorf("%w\nlogical replication needs wal_level=logical (see README, running the pipeline locally)", err)
	}
	return err
}
