package query

// TypoEdits is the number of edits (insertions, deletions, substitutions)
// by which a query word of n runes may miss a listing's word and still
// match it: none below 4 runes, one up to 7, two from 8. It is the typo
// rule of the text contract: the embedded backend walks its term
// dictionaries with it, Elasticsearch spells it "AUTO:4,8", and
// query/reference checks both against it.
func TypoEdits(n int) int {
	switch {
	case n < 4:
		return 0
	case n <= 7:
		return 1
	}
	return 2
}
