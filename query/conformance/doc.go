// Package conformance is the data-driven suite every query.Backend must pass:
// the same documents, requests and expected results for the embedded index
// and for Elasticsearch. It owns its test data (testdata/, embedded in the
// package so that any backend's tests can run it from anywhere):
//
//   - listings.jsonl: the documents, loaded with Apply at version 1;
//   - cases.json: search requests with the expected ordered ids or id set,
//     total, facet counts, and whole cursor walks. The names, requests and
//     first_in are written by hand; the expectations are the answers of
//     query/reference, the brute-force oracle, and are rewritten from it by
//     `go test ./query/reference -update` (UpdateCases), which also fails
//     while the file and the oracle disagree;
//   - scenarios.json: write sequences (versioned upserts and deletes, stale
//     writes, status and drop changes) interleaved with gets and searches.
//
// Relevance order is engine-specific, so text cases assert the id set and,
// where the ranking matters to users, the first hit.
//
// It imports only the root package, query and ranking (the relevance blend
// the search surface runs as its first phase): never a backend.
package conformance
