package rummage

// Tables returns the marketplace's tables Rummage follows (created by
// fixtures/migrations): the CDC publishes them, and the indexer and every
// --tables flag default to them. ListingsTable holds the index documents.
func Tables() []string {
	return []string{ListingsTable, "sellers", "follows", "likes", "shares", "parties", "blocks"}
}

// ListingsTable is the table whose rows are listings.
const ListingsTable = "listings"
