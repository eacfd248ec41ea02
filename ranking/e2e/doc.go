// Package e2e holds ranking's end-to-end regression tests: about thirty
// shopper queries over a fixed catalog, run through the search surface a
// shopper gets (feed.Search over the embedded backend, relevance sort, a
// fixed instant), each with a readable golden file of its top 10 and a
// committed summary of recall@1, recall@5, MRR and NDCG@10
// (testdata/rank_stats.txt), the way zoekt's internal/e2e rank tests pin
// code-search quality. Relevance is judged by explicit rules over listing
// fields (testdata/rank_queries.txt), never by a list of expected ids, so a
// judgment reads as what a shopper meant and survives catalog changes.
//
// Why here and not in ranking: ranking is pure (no I/O, no backend), and
// so are its unit tests, which run in milliseconds. These tests need a real
// backend, the fixtures generator and the feed surface, and feed imports
// ranking: inside package ranking they would be an import cycle, and as an
// external ranking_test package they would link Bleve and the catalog into
// ranking's own test binary, next to code that must never import them. A
// sibling package under ranking/ keeps the quality record next to the
// weights it measures (DESIGN.md: "ranking/ … golden rank tests") without
// giving ranking, or its tests, an import it must not have. It is not under
// internal/, which holds plumbing only.
//
// The package has no non-test code; nothing may import it.
//
// Refresh the golden files with
//
//	go test ./ranking/e2e -update
//
// A change that lowers a mean figure fails even with -update; add
// -accept-drop to pin the lower figure when the trade-off is deliberate
// (say why in the commit).
package e2e
