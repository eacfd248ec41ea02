// Package keys owns Rummage's API keys: their kinds, how a key is made
// (256 random bits, shown once) and stored (only its SHA-256, with a name, a
// kind, the creation and revocation times and a short non-secret id), the
// signed user tokens a marketplace's backend gives browsers, and Ring, the
// in-memory cache of every key that the request path consults.
//
// Stores: MemStore (tests), FileStore (one JSON file, 0600, replaced
// atomically: serve without a database) and keys/pgkeys (the table
// rummage.api_keys, Rummage's own schema, never in the CDC publication).
//
// Which route needs which kind is not decided here: that table lives in
// package api (access.go). This package must not import api, query,
// indexer or cmd; docs/keys.md describes the formats.
package keys
