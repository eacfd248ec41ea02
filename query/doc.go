// Package query owns the search request and result model of the v1 contract
// (filters, facets, sorts, cursors), the Backend interface that every index
// implementation satisfies, and its validation rules. Implementations live in
// sub-packages, one per external system: query/embedded (Bleve plus in-memory
// columns) and query/elastic (Elasticsearch 8). query/conformance is the shared
// suite every backend must pass.
//
// It must not import api, indexer or cmd.
package query
