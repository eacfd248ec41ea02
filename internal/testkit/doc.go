// Package testkit holds the small helpers that tests of several packages
// need alike: a buffer a running server may log into while the test reads
// it, polling until a condition holds, a loop run in the background until
// the test stops it, a free loopback port, one request through a handler,
// and the table test of a configuration's Validate. Helpers that need
// Postgres live in internal/testpg.
//
// Only tests import it. It imports the standard library only, never a
// Rummage package, so that any package's tests can use it.
package testkit
