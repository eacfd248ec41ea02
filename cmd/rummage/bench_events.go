package main

import (
	"context"
	"io"

	"github.com/rummage/rummage/internal/eventbench"
)

const benchEventsHelp = `Measures event ingest end to end: --clients HTTP clients POST batches of
--batch events to /v1/events on loopback for --duration, first into a sink
that discards (the API's own cost: parsing, validation, pseudonymization),
then into the events topic of an in-process Kafka broker (kfake, its log on
disk) with acks=all before each 202. Printed: events/s, CPU-µs per event
(the whole process: server and load generator share it) and request
latency, and the Kafka/discard ratio. With --database-url the rollup
consumer then catches up and runs beside a load paced at --lag-rate
events/s: the lag from an event to its rollup commit (p50/p99/max).`

func benchEventsMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench events", "[flags]", benchEventsHelp)
	fs.SetOutput(stderr)
	var c eventbench.Config
	fs.IntVar(&c.Batch, "batch", 50, "events per request")
	fs.IntVar(&c.Clients, "clients", 32, "concurrent HTTP clients")
	fs.DurationVar(&c.Duration, "duration", 10e9, "how long each scenario runs")
	fs.IntVar(&c.Partitions, "partitions", 8, "partitions of the events topic")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "Postgres `URL` for the rollup lag (migrated; empty: not measured)")
	fs.IntVar(&c.LagRate, "lag-rate", 5000, "offered events/s while the rollup lag is measured")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return usageErrorf(stderr, "bench events")("%v", err)
	}
	c.Log = stderr
	res, err := eventbench.Run(ctx, c)
	if err != nil {
		return err
	}
	return writeResult(stdout, *asJSON, res, res.WriteText)
}
