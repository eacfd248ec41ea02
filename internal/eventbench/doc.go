// Package eventbench measures the event path end to end (rummage bench
// events): clients POST batches of events over loopback HTTP to the API,
// which validates them, pseudonymizes the users and writes each request
// to the events topic of an in-process Kafka broker (kfake, its log on
// disk) with acks=all before its 202; first against a sink that discards
// (the API's own cost, the baseline), then into Kafka. With a database, the
// rollup consumer then runs beside a paced load and its lag is measured.
package eventbench
