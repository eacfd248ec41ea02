// Package testredis gives tests a key prefix of their own on the shared
// Redis (127.0.0.1:6379 on every machine, or $RUMMAGE_REDIS_URL), and
// deletes its keys afterwards: never a FLUSHDB or FLUSHALL, since other
// tests and engineers share the instance.
//
// Tests that need Redis skip with a clear message when it cannot be
// reached, except under CI=true, where they fail (internal/testpg's rule).
// Start runs a private redis-server instead, for a test that must restart
// (empty) the Redis under a running store.
//
// It is test plumbing only and imports no Rummage package but testpg and
// testkit.
package testredis
