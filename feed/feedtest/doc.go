// Package feedtest is the feed conformance suite: data-driven cases
// (testdata/feeds.json) over a small catalog with its social graph — live,
// ended, upcoming and edited parties, follows, blocks, suspensions, likes,
// shares and a drop — each a request to a surface of package feed and what
// it must answer. Every signals store runs it (Run), so the surfaces answer
// alike on the embedded and the Redis store. It imports feed, signals and
// query/embedded; nothing imports it but tests.
package feedtest
