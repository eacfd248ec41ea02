// Package promscrape turns an http.Handler that serves Prometheus metrics
// into a prometheus.Gatherer, so that one /metrics endpoint can serve the
// metrics of a component that keeps its registry private (the api server)
// together with those of other registries, in one exposition.
//
// It is plumbing for cmd/rummage only and imports no Rummage package.
package promscrape
