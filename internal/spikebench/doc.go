// Package spikebench is rummage bench spike: it serves one catalog (the
// embedded backend, a seeded catalog and a live party in the memory
// signals store) with the serving protections on (response cache,
// coalescing, adaptive admission) and off, one after the other in one run,
// and offers each the party-start mix (package loadgen): first a capacity
// search (the highest offered rate with admitted p99 within the limit and
// nothing shed), then twice the protected capacity, with a separate
// /healthz prober. The service runs as a child process ("rummage serve")
// so that it and the load can be pinned to cores of their own (taskset);
// both CPU totals are reported.
package spikebench
