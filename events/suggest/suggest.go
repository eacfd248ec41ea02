// Package suggest proposes brand aliases from the queries that found
// nothing: a frequent zero-result query close to a real brand — by edit
// distance, by its tokens (a prefix of the brand, its initials) or by how
// it sounds — is likely shorthand or a misspelling of it ("lulu",
// "tnf", "addidas"). It only proposes: rummage aliases suggest prints
// alias<TAB>brand lines for a person to accept into the alias file.
package suggest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/agnivade/levenshtein"
)

// Query is a zero-result query and how often it answered nothing.
type Query struct {
	Text  string
	Count int64
}

// Suggestion is one candidate alias.
type Suggestion struct {
	Alias, Brand string
	Count        int64   // zero-result searches of the alias
	Score        float64 // 0..1, higher is closer
	Why          string  // the evidence: "edit distance 1", "prefix", "initials", "sounds alike"
}

// MinScore is the least score Suggest proposes.
const MinScore = 0.6

// compact is s lower case with only its letters and digits.
func compact(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// initials are the first letters of the brand's words ("The North Face"
// → "tnf").
func initials(brand string) string {
	var b strings.Builder
	for _, t := range tokens(brand) {
		b.WriteString(t[:1])
	}
	return b.String()
}

// soundex is the American Soundex code of a compact word (letter and
// three digits), the phonetic key.
func soundex(s string) string {
	codes := map[rune]byte{}
	for i, group := range []string{"bfpv", "cgjkqsxz", "dt", "l", "mn", "r"} {
		for _, r := range group {
			codes[r] = byte('1' + i)
		}
	}
	var out []byte
	var last byte
	for i, r := range s {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) {
			continue
		}
		c := codes[r]
		if len(out) == 0 && i >= 0 {
			out = append(out, byte(unicode.ToUpper(r)))
			last = c
			continue
		}
		if c != 0 && c != last {
			out = append(out, c)
		}
		if r != 'h' && r != 'w' {
			last = c
		}
		if len(out) == 4 {
			break
		}
	}
	for len(out) > 0 && len(out) < 4 {
		out = append(out, '0')
	}
	return string(out)
}

type brand struct {
	name, compact, initials, soundex string
	tokens                           []string
}

// score says how close query q (compact form qc) is to brand b, and why.
func score(q, qc string, b *brand) (float64, string) {
	best, why := 0.0, ""
	take := func(s float64, w string) {
		if s > best {
			best, why = s, w
		}
	}
	if len(qc) < 2 || qc == b.compact {
		return 0, ""
	}
	// Edit distance on the compact forms, allowed to grow with length.
	d := levenshtein.ComputeDistance(qc, b.compact)
	allowed := 1
	switch n := max(len(qc), len(b.compact)); {
	case n > 10:
		allowed = 3
	case n > 5:
		allowed = 2
	}
	if d <= allowed {
		take(1-float64(d)/float64(max(len(qc), len(b.compact)))*0.8, fmt.Sprintf("edit distance %d", d))
	}
	// Tokens: the query a prefix of the brand (or of one of its words) of
	// at least 3 letters, or the brand's initials.
	if len(qc) >= 3 && len(qc) < len(b.compact) && strings.HasPrefix(b.compact, qc) {
		take(0.6+0.3*float64(len(qc))/float64(len(b.compact)), "prefix")
	}
	for _, t := range b.tokens {
		if len(qc) >= 4 && t == qc && len(b.tokens) > 1 {
			take(0.65, "a word of the brand")
		}
	}
	if len(qc) >= 2 && len(b.initials) >= 2 && qc == b.initials && len(strings.Fields(q)) == 1 {
		take(0.75, "initials")
	}
	// Sound: the same Soundex code and close in length.
	if len(qc) >= 4 && soundex(qc) == b.soundex && abs(len(qc)-len(b.compact)) <= 2 {
		take(0.7, "sounds alike")
	}
	return best, why
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Suggest proposes, for each query of zero that is not an alias yet (nor
// a brand), the closest brand of brands at MinScore or more; best first
// by count, then score. existing holds the alias file's aliases
// (normalized) and may be nil.
func Suggest(zero []Query, brands []string, existing map[string]string) []Suggestion {
	bs := make([]brand, 0, len(brands))
	isBrand := map[string]bool{}
	for _, name := range brands {
		c := compact(name)
		if c == "" {
			continue
		}
		isBrand[c] = true
		bs = append(bs, brand{name: name, compact: c, initials: initials(name), soundex: soundex(c), tokens: tokens(name)})
	}
	var out []Suggestion
	for _, q := range zero {
		text := strings.Join(strings.Fields(strings.ToLower(q.Text)), " ")
		qc := compact(text)
		if _, ok := existing[text]; ok || isBrand[qc] || qc == "" {
			continue
		}
		var best Suggestion
		for i := range bs {
			s, why := score(text, qc, &bs[i])
			if s > best.Score || (s == best.Score && s > 0 && bs[i].name < best.Brand) {
				best = Suggestion{Alias: text, Brand: bs[i].name, Count: q.Count, Score: s, Why: why}
			}
		}
		if best.Score >= MinScore {
			out = append(out, best)
		}
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(b.Score, a.Score), strings.Compare(a.Alias, b.Alias))
	})
	return out
}
