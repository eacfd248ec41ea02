// Package metric builds the Prometheus collectors of Rummage's roles: one
// constructor per kind, each named rummage_<subsystem>_<name>, all kept in a
// Set that registers them together. A role declares each of its metrics once,
// in one line, instead of spelling the options and then listing the collectors
// again for registration.
//
// It is plumbing: it imports only the Prometheus client, and nothing of
// Rummage.
package metric
