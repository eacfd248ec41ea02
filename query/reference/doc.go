// Package reference is the oracle of the retrieval contract: a brute-force
// query.Backend over a map of listings that answers every retrieval by a
// linear scan, written from the contract (query/retrieval.go, query/model.go,
// DESIGN.md's search semantics) rather than for speed. The conformance
// expectations (query/conformance/testdata/cases.json) are regenerated from
// it with `go test ./query/reference -update`, and a randomized versus test
// compares it with the embedded backend.
//
// What it defines, rule by rule (Engine.Retrieve):
//
//   - Visible at Now: status available, and available_at absent or not after
//     Now, compared in Unix milliseconds (the resolution of Signals and
//     Position keys).
//   - Restriction: (seller ∈ Sellers) ∪ (id ∈ IDs) when Include is set, minus
//     the listings of ExcludeSellers; ids and sellers match exactly.
//   - Filters: OR within a field, AND across fields; brand, size, color,
//     condition and category values equal the listing's when both are
//     lower-cased; a category path matches its node and every node below;
//     price_min and price_max are inclusive.
//   - Text: see text.go. The matching set follows the embedded backend's
//     definition exactly; the text score is this package's own.
//   - Orders: newest by listed_at (max(created_at, available_at)) desc,
//     price asc/desc, recently_shared by last_shared_at desc with the
//     never-shared last; ties by id asc. Relevance with text orders by the
//     first-phase Scorer over this package's text score, then id; without
//     text it is newest. After starts strictly after a Position.
//   - Facets: each counted over the visible, restricted, text-matching
//     listings that pass every filter but the facet's own.
//
// Relevance order is engine-specific (query/conformance compares relevance
// results as sets): the text score here is, per query word, the heaviest
// field weight it matched (brand 4, title 3, tags 2, description 1; a typo
// of d edits in brand or title counts 1/(1+d) of the field's weight) times
// the word's idf, plus 6 × idf for an alias run whose brand the listing has,
// plus 3 × idf for a word that names the listing's category leaf; idf is
// 1 + ln((N+1)/(df+1)) with N the held documents and df those the word (or
// alias) matches, any status.
//
// It must not import query/embedded or query/elastic: it is what they are
// checked against, not a copy of them.
package reference
